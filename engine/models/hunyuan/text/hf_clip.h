// transformers' CLIP towers (CLIPVisionModel / CLIPTextModel) with their Hugging Face state-dict names, as the
// HunyuanVideo-I2V text side uses them:
//   * LLaVA's vision tower (text_encoder_i2v/: "vision_tower.vision_model.*"), read at hidden_states[-2]
//     (vision_feature_layer), class token dropped ("default" strategy) -> 576 patch features of a 336 px image;
//   * CLIP-L's text model (text_encoder_2/: "text_model.*"): pooled output = final LayerNorm at the end-of-text
//     token -> text_states_2 [B, 768]; its vision model + projections are loadable too (the CLIP of Eq. 6 and
//     the visual anchors).
// Encoder layer (both towers): x = x + out_proj(attn(layer_norm1(x))); x = x + fc2(act(fc1(layer_norm2(x)))),
// act = quick_gelu (x * sigmoid(1.702 x)) for OpenAI CLIP, scale head_dim^-0.5. Vision embeddings: patch conv
// (no bias) + class embedding + position embedding, then pre_layrnorm. Text: token + position embedding, causal
// mask plus padding mask, final_layer_norm.
// Also: CLIPImageProcessor (resize shortest edge with Pillow's bicubic / bilinear resampling incl. its 8-bit
// rounding, center crop, rescale, normalise), read from preprocessor_config.json.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/weights.h"

namespace focalscope {

struct HfClipTowerConfig {
  int64_t hidden_size = 768, intermediate_size = 3072, num_hidden_layers = 12, num_attention_heads = 12;
  int64_t projection_dim = 512;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";  // "quick_gelu" | "gelu"
  // vision
  int64_t image_size = 224, patch_size = 32, num_channels = 3;
  // text
  int64_t vocab_size = 49408, max_position_embeddings = 77, eos_token_id = 49407;

  // CLIPVisionConfig / CLIPTextConfig defaults of transformers for absent keys.
  static HfClipTowerConfig vision_from_json(const nlohmann::json& j, const std::string& where);
  static HfClipTowerConfig text_from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::json to_json(bool vision) const;
  void validate(const std::string& where, bool vision) const;
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t grid() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
};

struct HfClipLayer {
  at::Tensor ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
};

// x [B, L, C]; attn_bias (optional) additive [B or 1, 1, L, L].
at::Tensor hf_clip_layer_forward(const HfClipLayer& l, const at::Tensor& x, const HfClipTowerConfig& cfg,
                                 const at::Tensor& attn_bias = {});

struct HfClipVision {
  HfClipTowerConfig cfg;
  at::Tensor patch_w, class_embedding, position_embedding, pre_ln_w, pre_ln_b;
  std::vector<HfClipLayer> layers;  // the first layers.size() layers
  at::Tensor post_ln_w, post_ln_b;  // undefined unless kept

  // `prefix` ends with "vision_model."; layers past run_layers (and post_layernorm unless keep_post) are checked
  // by shape and skipped.
  static HfClipVision load(WeightLoader& L, const HfClipTowerConfig& cfg, const std::string& prefix, int64_t run_layers,
                           bool keep_post);
  static HfClipVision random_init(const HfClipTowerConfig& cfg, uint64_t seed);
  std::vector<std::pair<std::string, at::Tensor>> named_parameters(const std::string& prefix) const;
  // pixels [B, C, S, S] (normalised) -> hidden_states[n_layers] [B, 1 + g*g, C] (0 = after pre_layrnorm).
  at::Tensor forward(const at::Tensor& pixels, int64_t n_layers) const;
  // HF hidden_states index (negative from the end) -> number of layers.
  int64_t layers_for_index(int64_t index) const;
};

struct HfClipText {
  HfClipTowerConfig cfg;
  at::Tensor token_embedding, position_embedding;
  std::vector<HfClipLayer> layers;
  at::Tensor final_ln_w, final_ln_b;

  static HfClipText load(WeightLoader& L, const HfClipTowerConfig& cfg, const std::string& prefix);
  static HfClipText random_init(const HfClipTowerConfig& cfg, uint64_t seed);
  std::vector<std::pair<std::string, at::Tensor>> named_parameters(const std::string& prefix) const;
  // ids, mask [B, L] -> last_hidden_state [B, L, C] (after final_layer_norm).
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) const;
  // pooler_output [B, C]: the row of the end-of-text token (eos_token_id == 2, the legacy configs such as
  // openai/clip-vit-large-patch14: the largest id; otherwise the first eos_token_id).
  at::Tensor pooled(const at::Tensor& last_hidden_state, const at::Tensor& ids) const;
};

// CLIPImageProcessor.
struct ClipImageProcessor {
  bool do_resize = true, do_center_crop = true, do_rescale = true, do_normalize = true;
  int64_t shortest_edge = 224, crop_height = 224, crop_width = 224;
  int resample = 3;  // PIL: 2 bilinear, 3 bicubic
  double rescale_factor = 1.0 / 255.0;
  std::vector<double> mean{0.48145466, 0.4578275, 0.40821073}, std{0.26862954, 0.26130258, 0.27577711};

  static ClipImageProcessor from_file(const std::string& preprocessor_config_json);
  // image: uint8 [H, W, 3] RGB -> float32 [1, 3, crop_height, crop_width].
  at::Tensor operator()(const at::Tensor& image_hwc_u8) const;
};

// Pillow's Image.resize for 8-bit images (ImagingResample: separable, horizontal pass then vertical, fixed-point
// coefficients with 22 fractional bits, each pass rounded and clamped to 0..255). filter 2 = bilinear, 3 = bicubic
// (a = -0.5); the support widens by the scale when downsampling (antialiasing). [H, W, C] uint8 -> [h, w, C] uint8.
at::Tensor pil_resize_u8(const at::Tensor& image_hwc_u8, int64_t out_h, int64_t out_w, int filter = 3);

}  // namespace focalscope
