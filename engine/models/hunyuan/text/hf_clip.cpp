#include "engine/models/hunyuan/text/hf_clip.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/models/hunyuan/text/hf_folder.h"

namespace focalscope {

using json = nlohmann::json;

// ---- config ---------------------------------------------------------------------------------------------------------
namespace {
void read_common(HfClipTowerConfig& c, const json& j, const std::string& w) {
  c.hidden_size = cfg_int(j, "hidden_size", c.hidden_size, w);
  c.intermediate_size = cfg_int(j, "intermediate_size", c.intermediate_size, w);
  c.num_hidden_layers = cfg_int(j, "num_hidden_layers", c.num_hidden_layers, w);
  c.num_attention_heads = cfg_int(j, "num_attention_heads", c.num_attention_heads, w);
  c.projection_dim = cfg_int(j, "projection_dim", c.projection_dim, w);
  c.layer_norm_eps = cfg_num(j, "layer_norm_eps", c.layer_norm_eps, w);
  c.hidden_act = cfg_str(j, "hidden_act", c.hidden_act, w);
}
}  // namespace

HfClipTowerConfig HfClipTowerConfig::vision_from_json(const json& j, const std::string& w) {
  if (!j.is_object()) fail(w, "CLIP vision config must be a JSON object");
  HfClipTowerConfig c;  // CLIPVisionConfig defaults: 768 / 3072 / 12 layers / 12 heads / 224 px / patch 32
  read_common(c, j, w);
  c.image_size = cfg_int(j, "image_size", 224, w);
  c.patch_size = cfg_int(j, "patch_size", 32, w);
  c.num_channels = cfg_int(j, "num_channels", 3, w);
  c.validate(w, true);
  return c;
}

HfClipTowerConfig HfClipTowerConfig::text_from_json(const json& j, const std::string& w) {
  if (!j.is_object()) fail(w, "CLIP text config must be a JSON object");
  HfClipTowerConfig c;  // CLIPTextConfig defaults: 512 / 2048 / 12 layers / 8 heads / 77 positions
  c.hidden_size = 512;
  c.intermediate_size = 2048;
  c.num_attention_heads = 8;
  read_common(c, j, w);
  c.vocab_size = cfg_int(j, "vocab_size", 49408, w);
  c.max_position_embeddings = cfg_int(j, "max_position_embeddings", 77, w);
  c.eos_token_id = cfg_int(j, "eos_token_id", 49407, w);
  c.validate(w, false);
  return c;
}

json HfClipTowerConfig::to_json(bool vision) const {
  json j = {{"hidden_size", hidden_size},
            {"intermediate_size", intermediate_size},
            {"num_hidden_layers", num_hidden_layers},
            {"num_attention_heads", num_attention_heads},
            {"projection_dim", projection_dim},
            {"layer_norm_eps", layer_norm_eps},
            {"hidden_act", hidden_act}};
  if (vision) {
    j["model_type"] = "clip_vision_model";
    j["image_size"] = image_size;
    j["patch_size"] = patch_size;
    j["num_channels"] = num_channels;
  } else {
    j["model_type"] = "clip_text_model";
    j["vocab_size"] = vocab_size;
    j["max_position_embeddings"] = max_position_embeddings;
    j["eos_token_id"] = eos_token_id;
  }
  return j;
}

void HfClipTowerConfig::validate(const std::string& w, bool vision) const {
  for (auto [k, v] : {std::pair<const char*, int64_t>{"hidden_size", hidden_size}, {"intermediate_size", intermediate_size},
                      {"num_attention_heads", num_attention_heads}, {"projection_dim", projection_dim}})
    if (v <= 0) fail(w, std::string("\"") + k + "\" must be positive");
  if (num_hidden_layers < 0) fail(w, "\"num_hidden_layers\" must be >= 0");
  if (hidden_size % num_attention_heads != 0) fail(w, "\"hidden_size\" is not a multiple of \"num_attention_heads\"");
  if (hidden_act != "quick_gelu" && hidden_act != "gelu")
    fail(w, "\"hidden_act\" '" + hidden_act + "' is not supported (quick_gelu, gelu)");
  if (!(layer_norm_eps > 0)) fail(w, "\"layer_norm_eps\" must be positive");
  if (vision) {
    if (image_size <= 0 || patch_size <= 0 || num_channels <= 0) fail(w, "image_size, patch_size, num_channels must be positive");
    if (image_size % patch_size != 0) fail(w, "\"image_size\" is not a multiple of \"patch_size\"");
  } else if (vocab_size <= 0 || max_position_embeddings <= 0) {
    fail(w, "\"vocab_size\" and \"max_position_embeddings\" must be positive");
  }
}

// ---- layers ------------------------------------------------------------------------------------------------------------
namespace {
template <typename Layer, typename Fn>
void for_each_clip_layer_param(Layer& l, int64_t C, int64_t I, const std::string& p, Fn&& fn) {
  fn(p + "layer_norm1.weight", l.ln1_w, std::vector<int64_t>{C});
  fn(p + "layer_norm1.bias", l.ln1_b, std::vector<int64_t>{C});
  for (auto [n, w, b] : {std::tuple<const char*, at::Tensor*, at::Tensor*>{"q_proj", &l.q_w, &l.q_b},
                         {"k_proj", &l.k_w, &l.k_b}, {"v_proj", &l.v_w, &l.v_b}, {"out_proj", &l.o_w, &l.o_b}}) {
    fn(p + "self_attn." + n + ".weight", *w, std::vector<int64_t>{C, C});
    fn(p + "self_attn." + n + ".bias", *b, std::vector<int64_t>{C});
  }
  fn(p + "layer_norm2.weight", l.ln2_w, std::vector<int64_t>{C});
  fn(p + "layer_norm2.bias", l.ln2_b, std::vector<int64_t>{C});
  fn(p + "mlp.fc1.weight", l.fc1_w, std::vector<int64_t>{I, C});
  fn(p + "mlp.fc1.bias", l.fc1_b, std::vector<int64_t>{I});
  fn(p + "mlp.fc2.weight", l.fc2_w, std::vector<int64_t>{C, I});
  fn(p + "mlp.fc2.bias", l.fc2_b, std::vector<int64_t>{C});
}

at::Tensor ln(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps) {
  if (x.scalar_type() == at::kFloat) return at::layer_norm(x, {x.size(-1)}, w, b, eps);
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, w.to(at::kFloat), b.to(at::kFloat), eps).to(x.scalar_type());
}

// Random values by the fixtures' rule: matrices N(0,1)/sqrt(fan_in), norm weights 1 + 0.1 N, biases 0.05 N,
// embeddings N(0,1) * 0.5.
at::Tensor random_param(const std::string& name, const std::vector<int64_t>& s, at::Generator& gen) {
  const auto f = at::TensorOptions().dtype(at::kFloat);
  const bool norm = name.find("norm") != std::string::npos || name.find("layrnorm") != std::string::npos;
  if (s.size() == 1 && norm && name.find(".weight") != std::string::npos) return 1.0 + 0.1 * at::randn(s, gen, f);
  if (s.size() == 1 && name.find("bias") != std::string::npos) return 0.05 * at::randn(s, gen, f);
  if (name.find("embedding") != std::string::npos) return 0.5 * at::randn(s, gen, f);
  int64_t fan_in = 1;
  for (size_t i = 1; i < s.size(); ++i) fan_in *= s[i];
  return at::randn(s, gen, f) / std::sqrt(static_cast<double>(fan_in));
}
}  // namespace

