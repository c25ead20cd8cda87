// The transformer block both CLIP towers share (open_clip's VisionTransformer and text Transformer use the same
// layout): parameters, their upstream names and shapes, and the forward. One definition, so the image tower that
// reproduces the fixtures and the toy text tower cannot drift apart.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace focalscope {

struct ClipBlock {
  at::Tensor norm1_w, norm1_b;
  at::Tensor qkv_w, qkv_b;    // attn.to_qkv: [3*dim, dim], output = q | k | v, heads contiguous inside each
  at::Tensor proj_w, proj_b;  // attn.proj
  at::Tensor norm2_w, norm2_b;
  at::Tensor fc1_w, fc1_b;    // mlp.0
  at::Tensor fc2_w, fc2_b;    // mlp.2
};

// Calls fn(name, tensor&, shape) for the block's parameters, named prefix + upstream suffix, width D, MLP width H.
template <typename B, typename Fn>
void for_each_clip_block_param(B& b, const std::string& prefix, int64_t D, int64_t H, Fn&& fn) {
  fn(prefix + "norm1.weight", b.norm1_w, std::vector<int64_t>{D});
  fn(prefix + "norm1.bias", b.norm1_b, std::vector<int64_t>{D});
  fn(prefix + "attn.to_qkv.weight", b.qkv_w, std::vector<int64_t>{3 * D, D});
  fn(prefix + "attn.to_qkv.bias", b.qkv_b, std::vector<int64_t>{3 * D});
  fn(prefix + "attn.proj.weight", b.proj_w, std::vector<int64_t>{D, D});
  fn(prefix + "attn.proj.bias", b.proj_b, std::vector<int64_t>{D});
  fn(prefix + "norm2.weight", b.norm2_w, std::vector<int64_t>{D});
  fn(prefix + "norm2.bias", b.norm2_b, std::vector<int64_t>{D});
  fn(prefix + "mlp.0.weight", b.fc1_w, std::vector<int64_t>{H, D});
  fn(prefix + "mlp.0.bias", b.fc1_b, std::vector<int64_t>{H});
  fn(prefix + "mlp.2.weight", b.fc2_w, std::vector<int64_t>{D, H});
  fn(prefix + "mlp.2.bias", b.fc2_b, std::vector<int64_t>{D});
}

// Upstream LayerNorm: computed in float32, cast back.
at::Tensor clip_layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps);

struct ClipBlockOptions {
  int64_t num_heads = 1;
  double eps = 1e-5;
  bool post_norm = false;   // x + norm(attn(x)) instead of x + attn(norm(x))
  bool quick_gelu = false;  // y * sigmoid(1.702 y) instead of gelu
};

// x [B, L, dim] -> [B, L, dim]. key_bias (optional, [B, 1, 1, L]) is added to the attention logits (padding masks).
at::Tensor clip_block_forward(const ClipBlock& b, const at::Tensor& x, const ClipBlockOptions& o,
                              const at::Tensor& key_bias = {});

}  // namespace focalscope
