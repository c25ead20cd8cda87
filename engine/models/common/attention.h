// Scaled dot-product attention for the DiT (no masks: Wan's pipeline never pads the visual sequence).
#pragma once
#include <ATen/ATen.h>

namespace focalscope {

// q [B, L, N, d], k/v [B, S, N, d] -> [B, L, N*d]; softmax(q k^T / sqrt(d)) v.
// libtorch >= 2.0 uses the fused at::scaled_dot_product_attention; otherwise an explicit path that is
// chunked over queries so the [L, S] score matrix stays cache- and memory-friendly.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Inference-only attention core (float32 CPU, records nothing for autograd), used by the DiT's fast path.
// q [B, N, L, d] already multiplied by 1/sqrt(d); k, v [B, N, S, d]; out [B, N, L, d]. Any strides as long as d
// is the unit-stride dimension (typically permuted views of [B, L, N*d] tensors, batch stride 0 for a shared
// context), so no transposed copies are made. Writes softmax(q k^T) v into `out`, or adds it when `accumulate`.
// The score block is computed in place in a reused per-thread workspace (allocating a fresh multi-MB block per
// call costs page faults comparable to the GEMMs at small sizes) and tiled over heads/queries to bound it.
void attention_into(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& out, bool accumulate);

// Interleaved-pair rotary embedding: x [B, L, N, d], cos/sin [L, d/2] (float32). Pairs are (x[2k], x[2k+1]).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace focalscope