at::Tensor hf_clip_layer_forward(const HfClipLayer& l, const at::Tensor& x, const HfClipTowerConfig& cfg, const at::Tensor& attn_bias) {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), N = cfg.num_attention_heads, d = C / N;
  at::Tensor h = ln(x, l.ln1_w, l.ln1_b, cfg.layer_norm_eps);
  at::Tensor q = (at::linear(h, l.q_w, l.q_b) * (1.0 / std::sqrt(static_cast<double>(d)))).view({B, L, N, d}).transpose(1, 2);
  at::Tensor k = at::linear(h, l.k_w, l.k_b).view({B, L, N, d}).transpose(1, 2);
  at::Tensor v = at::linear(h, l.v_w, l.v_b).view({B, L, N, d}).transpose(1, 2);
  at::Tensor s = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat);
  if (attn_bias.defined()) s = s + attn_bias;
  at::Tensor a = at::matmul(at::softmax(s, -1).to(v.scalar_type()), v).transpose(1, 2).reshape({B, L, C});
  at::Tensor y = x + at::linear(a, l.o_w, l.o_b);
  h = at::linear(ln(y, l.ln2_w, l.ln2_b, cfg.layer_norm_eps), l.fc1_w, l.fc1_b);
  h = cfg.hidden_act == "quick_gelu" ? h * at::sigmoid(1.702 * h) : at::gelu(h);
  return y + at::linear(h, l.fc2_w, l.fc2_b);
}

