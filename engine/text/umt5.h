// umT5 encoder (Wan's `T5Encoder`, wan/modules/t5.py; ARCHITECTURE.md §6), plain ATen.
//
//   x = token_embedding[ids]                         (no scaling)
//   per block:  x += Attn(RMSNorm1(x), mask, pos_bias)
//               x += fc2( fc1(h) * gelu_tanh(gate(h)) ),  h = RMSNorm2(x)
//   out = RMSNorm(x)
//
// Attention: no 1/sqrt(d) scaling; logits + bias where bias = relative position bias [1,H,Lq,Lk] except at
// keys with mask 0, where it is replaced by the most negative finite value of the compute dtype; softmax in
// float32. RMS norms compute their statistics in float32 (eps 1e-6). Relative buckets are bidirectional,
// max distance 128. Each block owns its position embedding unless `shared_pos`.
//
// Autograd-safe (no in-place ops on parameters): the trainer sets requires_grad on named_parameters().
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/fixture.h"
#include "engine/core/weights.h"

namespace focalscope {

struct UMT5Config {
  int64_t vocab = 256384;
  int64_t dim = 4096;
  int64_t dim_attn = 4096;
  int64_t dim_ffn = 10240;
  int64_t num_heads = 64;
  int64_t num_layers = 24;
  int64_t num_buckets = 32;
  bool shared_pos = false;
  // Fixed by upstream (not constructor arguments).
  int64_t max_distance = 128;
  double eps = 1e-6;

  int64_t head_dim() const { return dim_attn / num_heads; }

  static UMT5Config umt5_xxl();
  // From `T5Encoder` constructor_args {vocab, dim, dim_attn, dim_ffn, num_heads, num_layers, num_buckets,
  // shared_pos[, dropout]} (dropout is ignored: inference / deterministic training). `where` names the source.
  static UMT5Config from_json(const nlohmann::json& args, const std::string& where = "umT5 config");
  nlohmann::json to_json() const;
  // Reads every dimension off the tensor shapes (token_embedding, blocks.N.*, pos embeddings).
  static UMT5Config infer(const TensorSet& weights);
  void validate(const std::string& where = "umT5 config") const;  // throws Error on nonsense values
};

struct UMT5Block {
  at::Tensor norm1;          // [dim]
  at::Tensor q, k, v;        // [dim_attn, dim]
  at::Tensor o;              // [dim, dim_attn]
  at::Tensor norm2;          // [dim]
  at::Tensor gate, fc1;      // [dim_ffn, dim]
  at::Tensor fc2;            // [dim, dim_ffn]
  at::Tensor pos_embedding;  // [num_buckets, num_heads]; undefined when shared_pos
};

struct UMT5Weights {
  at::Tensor token_embedding;  // [vocab, dim]
  at::Tensor pos_embedding;    // [num_buckets, num_heads]; only when shared_pos ("pos_embedding.embedding.weight")
  std::vector<UMT5Block> blocks;
  at::Tensor norm;             // [dim]
};

class UMT5Encoder {
 public:
  UMT5Config config;
  UMT5Weights w;

  // Strict load by upstream names (BF16/F16/F32 accepted, converted to `dtype`); unexpected tensors fail.
  static UMT5Encoder load(const TensorSet& weights, const UMT5Config& config, c10::ScalarType dtype = at::kFloat,
                          c10::Device device = c10::Device(c10::DeviceType::CPU));
  // Config inferred from the shapes (e.g. models_t5_umt5-xxl-enc-bf16.pth, or a file written by save()).
  static UMT5Encoder load(const TensorSet& weights, c10::ScalarType dtype = at::kFloat,
                          c10::Device device = c10::Device(c10::DeviceType::CPU));
  static UMT5Encoder load_file(const std::string& path, c10::ScalarType dtype = at::kFloat,
                               c10::Device device = c10::Device(c10::DeviceType::CPU));
  // Seeded random init (upstream's init scheme: norms 1, embeddings / linears normal with fan-in stds).
  // Deterministic for a given seed regardless of device (drawn on CPU in float32, then converted).
  static UMT5Encoder random(const UMT5Config& config, uint64_t seed, c10::ScalarType dtype = at::kFloat,
                            c10::Device device = c10::Device(c10::DeviceType::CPU));

  // Every parameter under its upstream state-dict name, in state-dict order. The tensors share storage
  // with the model (setting requires_grad / optimiser updates act on the model).
  NamedTensors named_parameters() const;
  // safetensors with the config as metadata ("umt5_config": JSON).
  void save(const std::string& path) const;

  c10::ScalarType dtype() const { return w.token_embedding.scalar_type(); }
  c10::Device device() const { return w.token_embedding.device(); }

  // ids [B,L] integer, mask [B,L] (nonzero = real token) -> [B,L,dim] in the compute dtype. All positions
  // are computed (padding rows too). When block_outs is given it receives each block's output (before the
  // final norm).
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask, std::vector<at::Tensor>* block_outs = nullptr) const;
  // What T5EncoderModel.__call__ returns: per prompt the first sum(mask) rows, [n_b, dim].
  std::vector<at::Tensor> encode_trimmed(const at::Tensor& ids, const at::Tensor& mask) const;
  // Relative position bias of a block (or of the shared embedding): [1, heads, lq, lk] in the compute dtype.
  at::Tensor position_bias(int64_t layer, int64_t lq, int64_t lk) const;
};

// Bucket of relative position (key j - query i) for every (i, j): [lq, lk] int64, bidirectional.
at::Tensor umt5_relative_buckets(int64_t lq, int64_t lk, int64_t num_buckets = 32, int64_t max_distance = 128);
// embedding [num_buckets, heads] -> bias [1, heads, lq, lk] (differentiable w.r.t. the embedding).
at::Tensor umt5_position_bias(const at::Tensor& embedding, int64_t lq, int64_t lk, int64_t max_distance = 128);
// x * rsqrt(mean(x^2) + eps) * weight, statistics in float32; result in weight's dtype for half types.
at::Tensor umt5_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps = 1e-6);
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
at::Tensor umt5_gelu_tanh(const at::Tensor& x);

// Reproduces every output tensor of a umt5_tiny-style fixture folder (config.json constructor_args,
// weights.safetensors, io.safetensors): out{S}, out{S}_trimmed for each input pair ids{S}/mask{S},
// block{i}_out{S}, block{i}_pos_bias_L{n}, rel_buckets_L{n} (lengths from the reference tensors' shapes).
FixtureResult run_umt5_fixture(const Fixture& fixture);

}  // namespace focalscope
