// Focal Guidance on a HunyuanVideo-I2V release (the MMDiT with its LLaVA MLLM and CLIP-L; docs/architectures.md):
//   keyword rows  the rows of the cropped MLLM text (image rows first) carrying each prompt word, found by
//                 tokenising the template's prefix + the prompt up to each word (Llama-3 BPE is prefix-stable at word
//                 boundaries; checked): input position p -> row image_rows + (p - crop_start);
//   Eq. 6         CLIP-L: a word's mean token embedding (text_projection of the last hidden states) against the image's
//                 patch tokens (penultimate layer, post_layernorm, visual_projection), cosine, sim_sign;
//   anchors       hunyuan_visual_anchor_weights over the LLaVA vision grid with the release's interleave (24, every 4th);
//   weak layers   GuidanceConfig::weak_layers, else the paper's single-stream 17-32 when the model has the release's
//                 40 single blocks (our layers double_depth + 17 ... + 32), else an error asking for --weak-layers.
// Without CLIP-L's vision weights (a text-only text_encoder_2) keywords must be given; their anchors are then uniform
// over the image rows and Eq. 9 is off (no map to place it), which the setup's notes say.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "engine/guidance/focal_guidance.h"
#include "engine/pipeline/hunyuan_pipeline.h"

namespace focalscope {

struct HunyuanWordRows {
  std::string word;
  std::vector<int64_t> rows;  // rows of the cropped MLLM text (image rows first)
  bool truncated = false;     // past the template's text_len
};

std::vector<HunyuanWordRows> hunyuan_prompt_word_rows(const LlavaI2VTextEncoder& mllm, const std::string& prompt,
                                                      int64_t image_rows);

struct HunyuanGuidanceSetup {
  GuidanceConfig config;       // as given, with lambda_lat 0 when there is no CLIP map
  FsgPlan plan;                // words with CLIP scores, selected keywords with rows, maps and Eq. 9 regions
  at::Tensor anchors;          // [K, image rows] weights over the MLLM image rows (undefined without keywords)
  std::vector<int> weak_layers;
  std::vector<std::string> notes;  // what differs from a full setup (no CLIP vision, ...)
};

// image: the request's reference [3, H, W] in [-1, 1]; grid_h / grid_w: the DiT token grid of the run.
HunyuanGuidanceSetup plan_hunyuan_focal_guidance(const HunyuanBundle& b, const std::string& prompt, const at::Tensor& image,
                                                 const GuidanceConfig& cfg, int64_t grid_h, int64_t grid_w);

}  // namespace focalscope