// ---- vision ----------------------------------------------------------------------------------------------------------------
namespace {
template <typename M, typename Fn>
void for_each_vision_embed(M& m, const HfClipTowerConfig& c, const std::string& p, Fn&& fn) {
  const int64_t C = c.hidden_size;
  fn(p + "embeddings.class_embedding", m.class_embedding, std::vector<int64_t>{C});
  fn(p + "embeddings.patch_embedding.weight", m.patch_w, std::vector<int64_t>{C, c.num_channels, c.patch_size, c.patch_size});
  fn(p + "embeddings.position_embedding.weight", m.position_embedding, std::vector<int64_t>{c.num_patches() + 1, C});
  fn(p + "pre_layrnorm.weight", m.pre_ln_w, std::vector<int64_t>{C});
  fn(p + "pre_layrnorm.bias", m.pre_ln_b, std::vector<int64_t>{C});
}
}  // namespace

HfClipVision HfClipVision::load(WeightLoader& L, const HfClipTowerConfig& cfg, const std::string& prefix, int64_t run_layers,
                                bool keep_post) {
  if (run_layers < 0 || run_layers > cfg.num_hidden_layers) run_layers = cfg.num_hidden_layers;
  HfClipVision m;
  m.cfg = cfg;
  for_each_vision_embed(m, cfg, prefix, [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>& s) { t = L.take(n, s); });
  const std::string pos_ids = prefix + "embeddings.position_ids";  // a buffer older checkpoints carry
  if (L.has(pos_ids)) L.ignore(pos_ids);
  m.layers.resize(static_cast<size_t>(run_layers));
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
    const std::string p = prefix + "encoder.layers." + std::to_string(i) + ".";
    if (i < run_layers) {
      for_each_clip_layer_param(m.layers[static_cast<size_t>(i)], cfg.hidden_size, cfg.intermediate_size, p,
                                [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>& s) { t = L.take(n, s); });
    } else {
      HfClipLayer unused;
      for_each_clip_layer_param(unused, cfg.hidden_size, cfg.intermediate_size, p,
                                [&](const std::string& n, at::Tensor&, const std::vector<int64_t>& s) { check_and_ignore(L, n, s, "CLIP vision"); });
    }
  }
  for (auto [n, t] : {std::pair<const char*, at::Tensor*>{"post_layernorm.weight", &m.post_ln_w}, {"post_layernorm.bias", &m.post_ln_b}}) {
    if (keep_post) *t = L.take(prefix + n, {cfg.hidden_size});
    else check_and_ignore(L, prefix + n, {cfg.hidden_size}, "CLIP vision");
  }
  return m;
}

HfClipVision HfClipVision::random_init(const HfClipTowerConfig& cfg, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  HfClipVision m;
  m.cfg = cfg;
  auto init = [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>& s) { t = random_param(n, s, gen); };
  for_each_vision_embed(m, cfg, "", init);
  m.layers.resize(static_cast<size_t>(cfg.num_hidden_layers));
  for (auto& l : m.layers) for_each_clip_layer_param(l, cfg.hidden_size, cfg.intermediate_size, "", init);
  init("post_layernorm.weight", m.post_ln_w, {cfg.hidden_size});
  init("post_layernorm.bias", m.post_ln_b, {cfg.hidden_size});
  return m;
}

