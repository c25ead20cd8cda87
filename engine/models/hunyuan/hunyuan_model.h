// The HunyuanVideo-I2V diffusion transformer (`HYVideoDiffusionTransformer`, hyvideo/modules/models.py) as plain
// weights + forward: token refiner, time / pooled-text / guidance embeddings, double-stream and single-stream
// blocks with token_replace modulation of latent frame 0, 3-axis RoPE, QK RMSNorm, final layer, unpatchify.
// Spec: ../shared/fixtures/hunyuan_reference/ARCHITECTURE.md §2-7, §9. Upstream state-dict names throughout.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "engine/models/common/layers.h"
#include "engine/models/probe.h"
#include "engine/models/hunyuan/hunyuan_config.h"

namespace focalscope {

class TensorSet;

// TimestepEmbedder / MLPEmbedder / TextProjection / MLP: Linear -> activation -> Linear.
struct HunyuanMlp {
  Linear l1, l2;
};

struct HunyuanRefinerBlock {  // txt_in.individual_token_refiner.blocks.i
  Norm norm1, norm2;           // affine LayerNorm
  Linear self_attn_qkv, self_attn_proj;
  HunyuanMlp mlp;              // fc1 -> SiLU -> fc2
  Linear adaLN;                // adaLN_modulation.1 -> (gate_msa, gate_mlp)
};

struct HunyuanStream {  // one stream (img_* or txt_*) of a double block
  Linear mod;            // *_mod.linear -> 6 chunks
  Linear attn_qkv, attn_proj;
  Norm attn_q_norm, attn_k_norm;  // RMSNorm per head (weight [head_dim])
  HunyuanMlp mlp;        // fc1 -> GELU(tanh) -> fc2
};

struct HunyuanDoubleBlock {
  HunyuanStream img, txt;
};

struct HunyuanSingleBlock {
  Linear linear1, linear2, modulation;  // modulation.linear -> (shift, scale, gate)
  Norm q_norm, k_norm;
};

struct HunyuanInputs {
  at::Tensor x;              // [B, in_channels, T, H, W] latent
  at::Tensor t;              // [B] float timesteps (sigma * 1000, not rounded)
  at::Tensor text_states;    // [B, Lt, text_states_dim] MLLM features
  at::Tensor text_mask;      // [B, Lt] 1 = token, 0 = padding (a prefix of ones, as the pipeline makes it)
  at::Tensor text_states_2;  // [B, text_states_dim_2] CLIP pooled
  at::Tensor guidance;       // [B] embedded guidance * 1000 (required when cfg.guidance_embed)
  at::Tensor freqs_cos, freqs_sin;  // [Li, head_dim]; computed from the token grid when undefined
};

struct HunyuanForwardOptions {
  // Debug: records named intermediates (fixture parity): t_sinusoid, time_in_out, vec, token_replace_vec,
  // refiner_*, txt_in_out, cu_seqlens, double<i>_{img,txt}_mod_out / img_mod_tr_out / q / k / v / attn_out /
  // img_out / txt_out, single<i>_{mod_out, mod_tr_out, q, k, v, attn_out, out}, final_layer_{mod_out, out}, ...
  std::map<std::string, at::Tensor>* taps = nullptr;
  // The analysis seam (engine/models/probe.h, docs/architectures.md): layer l = double block l, then single block
  // l - double_blocks. In each wanted layer the listener sees x = the image tokens' stream before the block,
  // x_norm = LayerNorm(x) (no affine, no modulation), text_v = the text tokens' values of the joint attention
  // (double: the text stream's v; single: the shared v's text rows) and img_v = the rows
  // [visual_rows_begin, +visual_rows_count) of text_v (the MLLM's image tokens inside the text sequence); it may
  // replace x (image rows only) and text_v. Self-attention K / V (protocol 3) are the image rows of the joint
  // attention. Without a listener the forward is the plain one, bit for bit.
  ProbeListener* listener = nullptr;
  int step = -1;
  std::vector<PassRole> roles;          // one per batch row; defaults to all Cond
  int64_t visual_rows_begin = -1;       // text rows of the visual context (-1: none, img_v undefined)
  int64_t visual_rows_count = 0;
  // Causal ablation (`focalscope ablate`, docs/architectures.md): in these layers the conditional rows' image tokens
  // read none of the text rows [hide_text_begin, hide_text_end) in the joint attention (the text rows still read
  // everything, and the other rows are untouched).
  std::vector<int> hide_text_layers;
  int64_t hide_text_begin = 0, hide_text_end = 0;
};

// FSG / AC anchors for HunyuanVideo (docs/architectures.md): the model has no image cross-attention, so a keyword's
// visual value is a weighted mean of the visual-context rows' values in the layer (p.img_v). The release's rows are
// the LLaVA vision tower's 24x24 patches, every 4th in raster order (upstream's [::4] crop: 144 rows, 24 patch rows x
// 6 patch columns). Weights: the keyword's Eq. 6 similarity map `sim` [g, g] over CLIP patches, area-resampled to
// the grid_side x grid_side patch grid, the kept rows picked, negative parts dropped, normalised to sum 1 (uniform
// when nothing is positive). Returns [K, grid_side^2 / stride].
at::Tensor hunyuan_visual_anchor_weights(const std::vector<at::Tensor>& sims, int64_t grid_side = 24, int64_t stride = 4);

class HunyuanModel {
 public:
  HunyuanConfig cfg;

