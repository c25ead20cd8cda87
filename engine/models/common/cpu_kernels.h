// Fused float32 CPU kernels for the DiT's inference forward (no autograd).
//
// Why they exist: at the embedded model's size (width 128, 256 tokens per row) OpenBLAS runs the matmuls at
// ~90% of its peak, but every ATen elementwise op around them is a separate pass plus a fresh allocation, and
// ATen's exp/tanh (Sleef, 8 lanes) made softmax and tanh-GELU cost about as much as the GEMMs next to them.
// Each kernel below replaces a chain of ATen ops with one pass over rows that sit in L1.
//
// They record nothing for autograd: wan_model.cpp only calls them when at::GradMode is off (sampling runs
// under InferenceMode); the training forward keeps the plain ATen ops. All take and return float32 CPU tensors.
#pragma once
#include <ATen/ATen.h>

namespace focalscope::cpu {

// True when `t` is a float32 CPU tensor (what every kernel here expects).
bool supported(const at::Tensor& t);

// y[b, l, :] = layer_norm(x[b, l, :]) * scale[b, :] + shift[b, :]: a parameter-free LayerNorm followed by the
// DiT's modulation (scale = 1 + m, shift = m') or by an affine LayerNorm's weight/bias. x [B, L, D];
// scale/shift have D elements per batch row ([B, 1, D], [1, 1, D] or [D]); shift may be undefined.
// `out` (optional): a contiguous [B, L, D] tensor to write into instead of allocating.
at::Tensor layer_norm_scale_shift(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& shift, double eps,
                                  const at::Tensor& out = {});

// RMSNorm over the full width D (WanRMSNorm: x * rsqrt(mean(x^2) + eps) * w), then the interleaved-pair rotary
// embedding per head (cos/sin [L, d/2]; undefined = no rotation), then a constant factor, written head-major:
//   out[b, n, l, :] = factor * rope_l(rms_norm(x[b, l, :]) * w)[n*d : (n+1)*d]      out [B, N, L, d] contiguous.
// x is [B, L, D] with unit stride on D (a column slice of a wider tensor is fine). Head-major output is what the
// attention GEMMs want, so the transposes of the unfused path disappear; `factor` carries 1/sqrt(d) for queries.
// `out` (optional): a contiguous [B, N, L, d] tensor to write into instead of allocating.
at::Tensor rms_norm_rope_heads(const at::Tensor& x, const at::Tensor& w, double eps, int64_t heads,
                               const at::Tensor& cos, const at::Tensor& sin, double factor, const at::Tensor& out = {});

// In-place softmax over the last dimension. x: rows with unit stride, evenly spaced (contiguous, or a column
// slice [.., cols] of a wider buffer). `pad_is_scratch`: the caller's promise that each row may be overwritten up
// to padded_row_stride(cols) floats from its start (a score buffer allocated with that row stride), which lets
// the row's last partial vector be processed in registers instead of element by element; that matters for short
// rows such as the 65 image-context keys (2.5x). Without the promise nothing outside x is touched.
void softmax_lastdim_(const at::Tensor& x, bool pad_is_scratch = false);
int64_t padded_row_stride(int64_t cols);

// In-place tanh-approximated GELU (nn.GELU(approximate='tanh')) on a contiguous tensor.
void gelu_tanh_(const at::Tensor& x);

}  // namespace focalscope::cpu