std::vector<std::pair<std::string, at::Tensor>> HfClipVision::named_parameters(const std::string& prefix) const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  HfClipVision m = *this;
  auto add = [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>&) { out.emplace_back(n, t); };
  for_each_vision_embed(m, cfg, prefix, add);
  for (size_t i = 0; i < m.layers.size(); ++i)
    for_each_clip_layer_param(m.layers[i], cfg.hidden_size, cfg.intermediate_size, prefix + "encoder.layers." + std::to_string(i) + ".", add);
  if (post_ln_w.defined()) {
    out.emplace_back(prefix + "post_layernorm.weight", post_ln_w);
    out.emplace_back(prefix + "post_layernorm.bias", post_ln_b);
  }
  return out;
}

int64_t HfClipVision::layers_for_index(int64_t index) const {
  const int64_t L = cfg.num_hidden_layers, k = index < 0 ? index + L + 1 : index;
  if (k < 0 || k > L) fail("CLIP vision", "hidden_states index " + std::to_string(index) + " is outside [-" + std::to_string(L + 1) + ", " + std::to_string(L) + "]");
  return k;
}

at::Tensor HfClipVision::forward(const at::Tensor& pixels, int64_t n_layers) const {
  const int64_t S = cfg.image_size;
  if (!pixels.defined() || pixels.dim() != 4 || pixels.size(1) != cfg.num_channels || pixels.size(2) != S || pixels.size(3) != S)
    fail("CLIP vision", "pixel values must be [B, " + std::to_string(cfg.num_channels) + ", " + std::to_string(S) + ", " + std::to_string(S) + "]");
  if (n_layers < 0 || n_layers > static_cast<int64_t>(layers.size()))
    fail("CLIP vision", "asked for " + std::to_string(n_layers) + " layers, " + std::to_string(layers.size()) + " are loaded");
  const int64_t B = pixels.size(0), C = cfg.hidden_size;
  at::Tensor x = at::conv2d(pixels.to(patch_w.device(), patch_w.scalar_type()), patch_w, {}, {cfg.patch_size, cfg.patch_size});
  x = x.flatten(2).transpose(1, 2);  // [B, g*g, C], patches row-major
  x = at::cat({class_embedding.view({1, 1, C}).expand({B, 1, C}), x}, 1) + position_embedding.unsqueeze(0);
  x = ln(x, pre_ln_w, pre_ln_b, cfg.layer_norm_eps);
  for (int64_t i = 0; i < n_layers; ++i) x = hf_clip_layer_forward(layers[static_cast<size_t>(i)], x, cfg);
  return x;
}

// ---- text ----------------------------------------------------------------------------------------------------------------
namespace {
template <typename M, typename Fn>
void for_each_text_param(M& m, const HfClipTowerConfig& c, const std::string& p, Fn&& fn) {
  const int64_t C = c.hidden_size;
  fn(p + "embeddings.token_embedding.weight", m.token_embedding, std::vector<int64_t>{c.vocab_size, C});
  fn(p + "embeddings.position_embedding.weight", m.position_embedding, std::vector<int64_t>{c.max_position_embeddings, C});
  for (size_t i = 0; i < m.layers.size(); ++i)
    for_each_clip_layer_param(m.layers[i], C, c.intermediate_size, p + "encoder.layers." + std::to_string(i) + ".", fn);
  fn(p + "final_layer_norm.weight", m.final_ln_w, std::vector<int64_t>{C});
  fn(p + "final_layer_norm.bias", m.final_ln_b, std::vector<int64_t>{C});
}
}  // namespace

