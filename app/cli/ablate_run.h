// One unit of `focalscope ablate`: a benchmark case at one seed, generated un-ablated (with similarity capture, for
// each layer's Moran's I), with the text knocked out of every layer (the empty-prompt run) and with the text knocked
// out of each chosen layer alone. Wan (CrossDiT): the layer's text keys / values become the empty prompt's
// (WanModel::swap_layer_text). The embedded MMDiT: the layer's image tokens read none of the prompt's rows in the joint
// attention (RunHooks::hide_prompt_layers; docs/architectures.md). Conditional pass only. Every video is judged by the
// strict checker; every final latent is compared with the un-ablated one.
#pragma once
#include <atomic>
#include <functional>
#include <vector>

#include "analysis/causal_ablation.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/shapes/shapes_bench.h"

namespace focalscope::cli {

struct AblationOptions {
  std::vector<int> layers;  // layers to knock out one at a time
  int steps = -1;           // sampling overrides (model defaults when < 0)
  double cfg = -1;
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(int done, int total)> on_variant;  // after each generation of the unit
};

// Runs one unit; returns its rows (baseline, all layers, each layer), or an empty vector when cancelled.
// `empty`: the empty prompt's text context per DiT ([0] the DiT / low-noise expert, [1] Wan2.2's high-noise expert);
// a layer's knockout swaps its text keys / values for these, in every expert.
std::vector<analysis::AblationRow> run_ablation_unit(const ModelBundle& m, const std::vector<CrossContext>& empty,
                                                     const shapes::BenchCase& bc, int seed_index,
                                                     const AblationOptions& opt);

}  // namespace focalscope::cli
