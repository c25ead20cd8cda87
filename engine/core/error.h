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

// libtorch's allocation failures are input problems (sizes that need more memory than there is), not internal
// errors: this turns one into a line without the library's backtrace — CPU "DefaultCPUAllocator: can't allocate
// memory: you tried to allocate N bytes" -> "out of memory: a tensor of N GB could not be allocated on the CPU (...)",
// CUDA "CUDA out of memory. Tried to allocate 2.00 GiB (...)" -> "out of device memory: ...". "" for other messages.
std::string describe_allocation_failure(const std::string& library_message);

}  // namespace focalscope