HfClipText HfClipText::load(WeightLoader& L, const HfClipTowerConfig& cfg, const std::string& prefix) {
  HfClipText m;
  m.cfg = cfg;
  m.layers.resize(static_cast<size_t>(cfg.num_hidden_layers));
  for_each_text_param(m, cfg, prefix, [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>& s) { t = L.take(n, s); });
  const std::string pos_ids = prefix + "embeddings.position_ids";
  if (L.has(pos_ids)) L.ignore(pos_ids);
  return m;
}

HfClipText HfClipText::random_init(const HfClipTowerConfig& cfg, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  HfClipText m;
  m.cfg = cfg;
  m.layers.resize(static_cast<size_t>(cfg.num_hidden_layers));
  for_each_text_param(m, cfg, "", [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>& s) { t = random_param(n, s, gen); });
  return m;
}

std::vector<std::pair<std::string, at::Tensor>> HfClipText::named_parameters(const std::string& prefix) const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  HfClipText m = *this;
  for_each_text_param(m, cfg, prefix, [&](const std::string& n, at::Tensor& t, const std::vector<int64_t>&) { out.emplace_back(n, t); });
  return out;
}

at::Tensor HfClipText::forward(const at::Tensor& ids_in, const at::Tensor& mask_in) const {
  if (!ids_in.defined() || ids_in.dim() != 2) fail("CLIP text", "ids must be [B, L]");
  const int64_t B = ids_in.size(0), L = ids_in.size(1);
  if (L > cfg.max_position_embeddings)
    fail("CLIP text", std::to_string(L) + " tokens exceed max_position_embeddings " + std::to_string(cfg.max_position_embeddings));
  const auto dev = token_embedding.device();
  at::Tensor ids = ids_in.to(dev, at::kLong);
  if (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= cfg.vocab_size)
    fail("CLIP text", "token id outside the vocabulary of " + std::to_string(cfg.vocab_size));
  at::Tensor x = at::embedding(token_embedding, ids) + position_embedding.narrow(0, 0, L).unsqueeze(0);
  at::Tensor allowed = at::ones({L, L}, at::TensorOptions().dtype(at::kBool).device(dev)).tril().view({1, 1, L, L});
  if (mask_in.defined()) {
    if (mask_in.sizes() != ids_in.sizes()) fail("CLIP text", "mask must have the shape of ids");
    allowed = allowed.logical_and(mask_in.to(dev).ne(0).view({B, 1, 1, L}));
  }
  at::Tensor bias = at::zeros(allowed.sizes(), at::TensorOptions().dtype(at::kFloat).device(dev))
                        .masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest());
  for (const auto& l : layers) x = hf_clip_layer_forward(l, x, cfg, bias);
  return ln(x, final_ln_w, final_ln_b, cfg.layer_norm_eps);
}

at::Tensor HfClipText::pooled(const at::Tensor& last_hidden_state, const at::Tensor& ids_in) const {
  at::Tensor ids = ids_in.to(last_hidden_state.device(), at::kLong);
  at::Tensor pos = cfg.eos_token_id == 2 ? ids.argmax(-1) : ids.eq(cfg.eos_token_id).to(at::kInt).argmax(-1);
  at::Tensor rows = at::arange(ids.size(0), at::TensorOptions().dtype(at::kLong).device(ids.device()));
  return last_hidden_state.index({rows, pos});
}

