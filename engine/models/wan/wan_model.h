// The Wan2.1 diffusion transformer (`WanModel` of wan/modules/model.py), t2v and i2v, as plain weights + forward.
// Spec: ../shared/fixtures/wan_reference/ARCHITECTURE.md §2-4. Upstream state-dict key names throughout.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "engine/formats/quantised_weight.h"
#include "engine/models/common/layers.h"
#include "engine/models/probe.h"
#include "engine/models/wan/wan_config.h"

namespace focalscope {

class TensorSet;

struct WanBlockWeights {
  at::Tensor modulation;  // [1, 6, dim]
  Linear sa_q, sa_k, sa_v, sa_o;
  PackedLinear sa_qkv;        // sa_q, sa_k, sa_v packed for one GEMM in the inference forward (they are views of it)
  Norm sa_norm_q, sa_norm_k;  // RMSNorm over the full width
  Norm norm3;                 // affine LayerNorm before cross-attention
  Linear ca_q, ca_k, ca_v, ca_o, ca_k_img, ca_v_img;
  Norm ca_norm_q, ca_norm_k, ca_norm_k_img;
  Linear ffn0, ffn2;
};

// Per-run constants of the cross-attention: the projected text/image context and, per layer, its keys and values.
// They depend only on (context, clip_fea), so a sampling loop computes them once instead of at every step.
struct CrossContext {
  at::Tensor text;  // [B, text_len, dim] text_embedding output
  at::Tensor img;   // [B, n_img, dim] img_emb output (undefined for t2v)
  struct Layer { at::Tensor k, v, k_img, v_img; };  // [B, rows, dim] each, k already RMS-normed
  std::vector<Layer> layers;
};

struct DitInputs {
  at::Tensor x;         // [B, out_dim, F, H, W] noisy latent
  at::Tensor t;         // [B] timesteps (any numeric dtype)
  at::Tensor context;   // [B, <=text_len, text_dim]; rows beyond a prompt's length must be zero (upstream pads with zeros)
  at::Tensor clip_fea;  // [B, n_img, clip_dim] (i2v only)
  at::Tensor y;         // [B, in_dim - out_dim, F, H, W] mask + reference latent (i2v only)
};

struct ForwardOptions {
  int step = -1;
  std::vector<PassRole> roles;                    // defaults to all Cond
  int expert = -1;                                // handed to listeners as ForwardInfo::expert (two-expert runs)
  ProbeListener* listener = nullptr;
  const CrossContext* cross = nullptr;            // precomputed context (else computed from inputs)
  std::map<std::string, at::Tensor>* taps = nullptr;  // debug: records named intermediates (fixture parity)
  // Without autograd (GradMode off, e.g. under InferenceMode) a float32 CPU model runs fused kernels
  // (engine/models/common/cpu_kernels.h) instead of chains of ATen ops; same maths, <1e-6 relative difference. This forces
  // the straightforward ATen path (the one autograd always takes), for tests and before/after benchmarks.
  bool reference_path = false;
};

class WanModel {
 public:
  WanConfig cfg;

  at::Tensor patch_w, patch_b;  // Conv3d [dim, in_dim, pt, ph, pw]
  Linear text_emb0, text_emb2, time_emb0, time_emb2, time_proj;
  at::Tensor head_modulation;  // [1, 2, dim]
  Linear head;
  Norm img_norm0, img_norm4;   // LayerNorm(clip_dim), LayerNorm(dim), eps 1e-5
  Linear img_lin1, img_lin3;
  std::vector<WanBlockWeights> blocks;

