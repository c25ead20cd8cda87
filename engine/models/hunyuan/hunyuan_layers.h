// The numerical building blocks of the HunyuanVideo DiT that differ from Wan's: the float32 timestep sinusoid, the
// 3-axis RoPE tables and their interleaved application, token_replace modulation, and the two attention masks
// (refiner: pairwise text mask with a forced column 0; DiT: flash-attn varlen segments).
// Spec: ../shared/fixtures/hunyuan_reference/ARCHITECTURE.md §4-7, §9.
#pragma once
#include <ATen/ATen.h>

#include <array>
#include <utility>
#include <vector>

namespace focalscope::hunyuan {

// timestep_embedding (embed_layers.py:93-117): [B] -> [B, dim] float32, [cos | sin], freq_j = exp(-ln(max_period)
// j / half). Computed with upstream's float32 operation order, so a timestep of 1000 or a guidance of 6000 (large
// arguments) gets the very same rounding.
at::Tensor timestep_sinusoid(const at::Tensor& t, int dim, double max_period = 10000.0);

// get_nd_rotary_pos_embed(use_real=True): (cos, sin) tables [tt*th*tw, sum(dims)] float32 for the token grid
// (row-major f, h, w); axis a fills its dims[a] columns with angle pos_a * theta^(-2j/dims[a]), each angle twice
// (repeat_interleave(2)). `rescale` is upstream's theta_rescale_factor (1 in every release path).
std::pair<at::Tensor, at::Tensor> rope_tables(const std::array<int, 3>& dims, const std::array<int64_t, 3>& grid,
                                              double theta, double rescale = 1.0);

// apply_rotary_emb with a (cos, sin) tuple: x [B, L, N, d], cos/sin [L, d]; out = x*cos + rotate_half(x)*sin with
// rotate_half pairing (x[2j], x[2j+1]) -> (-x[2j+1], x[2j]); computed in float32, returned in x's dtype.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// Per-token modulation parameters of one chunk: `base` [B, D] for every token, except the first `n0` tokens, which
// use `tr` [B, D] when it is defined (token_replace: latent frame 0 gets the t = 0 conditioning).
struct TokenParam {
  at::Tensor base, tr;
  int64_t n0 = 0;
};
// modulate (modulate_layers.py): x * (1 + scale) + shift, per token as above. x [B, L, D].
at::Tensor modulate(const at::Tensor& x, const TokenParam& shift, const TokenParam& scale);
// apply_gate: x * gate, per token as above.
at::Tensor apply_gate(const at::Tensor& x, const TokenParam& gate);

// Refiner self-attention (token_refiner.py:143-157, SDPA math): q, k, v [B, L, N, d]; mask [B, L] (or undefined =
// no mask). Query i may see key j when mask_i and mask_j, and every query sees key 0 (so padded queries are not
// NaN). Computed in float32; returns [B, L, N*d] float32.
at::Tensor refiner_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask);

// Joint attention with flash-attn varlen semantics (attenion.py:34-157): per sample b, the Li image tokens and the
// first valid[b] text tokens form one segment and the remaining (padded) text tokens another; each attends only
// within itself. q, k, v [B, Li+Lt, N, d] -> [B, Li+Lt, N*d]. Running each segment as its own attention (rather
// than masking a full score matrix) keeps memory at flash-attention's level for 720p sequences.
// hidden (optional, one entry per sample): text rows [first, second) that sample's image queries do not read (the
// causal ablation's knockout, `focalscope ablate`); the text queries still read every row. {0, 0}: nothing hidden.
at::Tensor joint_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const std::vector<int64_t>& valid, int64_t image_tokens,
                           const std::vector<std::pair<int64_t, int64_t>>* hidden = nullptr);

// get_cu_seqlens: [0, n_0+Li, S, S+n_1+Li, 2S, ...] (int64 here; upstream int32) with S = Li + Lt.
at::Tensor cu_seqlens(const std::vector<int64_t>& valid, int64_t image_tokens, int64_t text_len);

}  // namespace focalscope::hunyuan
