// CLIP ViT image tower as Wan2.1 uses it (ARCHITECTURE.md section 8; upstream wan/modules/clip.py
// VisionTransformer + CLIPModel.visual). Plain config + tensors + ATen forward; autograd-friendly so a tiny
// tower of this class can be trained (named_parameters(), random_init(), save()).
//
//   ClipVision clip = ClipVision::load(load_tensor_file(pth), ClipVisionConfig::vit_h_14(), "visual.");
//   at::Tensor clip_fea = clip.clip_fea(image);            // image [3,H,W] in [-1,1] -> [1, 257, 1280]
//
// Token layout everywhere: [B, 1 + g*g, dim], class token first, then the g x g patches row-major.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/clip/clip_block.h"
#include "engine/core/fixture.h"
#include "engine/core/weights.h"

namespace focalscope {

struct ClipVisionConfig {
  int image_size = 224;
  int patch_size = 14;
  int dim = 1280;
  double mlp_ratio = 4.0;
  int out_dim = 1024;
  int num_heads = 16;
  int num_layers = 32;
  std::string pool_type = "token";  // the only pooling Wan's checkpoint uses (and we support)
  bool pre_norm = true;             // LayerNorm after the embeddings; the patch conv then has no bias
  bool post_norm = false;           // block layout: false = pre-LN (x + f(norm(x))), true = x + norm(f(x))
  std::string activation = "gelu";  // "gelu" (exact erf) | "quick_gelu" (x * sigmoid(1.702 x))
  double norm_eps = 1e-5;

  // ViT-H/14 of open-clip xlm-roberta-large (Wan2.1 I2V).
  static ClipVisionConfig vit_h_14();
  // From upstream VisionTransformer constructor arguments (fixture config.json "constructor_args"). The sizes
  // are required; flags default to the upstream constructor defaults. Throws Error naming `where`.
  static ClipVisionConfig from_json(const nlohmann::json& args, const std::string& where = "CLIP config");
  nlohmann::json to_json() const;
  void validate(const std::string& where) const;  // throws Error on inconsistent values

  int grid() const { return image_size / patch_size; }  // patches per side
  int num_patches() const { return grid() * grid(); }
  int num_tokens() const { return num_patches() + 1; }
  int head_dim() const { return dim / num_heads; }
  int mlp_dim() const { return static_cast<int>(dim * mlp_ratio); }
};

using ClipVisionBlock = ClipBlock;

struct ClipVision {
  ClipVisionConfig cfg;
  at::Tensor patch_w, patch_b;  // patch_embedding.weight [dim,3,p,p] (+ .bias only when !pre_norm)
  at::Tensor cls_embedding;     // [1,1,dim]
  at::Tensor pos_embedding;     // [1,1+g*g,dim]
  at::Tensor pre_norm_w, pre_norm_b;  // only when pre_norm
  std::vector<ClipVisionBlock> blocks;
  at::Tensor post_norm_w, post_norm_b;  // never used by Wan's forward; see project()
  at::Tensor head;                      // [dim, out_dim]

  // Loads every tensor by its upstream name `prefix + name` (fixture files: "", Wan's CLIP .pth: "visual.").
  // With a non-empty prefix the rest of the whole-CLIP checkpoint (`textual.*`, `log_scale`) is skipped;
  // anything else missing, misshaped or unexpected throws Error naming the file and the tensor.
  static ClipVision load(const TensorSet& set, const ClipVisionConfig& cfg, const std::string& prefix = "",
                         c10::ScalarType dtype = c10::ScalarType::Float,
                         c10::Device device = c10::Device(c10::DeviceType::CPU));
  // Seeded random init (deterministic for a given seed on any device): linear/conv weights N(0,1)/sqrt(fan_in),
  // biases 0, LayerNorms 1/0, cls/pos embeddings and head N(0,1)/sqrt(dim) (the upstream gain).
  static ClipVision random_init(const ClipVisionConfig& cfg, uint64_t seed,
                                c10::ScalarType dtype = c10::ScalarType::Float,
                                c10::Device device = c10::Device(c10::DeviceType::CPU));

  // Every parameter under its upstream state_dict name (handles share storage with the model, so
  // requires_grad_ / in-place optimiser updates act on the model).
  NamedTensors named_parameters(const std::string& prefix = "") const;
  void set_requires_grad(bool on);
  // safetensors with upstream names (+ prefix) and the config as JSON in the metadata ("clip_vision_config").
  void save(const std::string& path, const std::string& prefix = "") const;

  // Wan preprocessing: image [3,H,W] (or [B,3,H,W]) in [-1,1], any size -> [B,3,S,S]: bicubic resize
  // (align_corners false, no clamp), *0.5+0.5, (x - mean) / std with the OpenAI constants. Float32.
  at::Tensor preprocess(const at::Tensor& image) const;
  static const std::vector<float>& norm_mean();  // 0.48145466, 0.4578275, 0.40821073
  static const std::vector<float>& norm_std();   // 0.26862954, 0.26130258, 0.27577711

  // Patch embedding + class token + position embedding (+ pre_norm): the input of block 0. pixels [B,3,S,S].
  at::Tensor embed(const at::Tensor& pixels) const;
  at::Tensor block_forward(int index, const at::Tensor& x) const;
  // Runs the first num_blocks blocks (-1 = all) on preprocessed pixels and returns all tokens [B,1+g*g,dim]
  // (no post_norm / head, like upstream). When `hidden` is given it receives the output of every block run
  // (hidden->at(i) = after block i), e.g. the penultimate layer's spatial tokens for analysis.
  at::Tensor forward(const at::Tensor& pixels, int num_blocks = -1, std::vector<at::Tensor>* hidden = nullptr) const;
  // What the Wan DiT receives: preprocess(image), then all but the last block -> [B, 1+g*g, dim].
  at::Tensor clip_fea(const at::Tensor& image) const;

  // Joint-space projection post_norm(tokens) @ head, for any token tensor [..., dim] -> [..., out_dim]
  // (not an upstream path). On the class token of the full tower it is the CLIP image embedding.
  at::Tensor project(const at::Tensor& tokens) const;
  // project(forward(pixels)[:, 0]) -> [B, out_dim].
  at::Tensor image_embedding(const at::Tensor& pixels) const;
  // Patch tokens (class token dropped) as a spatial grid: [B,1+g*g,C] -> [B,g,g,C].
  at::Tensor patch_grid(const at::Tensor& tokens) const;
};

// Fixture runner for clip_vision_tiny/: reproduces preprocessed, norm_mean, norm_std, clip_fea, block{i}_out
// (every block of the clip_fea call), all_blocks_out and nonupstream_post_norm_head_cls from `image`.
FixtureResult run_clip_fixture(const Fixture& fx);

}  // namespace focalscope
