#include "engine/models/hunyuan/text/llama.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/models/hunyuan/text/hf_folder.h"

namespace focalscope {

using json = nlohmann::json;

// ---- config ------------------------------------------------------------------------------------------------------
LlamaConfig LlamaConfig::from_json(const json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "Llama config must be a JSON object");
  LlamaConfig c;
  c.vocab_size = cfg_int(j, "vocab_size", c.vocab_size, where);
  c.hidden_size = cfg_int(j, "hidden_size", c.hidden_size, where);
  c.intermediate_size = cfg_int(j, "intermediate_size", c.intermediate_size, where);
  c.num_hidden_layers = cfg_int(j, "num_hidden_layers", c.num_hidden_layers, where);
  c.num_attention_heads = cfg_int(j, "num_attention_heads", c.num_attention_heads, where);
  c.num_key_value_heads = cfg_int(j, "num_key_value_heads", c.num_attention_heads, where);
  c.head_dim = cfg_int(j, "head_dim", c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0, where);
  c.rms_norm_eps = cfg_num(j, "rms_norm_eps", c.rms_norm_eps, where);
  c.rope_theta = cfg_num(j, "rope_theta", c.rope_theta, where);
  c.hidden_act = cfg_str(j, "hidden_act", c.hidden_act, where);
  c.attention_bias = cfg_bool(j, "attention_bias", false, where);
  c.mlp_bias = cfg_bool(j, "mlp_bias", false, where);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& r = j["rope_scaling"];
    const std::string w = where + ": \"rope_scaling\"";
    if (!r.is_object()) fail(where, "\"rope_scaling\" must be an object or null");
    // transformers accepts "rope_type" (current) or "type" (older files).
    std::string type = cfg_str(r, "rope_type", cfg_str(r, "type", "default", w), w);
    c.rope_scaling.type = type;
    if (type == "linear" || type == "llama3") {
      c.rope_scaling.factor = cfg_num(r, "factor", 0.0, w);
      if (!(c.rope_scaling.factor >= 1.0)) fail(where, "\"rope_scaling\".\"factor\" must be >= 1");
    }
    if (type == "llama3") {
      for (const char* k : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
        if (!r.contains(k)) fail(where, std::string("\"rope_scaling\" of type llama3 needs \"") + k + "\"");
      c.rope_scaling.low_freq_factor = cfg_num(r, "low_freq_factor", 1.0, w);
      c.rope_scaling.high_freq_factor = cfg_num(r, "high_freq_factor", 4.0, w);
      c.rope_scaling.original_max_position_embeddings = cfg_int(r, "original_max_position_embeddings", 8192, w);
    } else if (type != "default" && type != "linear") {
      fail(where, "\"rope_scaling\" type '" + json_detail::one_line(type, 40) + "' is not supported (linear, llama3)");
    }
  }
  c.validate(where);
  return c;
}

void LlamaConfig::validate(const std::string& where) const {
  auto pos = [&](const char* k, int64_t v) {
    if (v <= 0) fail(where, std::string("\"") + k + "\" must be positive, got " + std::to_string(v));
  };
  pos("vocab_size", vocab_size);
  pos("hidden_size", hidden_size);
  pos("intermediate_size", intermediate_size);
  pos("num_attention_heads", num_attention_heads);
  pos("num_key_value_heads", num_key_value_heads);
  pos("head_dim", head_dim);
  if (num_hidden_layers < 0) fail(where, "\"num_hidden_layers\" must be >= 0");
  if (num_attention_heads % num_key_value_heads != 0)
    fail(where, "\"num_attention_heads\" " + std::to_string(num_attention_heads) + " is not a multiple of \"num_key_value_heads\" " +
                    std::to_string(num_key_value_heads));
  if (head_dim % 2 != 0) fail(where, "head_dim " + std::to_string(head_dim) + " must be even (rotary pairs)");
  if (!(rms_norm_eps > 0)) fail(where, "\"rms_norm_eps\" must be positive");
  if (!(rope_theta > 0)) fail(where, "\"rope_theta\" must be positive");
  if (mlp_bias) fail(where, "\"mlp_bias\": true is not supported");
  if (hidden_act != "silu") fail(where, "\"hidden_act\" '" + hidden_act + "' is not supported (Llama uses silu)");
  if (rope_scaling.type == "llama3" && !(rope_scaling.high_freq_factor > rope_scaling.low_freq_factor))
    fail(where, "\"rope_scaling\": high_freq_factor must exceed low_freq_factor");
}

