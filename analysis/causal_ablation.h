// Causal layer attribution (`focalscope ablate`): the text is knocked out of one layer at a time (its cross-attention
// sees the empty-prompt context) and the change in what the model does is measured against the un-ablated run of the
// same case and seed (same noise). Torch-free: rows come in as plain numbers, one per (case, seed, variant).
//
// Per layer, over cases x seeds (mean with a 95% percentile-bootstrap interval):
//   latent_effect   ||z_l - z_0|| / ||z_all - z_0||: how far the final latent moves when layer l loses the text, as a
//                   fraction of how far it moves when EVERY layer loses it (z_all: the empty-prompt run). 0 = the layer
//                   carries nothing of the text; continuous, so it resolves small effects that pass/fail cannot.
//   pass_drop       pass(z_0) - pass(z_l) with the strict checker (1 = the case was passing and now fails).
//   agreement_drop  drop in the checker's fraction of correctly answered questions.
// spearman: rank correlation over layers between the layer's Moran's I (median over the un-ablated runs) and its
// latent effect (and the other two effects): whether the map statistic ranks layers as their causal role does.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/resampling.h"

namespace focalscope::analysis {

inline constexpr int kAblateBaseline = -1;  // AblationRow::layer of the un-ablated run
inline constexpr int kAblateAllLayers = -2; // ... of the run with the text knocked out of every layer (empty prompt)

struct AblationRow {
  std::string case_id, dimension;
  int seed = 0;
  int layer = kAblateBaseline;
  bool pass = false;
  double agreement = 0;   // fraction of the checker's questions answered right
  double latent_rel = 0;  // ||z_variant - z_0|| / ||z_all - z_0|| (0 for the baseline row)
  double moran_i = 0;     // the un-ablated run's Moran's I of this layer (NaN for the baseline / all-layer rows)
  double moran_excess = 0;  // ... minus that of the prompt's control words: the words rule's statistic (NaN: not captured)
};

struct LayerEffect {
  int layer = 0;
  int n = 0;                 // (case, seed) units
  Interval latent_effect, pass_drop, agreement_drop;
  double pass_rate = 0;      // ablated
  Interval moran_i;          // median over units, bootstrap interval
  Interval moran_excess;     // the words rule's statistic (median excess over the control words)
};

struct AblationSummary {
  std::vector<LayerEffect> layers;
  int units = 0;
  double base_pass_rate = 0, empty_pass_rate = 0;
  double base_agreement = 0, empty_agreement = 0;
  double spearman_latent = 0, spearman_pass = 0, spearman_agreement = 0;  // vs Moran's I, over layers
  double spearman_excess_latent = 0;  // the words rule's statistic vs the latent effect, over layers
};

// Groups rows by unit (case, seed); units lacking their baseline row are an Error naming the unit.
AblationSummary summarize_ablation(const std::vector<AblationRow>& rows, int reps = 1000, uint64_t seed = 7);
nlohmann::json ablation_json(const AblationSummary& s);

// ablate_runs.csv: case,dimension,seed,layer,pass,agreement,latent_rel,moran_i,moran_excess
std::string ablation_csv_header();
std::string ablation_csv_line(const AblationRow& r);
// Reads a runs file; a malformed line is an Error naming the file and line.
std::vector<AblationRow> read_ablation_runs(const std::string& path);

}  // namespace focalscope::analysis
