#include "engine/clip/clip_block.h"

#include <ATen/ATen.h>

#include <cmath>

namespace focalscope {

at::Tensor clip_layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps) {
  if (x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat) return at::layer_norm(x, {x.size(-1)}, w, b, eps);
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, w.to(at::kFloat), b.to(at::kFloat), eps).to(x.scalar_type());
}

at::Tensor clip_block_forward(const ClipBlock& b, const at::Tensor& x, const ClipBlockOptions& o, const at::Tensor& key_bias) {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), N = o.num_heads, d = C / N;
  auto attn = [&](const at::Tensor& h) {
    at::Tensor qkv = at::linear(h, b.qkv_w, b.qkv_b).view({B, L, 3, N, d});
    at::Tensor q = qkv.select(2, 0).transpose(1, 2);  // [B,N,L,d]
    at::Tensor k = qkv.select(2, 1).transpose(1, 2);
    at::Tensor v = qkv.select(2, 2).transpose(1, 2);
    at::Tensor s = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(d)));
    if (key_bias.defined()) s = s + key_bias;
    at::Tensor p = at::softmax(s.to(at::kFloat), -1).to(v.scalar_type());
    at::Tensor out = at::matmul(p, v).transpose(1, 2).reshape({B, L, C});
    return at::linear(out, b.proj_w, b.proj_b);
  };
  auto mlp = [&](const at::Tensor& h) {
    at::Tensor y = at::linear(h, b.fc1_w, b.fc1_b);
    y = o.quick_gelu ? y * at::sigmoid(1.702 * y) : at::gelu(y);
    return at::linear(y, b.fc2_w, b.fc2_b);
  };
  at::Tensor y;
  if (o.post_norm) {
    y = x + clip_layer_norm(attn(x), b.norm1_w, b.norm1_b, o.eps);
    y = y + clip_layer_norm(mlp(y), b.norm2_w, b.norm2_b, o.eps);
  } else {
    y = x + attn(clip_layer_norm(x, b.norm1_w, b.norm1_b, o.eps));
    y = y + mlp(clip_layer_norm(y, b.norm2_w, b.norm2_b, o.eps));
  }
  return y;
}

}  // namespace focalscope