json LlamaConfig::to_json() const {
  json j = {{"model_type", "llama"},
            {"vocab_size", vocab_size},
            {"hidden_size", hidden_size},
            {"intermediate_size", intermediate_size},
            {"num_hidden_layers", num_hidden_layers},
            {"num_attention_heads", num_attention_heads},
            {"num_key_value_heads", num_key_value_heads},
            {"head_dim", head_dim},
            {"rms_norm_eps", rms_norm_eps},
            {"rope_theta", rope_theta},
            {"hidden_act", hidden_act},
            {"attention_bias", attention_bias},
            {"mlp_bias", mlp_bias}};
  if (rope_scaling.type == "default") {
    j["rope_scaling"] = nullptr;
  } else {
    j["rope_scaling"] = {{"rope_type", rope_scaling.type}, {"factor", rope_scaling.factor}};
    if (rope_scaling.type == "llama3") {
      j["rope_scaling"]["low_freq_factor"] = rope_scaling.low_freq_factor;
      j["rope_scaling"]["high_freq_factor"] = rope_scaling.high_freq_factor;
      j["rope_scaling"]["original_max_position_embeddings"] = rope_scaling.original_max_position_embeddings;
    }
  }
  return j;
}

// ---- RoPE / norm ------------------------------------------------------------------------------------------------
at::Tensor llama_inv_freq(const LlamaConfig& cfg) {
  const int64_t d = cfg.head_dim;
  // As transformers: 1 / theta^(arange(0, d, 2) / d) in float32.
  at::Tensor inv = 1.0 / at::pow(cfg.rope_theta, at::arange(0, d, 2, at::kLong).to(at::kFloat) / static_cast<double>(d));
  const auto& rs = cfg.rope_scaling;
  if (rs.type == "linear") return inv / rs.factor;
  if (rs.type == "llama3") {
    const double old_len = static_cast<double>(rs.original_max_position_embeddings);
    const double low_wavelen = old_len / rs.low_freq_factor, high_wavelen = old_len / rs.high_freq_factor;
    at::Tensor wavelen = 2.0 * M_PI / inv;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv / rs.factor, inv);
    at::Tensor smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    at::Tensor medium = at::logical_not(wavelen < high_wavelen).logical_and(at::logical_not(wavelen > low_wavelen));
    return at::where(medium, smoothed, scaled);
  }
  return inv;
}

std::pair<at::Tensor, at::Tensor> llama_rope_cos_sin(const LlamaConfig& cfg, const at::Tensor& position_ids) {
  at::Tensor inv = llama_inv_freq(cfg).to(position_ids.device());
  at::Tensor freqs = position_ids.to(at::kFloat).unsqueeze(-1) * inv.view({1, 1, -1});  // [B, L, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

at::Tensor llama_apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t h = x.size(-1) / 2;
  at::Tensor rot = at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
  at::Tensor c = cos.unsqueeze(1).to(x.scalar_type()), s = sin.unsqueeze(1).to(x.scalar_type());  // [B, 1, L, d]
  return x * c + rot * s;
}

at::Tensor llama_rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return w * y.to(x.scalar_type());
}

// ---- parameters ---------------------------------------------------------------------------------------------------
namespace {
template <typename Layer, typename Fn>
void for_each_layer_param(Layer& l, const LlamaConfig& c, const std::string& p, Fn&& fn) {
  const int64_t D = c.hidden_size, I = c.intermediate_size, Nq = c.num_attention_heads * c.head_dim,
                Nk = c.num_key_value_heads * c.head_dim;
  fn(p + "input_layernorm.weight", l.input_layernorm, std::vector<int64_t>{D});
  fn(p + "self_attn.q_proj.weight", l.q_proj, std::vector<int64_t>{Nq, D});
  fn(p + "self_attn.k_proj.weight", l.k_proj, std::vector<int64_t>{Nk, D});
  fn(p + "self_attn.v_proj.weight", l.v_proj, std::vector<int64_t>{Nk, D});
  fn(p + "self_attn.o_proj.weight", l.o_proj, std::vector<int64_t>{D, Nq});
  if (c.attention_bias) {
    fn(p + "self_attn.q_proj.bias", l.q_bias, std::vector<int64_t>{Nq});
    fn(p + "self_attn.k_proj.bias", l.k_bias, std::vector<int64_t>{Nk});
    fn(p + "self_attn.v_proj.bias", l.v_bias, std::vector<int64_t>{Nk});
    fn(p + "self_attn.o_proj.bias", l.o_bias, std::vector<int64_t>{D});
  }
  fn(p + "post_attention_layernorm.weight", l.post_attention_layernorm, std::vector<int64_t>{D});
  fn(p + "mlp.gate_proj.weight", l.gate_proj, std::vector<int64_t>{I, D});
  fn(p + "mlp.up_proj.weight", l.up_proj, std::vector<int64_t>{I, D});
  fn(p + "mlp.down_proj.weight", l.down_proj, std::vector<int64_t>{D, I});
}
}  // namespace

