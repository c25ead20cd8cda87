#include "engine/core/error.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace focalscope {

void fail(const std::string& where, const std::string& what) {
  throw Error(where.empty() ? what : where + ": " + what);
}

std::string describe_allocation_failure(const std::string& what) {
  if (auto p = what.find("you tried to allocate "); p != std::string::npos && what.find("can't allocate memory") != std::string::npos) {
    const double bytes = std::strtod(what.c_str() + p + 22, nullptr);
    char b[96];
    std::snprintf(b, sizeof b, "out of memory: a tensor of %.2f GB could not be allocated on the CPU", bytes / 1e9);
    return b + std::string(" (the sizes asked for need more memory than there is: lower --frames / --height / --width / "
                           "--max-area; docs/robustness.md)");
  }
  if (auto p = what.find("out of memory. Tried to allocate "); p != std::string::npos) {
    const std::size_t from = p + 33, to = std::min(what.find(" (", from), what.find('\n', from));
    const std::string size = what.substr(from, std::min<std::size_t>(to == std::string::npos ? 24 : to - from, 24));  // "2.00 GiB"
    return "out of device memory: a tensor of " + size + " could not be allocated on the GPU (lower --frames / --height / "
           "--width / --max-area, or keep quantised weights with --keep-quantised)";
  }
  return "";
}

}  // namespace focalscope
