// HunyuanModel: loading (strict, by upstream state-dict name), random initialisation and the parameter list — one
// walk over the module tree serves all three. The forward is in hunyuan_forward.cpp.
#include "engine/models/hunyuan/hunyuan_model.h"

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/models/hunyuan/hunyuan_layers.h"

namespace focalscope {

namespace {

// Where a model's tensors come from: a checkpoint (every name and shape checked) or random values made on the device
// (bench-step, layout fixtures). One builder below walks the module tree for both, so they cannot drift apart.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // f32: a precision-sensitive tensor kept in float32 whatever the model dtype.
  virtual void linear(Linear& l, const std::string& name, int64_t in, int64_t out, bool bias = true, bool f32 = false) = 0;
  virtual void norm(Norm& n, const std::string& name, int64_t size, bool bias) = 0;  // always float32
  virtual void tensor(at::Tensor& t, const std::string& name, const std::vector<int64_t>& shape) = 0;
};

class CheckpointSource final : public TensorSource {
 public:
  CheckpointSource(const TensorSet& w, c10::ScalarType dtype, c10::Device dev)
      : L(w, "HunyuanVideo DiT", dtype, dev), L32(w, "HunyuanVideo DiT", at::kFloat, dev) {}
  void linear(Linear& l, const std::string& name, int64_t in, int64_t out, bool bias, bool f32) override {
    l.load(f32 ? L32 : L, name, in, out, bias);
    if (f32) claim_in_main(name, bias);
  }
  void norm(Norm& n, const std::string& name, int64_t size, bool bias) override {
    n.load(L32, name, size, bias);
    claim_in_main(name, bias);
  }
  void tensor(at::Tensor& t, const std::string& name, const std::vector<int64_t>& shape) override { t = L.take(name, shape); }
  void finish() const { L.finish(); }

 private:
  // The float32 reader claims these; the main reader's completeness check must still count them as read.
  void claim_in_main(const std::string& name, bool bias) {
    L.ignore(name + ".weight");
    if (bias) L.ignore(name + ".bias");
  }
  WeightLoader L, L32;
};

// Reads the tensors of an existing model back out, by name, in the walk's (= the state dict's) order.
class CollectSource final : public TensorSource {
 public:
  NamedTensors out;
  void linear(Linear& l, const std::string& name, int64_t, int64_t, bool, bool) override { l.collect(name, out); }
  void norm(Norm& n, const std::string& name, int64_t, bool) override { n.collect(name, out); }
  void tensor(at::Tensor& t, const std::string& name, const std::vector<int64_t>&) override { out.emplace_back(name, t); }
};

class RandomSource final : public TensorSource {
 public:
  RandomSource(c10::ScalarType dtype, c10::Device dev, double std)
      : o_(at::TensorOptions().dtype(dtype).device(dev)), o32_(at::TensorOptions().dtype(at::kFloat).device(dev)), std_(std) {}
  void linear(Linear& l, const std::string&, int64_t in, int64_t out, bool bias, bool f32) override {
    l.init(in, out, bias, std_, f32 ? o32_ : o_);
    if (bias) l.b = at::randn({out}, f32 ? o32_ : o_) * std_;  // non-zero: every term of the forward is exercised
  }
  void norm(Norm& n, const std::string&, int64_t size, bool bias) override {
    n.w = 1 + at::randn({size}, o32_) * 0.1;
    if (bias) n.b = at::randn({size}, o32_) * 0.1;
  }
  void tensor(at::Tensor& t, const std::string&, const std::vector<int64_t>& shape) override { t = at::randn(shape, o_) * std_; }

