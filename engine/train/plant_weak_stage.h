// Planted semantic-weak layers: ground truth for the weak-layer detector (`focalscope validate-detector`).
//
// Recipe (docs/validation.md says why each choice):
//   start from a trained model folder (the embedded Shapes model by default) and fine-tune its whole DiT with the
//   DiT stage's flow-matching objective on Shapes training-range clips, while the TEXT cross-attention of the planted
//   layers P sees, in every training forward, the prompt of ANOTHER clip of the batch (a cyclic shift of the batch's
//   prompts) instead of the clip's own ("condition isolation"). The other layers see the clip's own prompt.
//   * Shuffled, not empty: the planted layers keep receiving real prompts from the prompt distribution, exactly
//     what they receive at inference, but prompts that carry no information about the clip. Their text pathway
//     therefore gets no reward for following the text, while nothing at inference is out of distribution. (With the
//     empty prompt in training they would see a never-trained input at inference: a real prompt.)
//   * Re-initialised text keys / values (`reinit`, default on): the planted layers' text k / v projections start
//     from fresh random weights (the DiT's own initialisation), so the text alignment they had learned is gone
//     by construction instead of having to decay; shuffled training keeps it from coming back. The image keys /
//     values, the queries and the output projection are kept (they serve the image context too).
//   * Everything else of the DiT trains with its own prompt, so the other layers take over what P did.
// At inference the result is an ordinary model: every layer receives the prompt, nothing is hard-wired.
// The exported folder records P under "planted_weak_layers" (never read by the detector or Focal Guidance) and
// refers to the base's unchanged files (umT5, tokenizer, CLIP, VAE) by relative path instead of copying them.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/train/train_options.h"

namespace focalscope::train {

struct PlantWeakConfig {
  std::string model_dir;        // base model folder (focalscope format)
  std::string export_dir;       // where the planted folder goes (default <out>/plant_weak/model)
  std::vector<int> layers;      // P, the layers made weak
  std::string context = "shuffled";  // what P's text cross-attention sees in training: "shuffled" | "empty"
  bool reinit = true;           // re-initialise P's text k / v projections before training
  double reinit_lr_mult = 1;    // learning-rate multiplier of those re-initialised projections
  int batch = 16;
  int64_t steps = 600;
  double lr = 2e-4;
  int64_t warmup = 20;
  int64_t cooldown = 150;       // linear decay to 0 over the last `cooldown` steps
  int64_t pool_clips = 2048;    // training clips encoded once (training-range seeds, disjoint from the benchmark)
  double shift = 3.0, uniform_share = 0.5, text_dropout = 0.1;
  double change_weight = 4.0, change_scale = 0.1;
  nlohmann::json provenance = nlohmann::json::object();  // command, machine, ... (manifest "training", not the recipe)
  nlohmann::json to_json() const;
};

// Trains (checkpointing to <out>/plant_weak/checkpoint.safetensors; --resume continues), exports and loads the
// result back. StageResult::summary names the exported folder.
StageResult plant_weak_layers(const StageOptions& opt, const PlantWeakConfig& cfg);

// Rewrites `manifest` (a copy of the base's focalscope.json) so that components not present in `dst_dir` point
// at the base folder's files by a path relative to dst_dir. Exposed for tests.
nlohmann::json derive_manifest(const nlohmann::json& base_manifest, const std::string& base_dir, const std::string& dst_dir,
                               const std::vector<std::string>& own_components);

}  // namespace focalscope::train