// ---- image processor ----------------------------------------------------------------------------------------------------------
ClipImageProcessor ClipImageProcessor::from_file(const std::string& path) {
  const json j = read_json_object_file(path);
  ClipImageProcessor p;
  p.do_resize = cfg_bool(j, "do_resize", true, path);
  p.do_center_crop = cfg_bool(j, "do_center_crop", true, path);
  p.do_rescale = cfg_bool(j, "do_rescale", true, path);
  p.do_normalize = cfg_bool(j, "do_normalize", true, path);
  p.resample = static_cast<int>(cfg_int(j, "resample", 3, path));
  if (p.resample != 2 && p.resample != 3) fail(path, "\"resample\" " + std::to_string(p.resample) + " is not supported (2 bilinear, 3 bicubic)");
  p.rescale_factor = cfg_num(j, "rescale_factor", 1.0 / 255.0, path);
  if (j.contains("size")) {
    const json& s = j["size"];
    if (s.is_number_integer()) p.shortest_edge = s.get<int64_t>();
    else if (s.is_object() && s.contains("shortest_edge")) p.shortest_edge = cfg_int(s, "shortest_edge", 224, path);
    else fail(path, "\"size\" must be an integer or {\"shortest_edge\": n}");
  }
  if (j.contains("crop_size")) {
    const json& s = j["crop_size"];
    if (s.is_number_integer()) p.crop_height = p.crop_width = s.get<int64_t>();
    else if (s.is_object() && s.contains("height") && s.contains("width")) {
      p.crop_height = cfg_int(s, "height", 224, path);
      p.crop_width = cfg_int(s, "width", 224, path);
    } else {
      fail(path, "\"crop_size\" must be an integer or {\"height\": h, \"width\": w}");
    }
  }
  for (auto [key, v] : {std::pair<const char*, std::vector<double>*>{"image_mean", &p.mean}, {"image_std", &p.std}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_array() || j[key].size() != 3) fail(path, std::string("\"") + key + "\" must be a list of 3 numbers");
    for (size_t i = 0; i < 3; ++i) {
      if (!j[key][i].is_number()) fail(path, std::string("\"") + key + "\" must be a list of 3 numbers");
      (*v)[i] = j[key][i].get<double>();
    }
  }
  for (double s : p.std)
    if (!(s > 0)) fail(path, "\"image_std\" entries must be positive");
  if (p.shortest_edge <= 0 || p.crop_height <= 0 || p.crop_width <= 0) fail(path, "sizes must be positive");
  return p;
}

namespace {
constexpr int kPrecisionBits = 32 - 8 - 2;

double pil_filter(int filter, double x) {
  if (x < 0) x = -x;
  if (filter == 2) return x < 1.0 ? 1.0 - x : 0.0;
  const double a = -0.5;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coeffs {
  int64_t ksize = 0;
  std::vector<int64_t> xmin, xcount;
  std::vector<int32_t> k;  // fixed point, [out][ksize]
};

Coeffs precompute(int64_t in_size, int64_t out_size, int filter) {
  const double support_base = filter == 2 ? 1.0 : 2.0;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = support_base * filterscale;
  Coeffs c;
  c.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(static_cast<size_t>(out_size));
  c.xcount.resize(static_cast<size_t>(out_size));
  c.k.assign(static_cast<size_t>(out_size * c.ksize), 0);
  std::vector<double> w(static_cast<size_t>(c.ksize));
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);  // C cast: truncation
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0;
    for (int64_t x = 0; x < xmax; ++x) {
      w[static_cast<size_t>(x)] = pil_filter(filter, (static_cast<double>(x + xmin) - center + 0.5) * ss);
      ww += w[static_cast<size_t>(x)];
    }
    for (int64_t x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? w[static_cast<size_t>(x)] / ww : w[static_cast<size_t>(x)];
      c.k[static_cast<size_t>(xx * c.ksize + x)] =
          v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits)) : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.xmin[static_cast<size_t>(xx)] = xmin;
    c.xcount[static_cast<size_t>(xx)] = xmax;
  }
  return c;
}

uint8_t clip8(int64_t v) {
  const int64_t s = v >> kPrecisionBits;  // arithmetic shift (floor), as Pillow
  return static_cast<uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}
}  // namespace