  // Loads every tensor by upstream name, checking shapes; unknown tensors are an error. `cfg.clip_dim` and
  // `cfg.text_dim` are read off the checkpoint when they differ from the config (diffusers omits text_dim).
  // `kept`: block projection weights held as quantised codes (formats::load_wan_dit_weights with keep_quantised;
  // absent from `weights`): they stay codes on `device` and are decoded to `dtype` one block at a time while it runs.
  static WanModel load(const TensorSet& weights, WanConfig cfg, c10::ScalarType dtype = at::kFloat,
                       c10::Device device = c10::Device(c10::kCPU), const formats::QuantisedWeights* kept = nullptr);
  // Seeded random initialisation (for training the embedded model). `opts` places it: random weights of the 14B
  // shapes are made directly on a GPU in bf16 by the benchmarks (a float32 CPU copy would be 56 GB); a non-float32
  // dtype keeps the precision-sensitive parts in float32 as load() does.
  static WanModel init(const WanConfig& cfg, uint64_t seed, const at::TensorOptions& opts = {});
  NamedTensors named_parameters() const;  // upstream names, in state-dict order (sa_q/k/v: views of sa_qkv)
  // Mixed precision as upstream: called by load() for a non-float32 dtype (bf16 GEMMs, float32 norms/modulation/
  // time embedding/head).
  void keep_precision_sensitive_fp32();
  void to(c10::Device device, c10::ScalarType dtype);
  // (Re)packs each block's q/k/v projections (WanBlockWeights::sa_qkv); load, init and to() call it. Needed
  // again only after assigning new tensors to those weights, and then only for speed.
  void pack_projections();

  // Block `layer`'s weights ready to run: blocks[layer] itself, or a copy with its kept weights decoded (only those
  // in `only` when given). Everything that reads a block's Linear weights goes through this.
  WanBlockWeights block_weights(int layer, const std::vector<Linear WanBlockWeights::*>& only = {}) const;
  bool keeps_quantised() const { return !kept_.empty(); }
  int64_t kept_bytes() const;               // bytes of the kept codes (0 when none)
  c10::ScalarType block_dtype() const;      // dtype the blocks' GEMMs run in
  c10::Device block_device() const;

  // Zero-pads a [L, text_dim] (or [B, L, text_dim]) context to [B, text_len, text_dim]; L > text_len is an error.
  at::Tensor pad_context(const at::Tensor& context) const;
  CrossContext precompute_cross(const at::Tensor& context, const at::Tensor& clip_fea) const;
  // The text half of precompute_cross: `text` and every layer's text k / v (image parts left undefined). Used to swap
  // one layer's text context for another (engine/ablation/text_context.h); differentiable when grad mode is on.
  CrossContext precompute_text_cross(const at::Tensor& context) const;
  // Layer-wise text intervention: the text keys / values of `layers` in `dst` become those of `src` (its batch of 1
  // is broadcast to dst's). With src = the empty prompt this knocks the text out of those layers only (causal
  // ablation, `focalscope ablate`); with src = other samples' prompts it isolates them from their own text while
  // keeping the input distribution (`train --finetune plant-weak`). Image keys / values are left alone.
  // `rows`: the batch rows to change (empty = all), e.g. {0} = only the conditional row of a CFG batch, so the
  // unconditional pass keeps its negative prompt.
  static void swap_layer_text(CrossContext& dst, const CrossContext& src, const std::vector<int>& layers,
                              const std::vector<int64_t>& rows = {});

  // Velocity prediction [B, out_dim, F, H, W] (float32).
  at::Tensor forward(const DitInputs& in, const ForwardOptions& opt = {}) const;

  // Sinusoidal timestep embedding [B, freq_dim] in float64, cos half first (upstream order).
  static at::Tensor sinusoidal_embedding(const at::Tensor& t, int freq_dim);
  // RoPE angle table [n, d/2] in float64 for head_dim d (three concatenated per-axis tables).
  static at::Tensor rope_angles(int n, int head_dim);

 private:
  // Per block: the Linear members held as codes (their `w` in `blocks` is undefined), and the dtype they decode to.
  std::vector<std::vector<std::pair<Linear WanBlockWeights::*, formats::QuantisedWeight>>> kept_;
  c10::ScalarType kept_dtype_ = at::kFloat;
  // Batch rows on separate cores in the fast path (see wan_model.cpp): how many groups (1: keep them together),
  // and the block stack run that way, updating x in place.
  int parallel_row_groups(int64_t B, int64_t L, const ForwardOptions& opt) const;
  void blocks_in_row_groups(const at::Tensor& x, const at::Tensor& e0, const at::Tensor& cos, const at::Tensor& sin,
                            const CrossContext& cross, const ForwardInfo& info, const ForwardOptions& opt, int groups) const;
  // `fast`: use the fused inference kernels (no autograd); see ForwardOptions::reference_path.
  at::Tensor block_forward(int layer, at::Tensor x, const at::Tensor& e0, const at::Tensor& cos, const at::Tensor& sin,
                           const CrossContext& cross, const ForwardInfo& info, const ForwardOptions& opt, bool fast) const;
};

}  // namespace focalscope
