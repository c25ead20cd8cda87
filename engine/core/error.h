// One exception type for every user-facing failure. The message is a single line that
// names the file (or input) and the problem, e.g.
//   "weights/dit.safetensors: tensor 'blocks.3.ffn.0.weight' has shape [128,96], expected [256,96]".
#pragma once
#include <stdexcept>
#include <string>

namespace focalscope {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Formats "<where>: <what>" and throws Error.
[[noreturn]] void fail(const std::string& where, const std::string& what);

}  // namespace focalscope
