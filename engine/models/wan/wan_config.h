// Hyper-parameters of the Wan2.1 DiT (`WanModel`), one plain struct as llama.cpp does it.
// The same struct describes the official 14B I2V model and the tiny embedded "Shapes" model.
#pragma once
#include <array>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace focalscope {

struct WanConfig {
  std::string model_type = "i2v";         // "i2v" (image + text cross-attention) or "t2v" (text only)
  std::array<int, 3> patch_size{1, 2, 2};  // (t, h, w)
  int text_len = 512;                      // text context rows after zero-padding (upstream constant 512)
  int in_dim = 36;                         // 16 noisy latent + 4 mask + 16 reference latent (i2v); 16 for t2v
  int dim = 5120;
  int ffn_dim = 13824;
  int freq_dim = 256;
  int text_dim = 4096;                     // umT5 width
  int out_dim = 16;
  int num_heads = 40;
  int num_layers = 40;
  std::array<int, 2> window_size{-1, -1};  // only global attention is supported (as every released Wan2.1)
  bool qk_norm = true;
  bool cross_attn_norm = true;
  double eps = 1e-6;
  // Width of the CLIP image tokens fed to `img_emb`. Upstream hard-wires 1280 (ViT-H/14); the embedded toy
  // model uses its own small CLIP, so this is a config value here (read off img_emb.proj.0.weight on load).
  int clip_dim = 1280;
  // Issue 27: an i2v model may come without the CLIP image branch (img_emb + cross_attn.{k,v}_img): the Wan2.2
  // I2V-A14B experts take y (mask + reference latent, in_dim 36) but no clip_fea. Not stored in upstream configs
  // (Wan2.2's model.py simply has no img_emb): set from the checkpoint's content; "image_branch": false in JSON.
  bool image_branch = true;

  bool is_i2v() const { return model_type == "i2v"; }                  // takes y (mask + reference latent)
  bool has_image_branch() const { return is_i2v() && image_branch; }  // takes clip_fea (img_emb, k_img / v_img)
  int head_dim() const { return dim / num_heads; }
  // RoPE complex columns per head for (frame, height, width): d/2 split as [c - 2*(c/3), c/3, c/3].
  std::array<int, 3> rope_split() const;

  void validate() const;  // throws Error on inconsistent values (e.g. dim % num_heads != 0)

  // Reads a diffusers-style config.json (or an upstream constructor_args object). Keys that diffusers does not
  // store (`patch_size`, `text_dim`, `qk_norm`, `cross_attn_norm`, `window_size`) default to upstream's values.
  static WanConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  static WanConfig wan_i2v_14b();  // Wan2.1-I2V-14B (480P and 720P share it)

  // Parameter count implied by the config (weights only), for `info` and memory planning.
  long long num_params() const;
};

}  // namespace focalscope

namespace focalscope {
// Multiply-add FLOPs (2 per MAC) of one DiT forward for one batch row with L visual tokens, counting the matmuls
// (projections, attention scores and weighted sums, FFN, patch embedding and head) — what a roofline is measured
// against. Context K/V projections are excluded when `cached_context` (they are computed once per run, not per
// step); the text/image embedding MLPs and the per-row time embedding are never counted (once per run / tiny).
double dit_forward_flops(const WanConfig& cfg, int64_t L, int64_t n_text, int64_t n_img, bool cached_context);
}  // namespace focalscope
