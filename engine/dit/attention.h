// Scaled dot-product attention for the DiT (no masks: Wan's pipeline never pads the visual sequence).
#pragma once
#include <ATen/ATen.h>

namespace focalscope {

// q [B, L, N, d], k/v [B, S, N, d] -> [B, L, N*d]; softmax(q k^T / sqrt(d)) v.
// libtorch >= 2.0 uses the fused at::scaled_dot_product_attention; otherwise an explicit path that is
// chunked over queries so the [L, S] score matrix stays cache- and memory-friendly.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Interleaved-pair rotary embedding: x [B, L, N, d], cos/sin [L, d/2] (float32). Pairs are (x[2k], x[2k+1]).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace focalscope
