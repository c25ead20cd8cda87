#include "engine/clip/clip_text.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "engine/core/error.h"

namespace focalscope {

ClipTextConfig ClipTextConfig::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "CLIP text config must be a JSON object");
  ClipTextConfig c;
  try {
    c.vocab = j.at("vocab").get<int>();
    c.text_len = j.at("text_len").get<int>();
    c.dim = j.at("dim").get<int>();
    c.num_heads = j.at("num_heads").get<int>();
    c.num_layers = j.at("num_layers").get<int>();
    c.mlp_ratio = j.value("mlp_ratio", 4.0);
    c.out_dim = j.at("out_dim").get<int>();
    c.norm_eps = j.value("norm_eps", 1e-5);
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("bad CLIP text config: ") + e.what());
  }
  c.validate(where);
  return c;
}

nlohmann::json ClipTextConfig::to_json() const {
  return {{"vocab", vocab},         {"text_len", text_len},   {"dim", dim},         {"num_heads", num_heads},
          {"num_layers", num_layers}, {"mlp_ratio", mlp_ratio}, {"out_dim", out_dim}, {"norm_eps", norm_eps}};
}

void ClipTextConfig::validate(const std::string& where) const {
  if (vocab < 3 || text_len < 1 || dim < 1 || num_heads < 1 || num_layers < 0 || out_dim < 1 || !(mlp_ratio > 0))
    fail(where, "sizes must be positive (vocab >= 3): " + to_json().dump());
  if (dim % num_heads != 0) fail(where, "dim " + std::to_string(dim) + " is not divisible by num_heads " + std::to_string(num_heads));
}

namespace {
template <typename M, typename Fn>
void for_each_param(M& m, Fn&& fn) {
  const auto& c = m.cfg;
  const int64_t D = c.dim, H = c.mlp_dim();
  fn("token_embedding", m.token_embedding, std::vector<int64_t>{c.vocab, D});
  fn("pos_embedding", m.pos_embedding, std::vector<int64_t>{c.text_len, D});
  for (size_t i = 0; i < m.blocks.size(); ++i)
    for_each_clip_block_param(m.blocks[i], "transformer." + std::to_string(i) + ".", D, H, fn);
  fn("norm.weight", m.norm_w, std::vector<int64_t>{D});
  fn("norm.bias", m.norm_b, std::vector<int64_t>{D});
  fn("head", m.head, std::vector<int64_t>{D, static_cast<int64_t>(c.out_dim)});
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
}  // namespace

ClipText ClipText::load(const TensorSet& set, const ClipTextConfig& cfg, const std::string& prefix, c10::ScalarType dtype,
                        c10::Device device) {
  cfg.validate(set.origin.empty() ? "CLIP text config" : set.origin);
  ClipText m;
  m.cfg = cfg;
  m.blocks.resize(static_cast<size_t>(cfg.num_layers));
  WeightLoader wl(set, "CLIP text", dtype, device);
  for_each_param(m, [&](const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape) {
    t = wl.take(prefix + name, shape);
  });
  return m;  // no finish(): the rest of the file is the image tower
}

ClipText ClipText::random_init(const ClipTextConfig& cfg, uint64_t seed, c10::Device device) {
  cfg.validate();
  ClipText m;
  m.cfg = cfg;
  m.blocks.resize(static_cast<size_t>(cfg.num_layers));
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  const double gain = 1.0 / std::sqrt(static_cast<double>(cfg.dim));
  for_each_param(m, [&](const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape) {
    at::Tensor v;
    if (ends_with(name, "norm1.weight") || ends_with(name, "norm2.weight") || name == "norm.weight") {
      v = at::ones(shape, cpu);
    } else if (ends_with(name, ".bias")) {
      v = at::zeros(shape, cpu);
    } else if (name == "token_embedding" || name == "pos_embedding") {
      v = at::randn(shape, gen, cpu) * 0.02;
    } else if (name == "head") {
      v = at::randn(shape, gen, cpu) * gain;
    } else {
      v = at::randn(shape, gen, cpu) / std::sqrt(static_cast<double>(shape[1]));
    }
    t = v.to(device).contiguous();
  });
  return m;
}

NamedTensors ClipText::named_parameters(const std::string& prefix) const {
  NamedTensors out;
  for_each_param(*this, [&](const std::string& name, const at::Tensor& t, const std::vector<int64_t>&) {
    out.emplace_back(prefix + name, t);
  });
  return out;
}

void ClipText::set_requires_grad(bool on) {
  for_each_param(*this, [&](const std::string&, at::Tensor& t, const std::vector<int64_t>&) { t.requires_grad_(on); });
}

at::Tensor ClipText::forward(const at::Tensor& ids_in, const at::Tensor& mask_in) const {
  if (!ids_in.defined() || ids_in.dim() != 2 || !mask_in.defined() || mask_in.sizes() != ids_in.sizes())
    fail("CLIP text", "ids and mask must both be [B, L]");
  const int64_t B = ids_in.size(0), L = ids_in.size(1), N = cfg.num_heads;
  if (L > cfg.text_len) fail("CLIP text", std::to_string(L) + " tokens exceed text_len " + std::to_string(cfg.text_len));
  const auto dev = token_embedding.device();
  at::Tensor ids = ids_in.to(dev, at::kLong), mask = mask_in.to(dev);
  if (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= cfg.vocab)
    fail("CLIP text", "token id outside the vocabulary of " + std::to_string(cfg.vocab));
  at::Tensor x = at::embedding(token_embedding, ids) + pos_embedding.narrow(0, 0, L).unsqueeze(0);
  // Keys at padding positions get -inf-like logits (every row has at least its EOS to attend to).
  at::Tensor key_bias = (mask.ne(0).to(x.scalar_type()) - 1.0).mul(1e9).view({B, 1, 1, L});
  for (const auto& b : blocks) x = clip_block_forward(b, x, {N, cfg.norm_eps, false, false}, key_bias);
  return clip_layer_norm(x, norm_w, norm_b, cfg.norm_eps);
}

at::Tensor ClipText::token_embeddings(const at::Tensor& ids, const at::Tensor& mask) const {
  return at::matmul(forward(ids, mask), head);
}

at::Tensor ClipText::select_eos(const at::Tensor& tokens, const at::Tensor& mask) {
  at::Tensor last = (mask.ne(0).sum(1) - 1).clamp_min(0).to(tokens.device(), at::kLong);  // [B]
  at::Tensor idx = last.view({-1, 1, 1}).expand({tokens.size(0), 1, tokens.size(2)});
  return tokens.gather(1, idx).squeeze(1);
}

at::Tensor ClipText::text_embedding(const at::Tensor& ids, const at::Tensor& mask) const {
  return select_eos(token_embeddings(ids, mask), mask);
}

}  // namespace focalscope
