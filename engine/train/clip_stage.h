// Stage "clip": the toy CLIP — the image tower Wan's DiT reads (ClipVision, 64 px, 8x8 patches = the latent token
// grid) and a small text tower (ClipText) — trained on Shapes reference frames and their prompts with
//   * a symmetric InfoNCE loss between the image embedding and the prompt embedding (learned logit scale), and
//   * a word -> patch grounding loss: every token of a "<colour> <shape>" phrase, compared (cosine, fixed
//     temperature) with the joint-space projections of the penultimate-layer patch tokens (what Focal Guidance
//     reads), is trained to point at the patches the named object covers (known from the world's annotation).
// Output: <out>/clip/clip.safetensors with "visual.*", "textual.*" and "log_scale" (CLIP's own layout).
#pragma once
#include <string>

#include "engine/clip/clip_text.h"
#include "engine/clip/clip_vision.h"
#include "engine/train/shapes_data.h"
#include "engine/train/train_options.h"

namespace focalscope::train {

struct ClipTrainConfig {
  ClipVisionConfig vision;
  ClipTextConfig text;     // text.vocab is set from the tokenizer
  WorldSpec world;
  int batch = 32;
  int64_t steps = 2000;  // default total steps, also the cosine schedule's length
  double lr = 5e-4;
  int64_t warmup = 100;
  double ground_weight = 1.0;
  double ground_scale = 10.0;  // softmax temperature of the word -> patch cosine similarities
  int max_objects = 3;
  int eval_cases = 256;

  static ClipTrainConfig embedded();
  static ClipTrainConfig tiny();
  nlohmann::json to_json() const;
};

StageResult train_clip(const StageOptions& opt, ClipTrainConfig cfg, const std::string& tokenizer_path);

std::string clip_output_path(const std::string& out_dir);  // <out>/clip/clip.safetensors

// How well per-word similarity maps find the object a phrase names, on `cases` fresh cases: the share of phrase
// tokens whose most similar patch lies on the named object, split by colour and shape words, and the
// image -> prompt retrieval accuracy within batches of 32. One line.
std::string evaluate_grounding(const ClipVision& vision, const ClipText& text, const std::string& tokenizer_path,
                               const WorldSpec& world, uint64_t seed, int cases, int max_objects = 3);

}  // namespace focalscope::train
