// Reader for map-statistics case files in the /work/shared/fixtures/morans_i/cases.json format:
//   {"cases": [{"name": "...", "shape": [H, W], "values": [H*W numbers, row-major],
//               "morans_i": ..., "morans_i_row_standardised": ..., "std_minmax": ...}, ...]}
// The three expected numbers are optional (a file of maps to evaluate need not carry them).
// A shape [F, H, W] is also accepted: F frames, statistics averaged over frames (Eq. 4/5).
// Used by `focalscope stats` and by the tests, so both read cases the same way.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/map_stats.h"

namespace focalscope::analysis {

struct StatsCase {
  std::string name;
  std::vector<std::int64_t> shape;  // [H, W] or [F, H, W]
  std::vector<double> values;
  std::optional<MapStats> expected;  // when the file gives all three numbers
};

// Errors are one line naming the file and, where it applies, the case ("FILE: case 'x' (#3): ...").
std::vector<StatsCase> read_stats_cases(const std::string& path);

// Statistics of one case: map_stats for [H, W], frame_mean_stats for [F, H, W].
MapStats compute_case(const StatsCase& c);

}  // namespace focalscope::analysis
