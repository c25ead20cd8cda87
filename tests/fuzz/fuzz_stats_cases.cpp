// libFuzzer: the JSON case-file reader of `focalscope stats` (analysis/stats_cases.cpp) and the statistics it computes
// on whatever it accepts (shapes are checked against the values actually present).
#include <cstddef>
#include <cstdint>

#include "analysis/stats_cases.h"
#include "engine/core/error.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = focalscope::fuzz::write_input(".json", data, size);
  try {
    for (const auto& c : focalscope::analysis::read_stats_cases(path)) (void)focalscope::analysis::compute_case(c);
  } catch (const focalscope::Error&) {
  }
  return 0;
}