LlamaDecoder LlamaDecoder::load(WeightLoader& L, const LlamaConfig& cfg, const std::string& prefix, int64_t run_layers,
                                bool keep_final_norm) {
  cfg.validate("Llama config");
  if (run_layers < 0) run_layers = cfg.num_hidden_layers;
  if (run_layers > cfg.num_hidden_layers)
    fail("Llama config", "asked to run " + std::to_string(run_layers) + " of " + std::to_string(cfg.num_hidden_layers) + " layers");
  LlamaDecoder m;
  m.cfg = cfg;
  m.embed_tokens = L.take(prefix + "embed_tokens.weight", {cfg.vocab_size, cfg.hidden_size});
  m.layers.resize(static_cast<size_t>(run_layers));
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
    const std::string p = prefix + "layers." + std::to_string(i) + ".";
    if (i < run_layers) {
      for_each_layer_param(m.layers[static_cast<size_t>(i)], cfg, p,
                           [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>& s) { t = L.take(n, s); });
    } else {
      LlamaLayer unused;
      for_each_layer_param(unused, cfg, p, [&](const std::string& n, at::Tensor&, const std::vector<int64_t>& s) {
        check_and_ignore(L, n, s, "Llama");
      });
    }
  }
  if (keep_final_norm) m.norm = L.take(prefix + "norm.weight", {cfg.hidden_size});
  else check_and_ignore(L, prefix + "norm.weight", {cfg.hidden_size}, "Llama");
  return m;
}

LlamaDecoder LlamaDecoder::from_folder(const std::string& dir, int64_t run_layers, c10::ScalarType dtype) {
  const std::string cfg_path = dir + "/config.json";
  const json j = read_hf_config(dir);
  const LlamaConfig cfg = naming_file(cfg_path, [&] { return LlamaConfig::from_json(j, cfg_path); });
  TensorSet set = load_hf_weights(dir);
  std::string prefix;
  for (const char* p : {"model.", "language_model.model.", "model.language_model.", ""})
    if (set.has(std::string(p) + "embed_tokens.weight")) {
      prefix = p;
      break;
    }
  WeightLoader L(set, "Llama", dtype);
  LlamaDecoder m = load(L, cfg, prefix, run_layers, run_layers < 0 || run_layers == cfg.num_hidden_layers);
  for (const char* head : {"lm_head.weight", "language_model.lm_head.weight"})
    if (set.has(head)) check_and_ignore(L, head, {cfg.vocab_size, cfg.hidden_size}, "Llama");
  L.finish();
  return m;
}

LlamaDecoder LlamaDecoder::random_init(const LlamaConfig& cfg, uint64_t seed) {
  cfg.validate("Llama config");
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto f = at::TensorOptions().dtype(at::kFloat);
  auto mat = [&](const std::vector<int64_t>& s) { return at::randn(s, gen, f) / std::sqrt(static_cast<double>(s.back())); };
  LlamaDecoder m;
  m.cfg = cfg;
  m.embed_tokens = at::randn({cfg.vocab_size, cfg.hidden_size}, gen, f);
  m.layers.resize(static_cast<size_t>(cfg.num_hidden_layers));
  for (auto& l : m.layers)
    for_each_layer_param(l, cfg, "", [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>& s) {
      if (s.size() == 1 && n.find("layernorm") != std::string::npos) t = 1.0 + 0.1 * at::randn(s, gen, f);
      else if (s.size() == 1) t = 0.05 * at::randn(s, gen, f);
      else t = mat(s);
    });
  m.norm = 1.0 + 0.1 * at::randn({cfg.hidden_size}, gen, f);
  return m;
}

std::vector<std::pair<std::string, at::Tensor>> LlamaDecoder::named_parameters(const std::string& prefix) const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back(prefix + "embed_tokens.weight", embed_tokens);
  for (size_t i = 0; i < layers.size(); ++i) {
    LlamaLayer l = layers[i];
    for_each_layer_param(l, cfg, prefix + "layers." + std::to_string(i) + ".",
                         [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>&) { out.emplace_back(n, t); });
  }
  if (norm.defined()) out.emplace_back(prefix + "norm.weight", norm);
  return out;
}

// ---- forward ---------------------------------------------------------------------------------------------------------
at::Tensor LlamaDecoder::embed(const at::Tensor& ids) const {
  at::Tensor i = ids.to(embed_tokens.device(), at::kLong);
  if (i.numel() && (i.min().item<int64_t>() < 0 || i.max().item<int64_t>() >= cfg.vocab_size))
    fail("Llama", "token id outside the vocabulary of " + std::to_string(cfg.vocab_size));
  return at::embedding(embed_tokens, i);
}

