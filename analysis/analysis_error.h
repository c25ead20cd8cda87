// Failure helper for analysis/. analysis must not link engine_core (which drags in torch), so
// instead of focalscope::fail() (defined in engine/core/error.cpp) it throws the header-defined
// focalscope::Error directly, with the same one-line "<where>: <what>" format.
#pragma once
#include <string>

#include "engine/core/error.h"

namespace focalscope::analysis {

[[noreturn]] inline void raise(const std::string& where, const std::string& what) {
  throw Error(where + ": " + what);
}

}  // namespace focalscope::analysis