 private:
  at::TensorOptions o_, o32_;
  double std_;
};

void build_mlp(TensorSource& S, HunyuanMlp& m, const std::string& n1, const std::string& n2, int64_t in, int64_t hidden,
               int64_t out) {
  S.linear(m.l1, n1, in, hidden);
  S.linear(m.l2, n2, hidden, out);
}

// Visits every parameter of `m` (sized by m.cfg) in state-dict order, letting S fill or read it.
void walk(HunyuanModel& m, TensorSource& S) {
  const HunyuanConfig& cfg = m.cfg;
  const int64_t D = cfg.hidden_size, M = cfg.mlp_hidden(), hd = cfg.head_dim(), F = cfg.freq_dim;
  // SingleTokenRefiner is built with its default mlp_width_ratio 4.0 whatever the DiT's (models.py:591-594).
  const int64_t Mr = static_cast<int64_t>(D * 4.0);
  const auto& p = cfg.patch_size;
  S.tensor(m.img_in_w, "img_in.proj.weight", {D, cfg.in_channels, p[0], p[1], p[2]});
  S.tensor(m.img_in_b, "img_in.proj.bias", {D});

  S.linear(m.txt_input_embedder, "txt_in.input_embedder", cfg.text_states_dim, D);
  build_mlp(S, m.txt_t_embedder, "txt_in.t_embedder.mlp.0", "txt_in.t_embedder.mlp.2", F, D, D);
  build_mlp(S, m.txt_c_embedder, "txt_in.c_embedder.linear_1", "txt_in.c_embedder.linear_2", cfg.text_states_dim, D, D);
  m.refiner.resize(cfg.refiner_depth);
  for (int i = 0; i < cfg.refiner_depth; ++i) {
    auto& b = m.refiner[i];
    const std::string pre = "txt_in.individual_token_refiner.blocks." + std::to_string(i) + ".";
    S.norm(b.norm1, pre + "norm1", D, true);
    S.linear(b.self_attn_qkv, pre + "self_attn_qkv", D, 3 * D);
    S.linear(b.self_attn_proj, pre + "self_attn_proj", D, D);
    S.norm(b.norm2, pre + "norm2", D, true);
    build_mlp(S, b.mlp, pre + "mlp.fc1", pre + "mlp.fc2", D, Mr, D);
    S.linear(b.adaLN, pre + "adaLN_modulation.1", D, 2 * D);
  }

  build_mlp(S, m.time_in, "time_in.mlp.0", "time_in.mlp.2", F, D, D);
  build_mlp(S, m.vector_in, "vector_in.in_layer", "vector_in.out_layer", cfg.text_states_dim_2, D, D);
  if (cfg.guidance_embed) build_mlp(S, m.guidance_in, "guidance_in.mlp.0", "guidance_in.mlp.2", F, D, D);

  m.double_blocks.resize(cfg.mm_double_blocks_depth);
  for (int i = 0; i < cfg.mm_double_blocks_depth; ++i) {
    const std::string pre = "double_blocks." + std::to_string(i) + ".";
    for (auto [s, name] : {std::pair<HunyuanStream*, const char*>{&m.double_blocks[i].img, "img"}, {&m.double_blocks[i].txt, "txt"}}) {
      const std::string sp = pre + name;
      S.linear(s->mod, sp + "_mod.linear", D, 6 * D);
      S.linear(s->attn_qkv, sp + "_attn_qkv", D, 3 * D, cfg.qkv_bias);
      S.norm(s->attn_q_norm, sp + "_attn_q_norm", hd, false);
      S.norm(s->attn_k_norm, sp + "_attn_k_norm", hd, false);
      S.linear(s->attn_proj, sp + "_attn_proj", D, D, cfg.qkv_bias);
      build_mlp(S, s->mlp, sp + "_mlp.fc1", sp + "_mlp.fc2", D, M, D);
    }
  }
  m.single_blocks.resize(cfg.mm_single_blocks_depth);
  for (int i = 0; i < cfg.mm_single_blocks_depth; ++i) {
    auto& b = m.single_blocks[i];
    const std::string pre = "single_blocks." + std::to_string(i) + ".";
    S.linear(b.linear1, pre + "linear1", D, 3 * D + M);
    S.linear(b.linear2, pre + "linear2", D + M, D);
    S.norm(b.q_norm, pre + "q_norm", hd, false);
    S.norm(b.k_norm, pre + "k_norm", hd, false);
    S.linear(b.modulation, pre + "modulation.linear", D, 3 * D);
  }

  S.linear(m.final_mod, "final_layer.adaLN_modulation.1", D, 2 * D);
  // Upstream's FinalLayer creates this Linear without the model dtype (mlp_layers.py:96-101): float32 always.
  S.linear(m.final_linear, "final_layer.linear", D, int64_t(cfg.out_channels) * cfg.patch_volume(), true, /*f32=*/true);
}

HunyuanModel build(const HunyuanConfig& cfg, TensorSource& S) {
  HunyuanModel m;
  m.cfg = cfg;
  walk(m, S);
  return m;
}

}  // namespace

HunyuanModel HunyuanModel::load(const TensorSet& weights, HunyuanConfig cfg, c10::ScalarType dtype, c10::Device device) {
  // The text encoders' widths are not model hyper-parameters upstream (they come from argparse), and the release
  // ships no DiT config: read them off the checkpoint.
  if (weights.has("txt_in.input_embedder.weight") && weights.get("txt_in.input_embedder.weight").dim() == 2)
    cfg.text_states_dim = static_cast<int>(weights.get("txt_in.input_embedder.weight").size(1));
  if (weights.has("vector_in.in_layer.weight") && weights.get("vector_in.in_layer.weight").dim() == 2)
    cfg.text_states_dim_2 = static_cast<int>(weights.get("vector_in.in_layer.weight").size(1));
  cfg.validate();
  if (cfg.guidance_embed != weights.has("guidance_in.mlp.0.weight"))
    fail(weights.origin, std::string("config says guidance_embed ") + (cfg.guidance_embed ? "true" : "false") +
                             " but the checkpoint " + (cfg.guidance_embed ? "has no" : "has a") +
                             " guidance embedding (guidance_in.mlp.0.weight)");
  CheckpointSource src(weights, dtype, device);
  HunyuanModel m = build(cfg, src);
  src.finish();
  return m;
}

HunyuanModel HunyuanModel::random(const HunyuanConfig& cfg, c10::ScalarType dtype, c10::Device device, double std) {
  cfg.validate();
  RandomSource src(dtype, device, std);
  return build(cfg, src);
}

NamedTensors HunyuanModel::named_parameters() const {
  HunyuanModel view = *this;  // shares the tensors; walk() needs a non-const model
  CollectSource c;
  walk(view, c);
  return std::move(c.out);
}

std::pair<at::Tensor, at::Tensor> HunyuanModel::rope_for_latent(int64_t T, int64_t H, int64_t W) const {
  const auto& p = cfg.patch_size;
  return hunyuan::rope_tables(cfg.rope_dim_list, {T / p[0], H / p[1], W / p[2]}, cfg.rope_theta,
                              cfg.rope_theta_rescale_factor);
}

}  // namespace focalscope