  at::Tensor img_in_w, img_in_b;  // Conv3d [hidden, in, pt, ph, pw]
  Linear txt_input_embedder;
  HunyuanMlp txt_t_embedder, txt_c_embedder;
  std::vector<HunyuanRefinerBlock> refiner;
  HunyuanMlp time_in, vector_in, guidance_in;
  Linear final_mod, final_linear;
  std::vector<HunyuanDoubleBlock> double_blocks;
  std::vector<HunyuanSingleBlock> single_blocks;

  // Loads every tensor by upstream name, checking shapes; a missing, misshaped or unknown tensor is an error naming
  // it. A non-float32 dtype gives upstream's mixed precision: GEMM weights in that dtype, `final_layer.linear` in
  // float32 (upstream's FinalLayer never receives the dtype), norm weights in float32 (applied to float32
  // statistics); the residual streams stay float32. text_states_dim / text_states_dim_2 are read off the checkpoint
  // (upstream takes them from argparse, not from the model config).
  static HunyuanModel load(const TensorSet& weights, HunyuanConfig cfg, c10::ScalarType dtype = at::kFloat,
                           c10::Device device = c10::Device(c10::kCPU));
  // Random weights of the config's shapes made on the device (bench-step, layout fixtures): the same module walk as
  // load(), so names and shapes are the checkpoint's. Weights N(0, std^2), norm scales near 1; uses the global RNG.
  static HunyuanModel random(const HunyuanConfig& cfg, c10::ScalarType dtype = at::kFloat,
                             c10::Device device = c10::Device(c10::kCPU), double std = 0.02);
  NamedTensors named_parameters() const;  // upstream names, state-dict order
  c10::Device device() const { return img_in_w.device(); }
  c10::ScalarType dtype() const { return img_in_w.scalar_type(); }

  // Velocity [B, out_channels, T, H, W] (float32).
  at::Tensor forward(const HunyuanInputs& in, const HunyuanForwardOptions& opt = {}) const;

  // RoPE tables for a latent of T x H x W (token grid T/pt, H/ph, W/pw), float32 on the CPU.
  std::pair<at::Tensor, at::Tensor> rope_for_latent(int64_t T, int64_t H, int64_t W) const;

 private:
  at::Tensor token_refiner(const at::Tensor& text_states, const at::Tensor& t, const at::Tensor& mask,
                           const HunyuanForwardOptions& opt) const;
};

}  // namespace focalscope
