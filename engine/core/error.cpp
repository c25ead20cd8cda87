#include "engine/core/error.h"

namespace focalscope {

void fail(const std::string& where, const std::string& what) {
  throw Error(where.empty() ? what : where + ": " + what);
}

}  // namespace focalscope
