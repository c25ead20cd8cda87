// Post-training of the semantic-weak layers (Focal Guidance paper §5, its best row): starting from an exported
// model folder, only the cross-attention of the weak layers (q, k, v, o and the image k/v projections, with their
// RMSNorm weights) is trained, with the flow-matching objective of the DiT stage on Shapes training clips, and —
// with `guidance` active — Focal Guidance attached to every training forward exactly as at inference (keywords
// and anchors planned per clip from its prompt and reference frame). Everything else is frozen: umT5, CLIP, VAE
// and every other DiT weight. The result is a new model folder (the source folder with dit.safetensors replaced
// and the manifest's training.finetune recording the recipe), so "post-training alone" is the new folder with
// guidance off, and "FG + post-training" the same folder with guidance on.
#pragma once
#include <string>
#include <vector>

#include "engine/guidance/guidance_config.h"
#include "engine/train/train_options.h"

namespace focalscope::train {

struct FinetuneConfig {
  std::string model_dir;        // source model folder (focalscope format)
  std::string export_dir;       // where the fine-tuned folder goes (default <out>/finetune/model)
  GuidanceConfig guidance;      // mode off = plain fine-tune of the weak layers; weak layers from here or the model
  int batch = 4;
  int64_t steps = 600;
  double lr = 5e-5;             // paper: 1e-5 on the 14B model; the toy tolerates more
  int64_t warmup = 50;
  int64_t pool_clips = 512;     // training clips encoded once (training-range seeds, disjoint from the benchmark)
  double shift = 3.0, uniform_share = 0.5, text_dropout = 0.1;
};

// Trains, checkpoints (<out>/finetune/checkpoint.safetensors; --resume continues), exports and loads the result
// back. Throws Error when the model has no weak-layer set (run `focalscope analyze` or pass --weak-layers).
StageResult finetune_weak_layers(const StageOptions& opt, const FinetuneConfig& cfg);

// The weak layers' cross-attention parameter names (upstream names) — what the fine-tune trains.
std::vector<std::string> weak_layer_param_names(const std::vector<int>& weak_layers, bool i2v);

}  // namespace focalscope::train
