// A `focalscope ablate` result (DIR/ablate.json, format "focalscope.ablate/1", written by app/cli/cmd_ablate.cpp
// from analysis/causal_ablation.cpp's ablation_json) as plain data, for the layer-curves overlay: per layer, the
// causal effect of knocking out that layer's text cross-attention, with its 95% bootstrap interval.
// Parsing is strict about what the overlay draws (format, layers, latent_effect) and lenient about the rest
// (missing optional numbers are NaN), so a file from a newer writer still loads.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace focalscope::session {

struct AblationLayer {
  int layer = 0;
  int n = 0;                                         // units (case x seed) behind the layer's numbers
  double effect = NAN, effect_lo = NAN, effect_hi = NAN;  // latent_effect: share of the text's effect lost (ci95)
  double pass_drop = NAN, pass_drop_lo = NAN, pass_drop_hi = NAN;
  double agreement_drop = NAN, agreement_drop_lo = NAN, agreement_drop_hi = NAN;
  double pass_rate = NAN;                            // checker pass rate with this layer knocked out
  double moran_median = NAN, moran_lo = NAN, moran_hi = NAN;  // Moran's I of the un-ablated run (median, ci95)
};

struct AblationResult {
  std::string path;                // the file it was read from
  std::string model_name;          // settings.model_name ("" when absent)
  int units = 0;
  double base_pass_rate = NAN;
  double spearman_latent = NAN;    // Spearman rho of Moran's I vs latent effect over layers
  std::vector<AblationLayer> layers;  // sorted by layer, unique

  const AblationLayer* find(int layer) const;
  int max_layer() const { return layers.empty() ? -1 : layers.back().layer; }
};

// Reads `path` (an ablate.json, or a folder holding one). Throws Error with one line naming the file: missing or
// unreadable file, not JSON, format other than focalscope.ablate/1, missing or mistyped fields.
AblationResult load_ablation(const std::string& path);
// The same checks on already parsed JSON; `where` names it in errors.
AblationResult parse_ablation(const nlohmann::json& j, const std::string& where);

}  // namespace focalscope::session