at::Tensor pil_resize_u8(const at::Tensor& img_in, int64_t out_h, int64_t out_w, int filter) {
  if (!img_in.defined() || img_in.dim() != 3 || img_in.scalar_type() != at::kByte)
    fail("image resize", "expected a uint8 [H, W, C] image");
  if (out_h <= 0 || out_w <= 0) fail("image resize", "output size must be positive");
  at::Tensor img = img_in.contiguous();
  const int64_t H = img.size(0), W = img.size(1), C = img.size(2);
  const uint8_t* src = img.data_ptr<uint8_t>();
  // Horizontal pass (only when the width changes), over all rows.
  at::Tensor tmp = img;
  if (out_w != W) {
    const Coeffs c = precompute(W, out_w, filter);
    tmp = at::empty({H, out_w, C}, at::kByte);
    uint8_t* dst = tmp.data_ptr<uint8_t>();
    for (int64_t y = 0; y < H; ++y)
      for (int64_t xx = 0; xx < out_w; ++xx)
        for (int64_t ch = 0; ch < C; ++ch) {
          int64_t acc = 1 << (kPrecisionBits - 1);
          const int64_t x0 = c.xmin[static_cast<size_t>(xx)], n = c.xcount[static_cast<size_t>(xx)];
          for (int64_t x = 0; x < n; ++x)
            acc += static_cast<int64_t>(src[(y * W + x0 + x) * C + ch]) * c.k[static_cast<size_t>(xx * c.ksize + x)];
          dst[(y * out_w + xx) * C + ch] = clip8(acc);
        }
  }
  if (out_h == H) return tmp.clone();
  const Coeffs c = precompute(H, out_h, filter);
  const int64_t W2 = tmp.size(1);
  const uint8_t* s2 = tmp.data_ptr<uint8_t>();
  at::Tensor out = at::empty({out_h, W2, C}, at::kByte);
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t yy = 0; yy < out_h; ++yy) {
    const int64_t y0 = c.xmin[static_cast<size_t>(yy)], n = c.xcount[static_cast<size_t>(yy)];
    for (int64_t x = 0; x < W2; ++x)
      for (int64_t ch = 0; ch < C; ++ch) {
        int64_t acc = 1 << (kPrecisionBits - 1);
        for (int64_t y = 0; y < n; ++y)
          acc += static_cast<int64_t>(s2[((y0 + y) * W2 + x) * C + ch]) * c.k[static_cast<size_t>(yy * c.ksize + y)];
        dst[(yy * W2 + x) * C + ch] = clip8(acc);
      }
  }
  return out;
}

at::Tensor ClipImageProcessor::operator()(const at::Tensor& image) const {
  if (!image.defined() || image.dim() != 3 || image.size(2) != 3 || image.scalar_type() != at::kByte)
    fail("CLIP image processor", "expected an RGB uint8 [H, W, 3] image");
  at::Tensor img = image;
  int64_t H = img.size(0), W = img.size(1);
  if (do_resize) {
    // get_resize_output_image_size(default_to_square=False): the shorter side becomes shortest_edge, the longer
    // int(shortest_edge * long / short).
    const bool w_short = W <= H;
    const double sh = static_cast<double>(w_short ? W : H), lo = static_cast<double>(w_short ? H : W);
    const int64_t new_short = shortest_edge, new_long = static_cast<int64_t>(static_cast<double>(shortest_edge) * lo / sh);
    const int64_t nh = w_short ? new_long : new_short, nw = w_short ? new_short : new_long;
    img = pil_resize_u8(img, nh, nw, resample);
    H = nh;
    W = nw;
  }
  if (do_center_crop) {
    if (crop_height > H || crop_width > W)
      fail("CLIP image processor", "center crop " + std::to_string(crop_height) + "x" + std::to_string(crop_width) +
                                       " is larger than the resized image " + std::to_string(H) + "x" + std::to_string(W));
    const int64_t top = (H - crop_height) / 2, left = (W - crop_width) / 2;
    img = img.narrow(0, top, crop_height).narrow(1, left, crop_width);
  }
  at::Tensor x = img.to(at::kDouble);
  if (do_rescale) x = x * rescale_factor;
  x = x.to(at::kFloat);
  if (do_normalize) {
    at::Tensor m = at::tensor(std::vector<float>(mean.begin(), mean.end())), s = at::tensor(std::vector<float>(std.begin(), std.end()));
    x = (x - m) / s;
  }
  return x.permute({2, 0, 1}).unsqueeze(0).contiguous();
}

}  // namespace focalscope
