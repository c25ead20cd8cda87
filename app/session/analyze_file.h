// A `focalscope analyze` result (DIR/metrics.json, format "focalscope.analyze/1", app/cli/analyze_report.cpp) as plain
// data, for the layer-curves panel's comparison overlay: another model's (or another run's) per-layer Moran's I and
// std over many samples, with the 95% interval analyze reports — e.g. the embedded MMDiT's curves over the Wan toy's
// live run, on one chart (docs/architectures.md). Strict about what the overlay draws, lenient about the rest.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace focalscope::session {

struct AnalyzeLayer {
  int layer = 0;
  double moran = NAN, moran_lo = NAN, moran_hi = NAN;  // moran_i.mean and its median_ci95 (NaN when absent)
  double std_dev = NAN;                                // std.mean
  bool weak = false;
};

struct AnalyzeCurves {
  std::string path;        // the file it was read from
  std::string model_name;  // model.variant ("" when absent)
  int samples = 0;         // samples_done
  std::vector<int> weak_layers;
  std::vector<AnalyzeLayer> layers;  // sorted by layer, unique, 0..n-1 without gaps
  int num_layers() const { return static_cast<int>(layers.size()); }
};

// Reads `path` (a metrics.json, or a folder holding one). Throws Error with one line naming the file: missing or
// unreadable, not JSON, a format other than focalscope.analyze/1, missing or mistyped layer fields, layers with gaps.
AnalyzeCurves load_analyze_curves(const std::string& path);
AnalyzeCurves parse_analyze_curves(const nlohmann::json& j, const std::string& where);

}  // namespace focalscope::session