int64_t LlamaDecoder::layers_for_index(int64_t index) const {
  const int64_t L = cfg.num_hidden_layers;
  const int64_t k = index < 0 ? index + L + 1 : index;
  if (k < 0 || k > L) fail("Llama", "hidden_states index " + std::to_string(index) + " is outside [-" + std::to_string(L + 1) + ", " + std::to_string(L) + "]");
  return k;
}

at::Tensor LlamaDecoder::forward(const at::Tensor& x_in, const at::Tensor& mask_in, const at::Tensor& pos_in, int64_t n_layers,
                                 std::vector<at::Tensor>* all) const {
  if (!x_in.defined() || x_in.dim() != 3 || x_in.size(2) != cfg.hidden_size)
    fail("Llama", "inputs_embeds must be [B, L, " + std::to_string(cfg.hidden_size) + "]");
  if (n_layers < 0 || n_layers > static_cast<int64_t>(layers.size()))
    fail("Llama", "asked for " + std::to_string(n_layers) + " layers, " + std::to_string(layers.size()) + " are loaded");
  const int64_t B = x_in.size(0), L = x_in.size(1), N = cfg.num_attention_heads, Nkv = cfg.num_key_value_heads, d = cfg.head_dim;
  const auto dev = embed_tokens.device();
  const auto dt = embed_tokens.scalar_type();
  at::Tensor x = x_in.to(dev, dt);
  at::Tensor mask = mask_in.defined() ? mask_in.to(dev) : at::ones({B, L}, at::TensorOptions().dtype(at::kLong).device(dev));
  at::Tensor pos = pos_in.defined() ? pos_in.to(dev, at::kLong)
                                    : at::arange(L, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(0).expand({B, L});
  if (mask.sizes() != at::IntArrayRef({B, L}) || pos.sizes() != at::IntArrayRef({B, L}))
    fail("Llama", "mask and position_ids must be [B, L]");
  auto [cos, sin] = llama_rope_cos_sin(cfg, pos);
  // allowed[b, 0, i, j] = j <= i and mask[b, j]; disallowed logits get the float32 lowest value (as transformers).
  at::Tensor causal = at::ones({L, L}, at::TensorOptions().dtype(at::kBool).device(dev)).tril();
  at::Tensor allowed = causal.view({1, 1, L, L}).logical_and(mask.ne(0).view({B, 1, 1, L}));
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const float lowest = std::numeric_limits<float>::lowest();
  if (all) all->assign(1, x);
  for (int64_t li = 0; li < n_layers; ++li) {
    const LlamaLayer& l = layers[static_cast<size_t>(li)];
    at::Tensor h = llama_rms_norm(x, l.input_layernorm, cfg.rms_norm_eps);
    at::Tensor q = at::linear(h, l.q_proj, l.q_bias).view({B, L, N, d}).transpose(1, 2);
    at::Tensor k = at::linear(h, l.k_proj, l.k_bias).view({B, L, Nkv, d}).transpose(1, 2);
    at::Tensor v = at::linear(h, l.v_proj, l.v_bias).view({B, L, Nkv, d}).transpose(1, 2);
    q = llama_apply_rope(q, cos, sin);
    k = llama_apply_rope(k, cos, sin);
    if (Nkv != N) {
      k = k.repeat_interleave(N / Nkv, 1);
      v = v.repeat_interleave(N / Nkv, 1);
    }
    at::Tensor s = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat) * scale;
    s = s.masked_fill(allowed.logical_not(), lowest);
    at::Tensor p = at::softmax(s, -1).to(v.scalar_type());
    at::Tensor a = at::matmul(p, v).transpose(1, 2).reshape({B, L, N * d});
    x = x + at::linear(a, l.o_proj, l.o_bias);
    h = llama_rms_norm(x, l.post_attention_layernorm, cfg.rms_norm_eps);
    x = x + at::linear(at::silu(at::linear(h, l.gate_proj)) * at::linear(h, l.up_proj), l.down_proj);
    if (all) all->push_back(x);
  }
  return x;
}

at::Tensor LlamaDecoder::hidden_state(const at::Tensor& inputs_embeds, const at::Tensor& mask, const at::Tensor& position_ids,
                                      int64_t index) const {
  const int64_t k = layers_for_index(index);
  if (k < cfg.num_hidden_layers) return forward(inputs_embeds, mask, position_ids, k);
  if (!norm.defined()) fail("Llama", "the final norm was not loaded");
  return llama_rms_norm(forward(inputs_embeds, mask, position_ids, k), norm, cfg.rms_norm_eps);
}

}  // namespace focalscope
