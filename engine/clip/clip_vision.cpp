#include "engine/clip/clip_vision.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"

namespace focalscope {

// ---- config ------------------------------------------------------------------------
ClipVisionConfig ClipVisionConfig::vit_h_14() {
  ClipVisionConfig c;  // the defaults are ViT-H/14
  return c;
}

namespace {
using json = nlohmann::json;

int get_int(const json& j, const std::string& key, const std::string& where) {
  if (!j.contains(key)) fail(where, "missing \"" + key + "\"");
  const json& v = j[key];
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) return static_cast<int>(v.get<double>());
  fail(where, "\"" + key + "\" must be an integer, got " + v.dump());
}
double get_num(const json& j, const std::string& key, const std::string& where) {
  if (!j.contains(key)) fail(where, "missing \"" + key + "\"");
  if (!j[key].is_number()) fail(where, "\"" + key + "\" must be a number, got " + j[key].dump());
  return j[key].get<double>();
}
bool get_bool(const json& j, const std::string& key, bool def, const std::string& where) {
  if (!j.contains(key)) return def;
  if (!j[key].is_boolean()) fail(where, "\"" + key + "\" must be true or false, got " + j[key].dump());
  return j[key].get<bool>();
}
std::string get_str(const json& j, const std::string& key, const std::string& def, const std::string& where) {
  if (!j.contains(key)) return def;
  if (!j[key].is_string()) fail(where, "\"" + key + "\" must be a string, got " + j[key].dump());
  return j[key].get<std::string>();
}
}  // namespace

ClipVisionConfig ClipVisionConfig::from_json(const json& a, const std::string& where) {
  if (!a.is_object()) fail(where, "CLIP vision config must be a JSON object");
  ClipVisionConfig c;
  c.image_size = get_int(a, "image_size", where);
  c.patch_size = get_int(a, "patch_size", where);
  c.dim = get_int(a, "dim", where);
  c.mlp_ratio = get_num(a, "mlp_ratio", where);
  c.out_dim = get_int(a, "out_dim", where);
  c.num_heads = get_int(a, "num_heads", where);
  c.num_layers = get_int(a, "num_layers", where);
  // Upstream VisionTransformer constructor defaults for the flags.
  c.pool_type = get_str(a, "pool_type", "token", where);
  c.pre_norm = get_bool(a, "pre_norm", true, where);
  c.post_norm = get_bool(a, "post_norm", false, where);
  c.activation = get_str(a, "activation", "quick_gelu", where);
  c.norm_eps = a.contains("norm_eps") ? get_num(a, "norm_eps", where) : 1e-5;
  c.validate(where);
  return c;
}

json ClipVisionConfig::to_json() const {
  return json{{"image_size", image_size}, {"patch_size", patch_size}, {"dim", dim},           {"mlp_ratio", mlp_ratio},
              {"out_dim", out_dim},       {"num_heads", num_heads},   {"num_layers", num_layers}, {"pool_type", pool_type},
              {"pre_norm", pre_norm},     {"post_norm", post_norm},   {"activation", activation}, {"norm_eps", norm_eps}};
}

void ClipVisionConfig::validate(const std::string& where) const {
  auto pos = [&](const char* k, double v) {
    if (!(v > 0)) fail(where, std::string(k) + " must be positive, got " + std::to_string(v));
  };
  pos("image_size", image_size);
  pos("patch_size", patch_size);
  pos("dim", dim);
  pos("mlp_ratio", mlp_ratio);
  pos("out_dim", out_dim);
  pos("num_heads", num_heads);
  pos("num_layers", num_layers);
  pos("norm_eps", norm_eps);
  if (image_size % patch_size != 0)
    fail(where, "image_size " + std::to_string(image_size) + " is not a multiple of patch_size " + std::to_string(patch_size));
  if (dim % num_heads != 0)
    fail(where, "dim " + std::to_string(dim) + " is not divisible by num_heads " + std::to_string(num_heads));
  if (mlp_dim() <= 0) fail(where, "mlp_ratio gives an empty MLP");
  if (pool_type != "token") fail(where, "pool_type '" + pool_type + "' is not supported (only 'token')");
  if (activation != "gelu" && activation != "quick_gelu")
    fail(where, "activation '" + activation + "' is not supported (gelu or quick_gelu)");
}

// ---- weights -------------------------------------------------------------------------
namespace {
// Calls fn(name, tensor&, shape) for every parameter in a fixed order (shared by load / init / named_parameters).
template <typename M, typename Fn>
void for_each_param(M& m, Fn&& fn) {
  const auto& c = m.cfg;
  const int64_t D = c.dim, P = c.patch_size, T = c.num_tokens(), H = c.mlp_dim();
  fn("patch_embedding.weight", m.patch_w, std::vector<int64_t>{D, 3, P, P});
  if (!c.pre_norm) fn("patch_embedding.bias", m.patch_b, std::vector<int64_t>{D});
  fn("cls_embedding", m.cls_embedding, std::vector<int64_t>{1, 1, D});
  fn("pos_embedding", m.pos_embedding, std::vector<int64_t>{1, T, D});
  if (c.pre_norm) {
    fn("pre_norm.weight", m.pre_norm_w, std::vector<int64_t>{D});
    fn("pre_norm.bias", m.pre_norm_b, std::vector<int64_t>{D});
  }
  for (size_t i = 0; i < m.blocks.size(); ++i)
    for_each_clip_block_param(m.blocks[i], "transformer." + std::to_string(i) + ".", D, H, fn);
  fn("post_norm.weight", m.post_norm_w, std::vector<int64_t>{D});
  fn("post_norm.bias", m.post_norm_b, std::vector<int64_t>{D});
  fn("head", m.head, std::vector<int64_t>{D, static_cast<int64_t>(c.out_dim)});
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
}  // namespace

ClipVision ClipVision::load(const TensorSet& set, const ClipVisionConfig& cfg, const std::string& prefix,
                            c10::ScalarType dtype, c10::Device device) {
  cfg.validate(set.origin.empty() ? "CLIP config" : set.origin);
  if (!set.has(prefix + "cls_embedding")) {
    // Name the likely mistake instead of a bare "missing tensor".
    if (prefix.empty() && set.has("visual.cls_embedding"))
      fail(set.origin, "CLIP vision tensors are prefixed 'visual.' in this file; load it with prefix \"visual.\"");
    if (!prefix.empty() && set.has("cls_embedding"))
      fail(set.origin, "CLIP vision tensors in this file have no '" + prefix + "' prefix; load it with prefix \"\"");
  }
  ClipVision m;
  m.cfg = cfg;
  m.blocks.resize(static_cast<size_t>(cfg.num_layers));
  WeightLoader wl(set, "CLIP vision", dtype, device);
  for_each_param(m, [&](const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape) {
    t = wl.take(prefix + name, shape);
  });
  if (!prefix.empty()) {  // whole-CLIP checkpoint: the text tower and the logit scale are not ours
    wl.ignore_prefix("textual.");
    wl.ignore("log_scale");
  }
  // A deeper checkpoint than the config says shows up as unexpected transformer.N tensors here.
  wl.finish();
  return m;
}

ClipVision ClipVision::random_init(const ClipVisionConfig& cfg, uint64_t seed, c10::ScalarType dtype,
                                   c10::Device device) {
  cfg.validate("CLIP config");
  ClipVision m;
  m.cfg = cfg;
  m.blocks.resize(static_cast<size_t>(cfg.num_layers));
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  const double gain = 1.0 / std::sqrt(static_cast<double>(cfg.dim));
  for_each_param(m, [&](const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape) {
    at::Tensor v;
    if (ends_with(name, "norm1.weight") || ends_with(name, "norm2.weight") || ends_with(name, "_norm.weight")) {
      v = at::ones(shape, cpu);
    } else if (ends_with(name, ".bias")) {
      v = at::zeros(shape, cpu);
    } else if (name == "cls_embedding" || name == "pos_embedding" || name == "head") {
      v = at::randn(shape, gen, cpu) * gain;
    } else {  // linear / conv weights: fan_in = all dims but the first
      int64_t fan_in = 1;
      for (size_t k = 1; k < shape.size(); ++k) fan_in *= shape[k];
      v = at::randn(shape, gen, cpu) / std::sqrt(static_cast<double>(fan_in));
    }
    t = v.to(device, dtype).contiguous();
  });
  return m;
}

NamedTensors ClipVision::named_parameters(const std::string& prefix) const {
  NamedTensors out;
  for_each_param(*this, [&](const std::string& name, const at::Tensor& t, const std::vector<int64_t>&) {
    out.emplace_back(prefix + name, t);
  });
  return out;
}

void ClipVision::set_requires_grad(bool on) {
  for_each_param(*this, [&](const std::string&, at::Tensor& t, const std::vector<int64_t>&) { t.requires_grad_(on); });
}

void ClipVision::save(const std::string& path, const std::string& prefix) const {
  save_safetensors(path, named_parameters(prefix), {{"clip_vision_config", cfg.to_json().dump()}});
}

// ---- preprocessing -------------------------------------------------------------------
const std::vector<float>& ClipVision::norm_mean() {
  static const std::vector<float> v{0.48145466f, 0.4578275f, 0.40821073f};
  return v;
}
const std::vector<float>& ClipVision::norm_std() {
  static const std::vector<float> v{0.26862954f, 0.26130258f, 0.27577711f};
  return v;
}

at::Tensor ClipVision::preprocess(const at::Tensor& image) const {
  const std::string where = "CLIP preprocess";
  if (!image.defined()) fail(where, "undefined image tensor");
  if (!(image.dim() == 3 || image.dim() == 4) || image.size(-3) != 3)
    fail(where, "image must be [3,H,W] or [B,3,H,W], got " + shape_str(image.sizes()));
  if (!at::isFloatingType(image.scalar_type()))
    fail(where, std::string("image must be a floating-point tensor in [-1,1], got ") + c10::toString(image.scalar_type()));
  if (image.size(-1) < 1 || image.size(-2) < 1 || image.numel() == 0) fail(where, "empty image " + shape_str(image.sizes()));
  at::Tensor x = (image.dim() == 3 ? image.unsqueeze(0) : image).to(at::kFloat);
  const int64_t S = cfg.image_size;
  x = at::upsample_bicubic2d(x, {S, S}, /*align_corners=*/false, c10::nullopt, c10::nullopt);
  x = x.mul(0.5).add(0.5);
  auto opt = at::TensorOptions().dtype(at::kFloat).device(x.device());
  at::Tensor mean = at::tensor(at::ArrayRef<float>(norm_mean()), opt).view({1, 3, 1, 1});
  at::Tensor std = at::tensor(at::ArrayRef<float>(norm_std()), opt).view({1, 3, 1, 1});
  return x.sub(mean).div(std);
}

// ---- forward -----------------------------------------------------------------------------

at::Tensor ClipVision::embed(const at::Tensor& pixels_in) const {
  const int64_t S = cfg.image_size;
  if (!pixels_in.defined() || pixels_in.dim() != 4 || pixels_in.size(1) != 3 || pixels_in.size(2) != S ||
      pixels_in.size(3) != S)
    fail("CLIP vision", "pixels must be [B,3," + std::to_string(S) + "," + std::to_string(S) + "] (use preprocess()), got " +
                            (pixels_in.defined() ? shape_str(pixels_in.sizes()) : std::string("undefined")));
  at::Tensor pixels = pixels_in.to(patch_w.device(), patch_w.scalar_type());
  const int64_t B = pixels.size(0);
  at::Tensor x = at::conv2d(pixels, patch_w, patch_b, {cfg.patch_size, cfg.patch_size});  // [B,D,g,g]
  x = x.flatten(2).transpose(1, 2);                                                         // [B,g*g,D]
  x = at::cat({cls_embedding.expand({B, 1, cfg.dim}), x}, 1);
  x = x + pos_embedding;
  if (cfg.pre_norm) x = clip_layer_norm(x, pre_norm_w, pre_norm_b, cfg.norm_eps);
  return x;
}

at::Tensor ClipVision::block_forward(int index, const at::Tensor& x) const {
  if (index < 0 || index >= static_cast<int>(blocks.size()))
    fail("CLIP vision", "block index " + std::to_string(index) + " out of range (" + std::to_string(blocks.size()) + " blocks)");
  return clip_block_forward(blocks[static_cast<size_t>(index)], x,
                            {cfg.num_heads, cfg.norm_eps, cfg.post_norm, cfg.activation != "gelu"});
}

at::Tensor ClipVision::forward(const at::Tensor& pixels, int num_blocks, std::vector<at::Tensor>* hidden) const {
  const int n = num_blocks < 0 ? static_cast<int>(blocks.size()) : num_blocks;
  if (num_blocks < -1 || n > static_cast<int>(blocks.size()))
    fail("CLIP vision", "cannot run " + std::to_string(num_blocks) + " blocks of " + std::to_string(blocks.size()));
  at::Tensor x = embed(pixels);
  if (hidden) hidden->clear();
  for (int i = 0; i < n; ++i) {
    x = block_forward(i, x);
    if (hidden) hidden->push_back(x);
  }
  return x;
}

at::Tensor ClipVision::clip_fea(const at::Tensor& image) const {
  return forward(preprocess(image), cfg.num_layers - 1);  // upstream use_31_block: all blocks but the last
}

at::Tensor ClipVision::project(const at::Tensor& tokens) const {
  if (!tokens.defined() || tokens.dim() < 1 || tokens.size(-1) != cfg.dim)
    fail("CLIP vision", "project() needs tokens [..., " + std::to_string(cfg.dim) + "], got " +
                            (tokens.defined() ? shape_str(tokens.sizes()) : std::string("undefined")));
  at::Tensor t = tokens.to(head.device(), head.scalar_type());
  return at::matmul(clip_layer_norm(t, post_norm_w, post_norm_b, cfg.norm_eps), head);
}

at::Tensor ClipVision::image_embedding(const at::Tensor& pixels) const { return project(forward(pixels).select(1, 0)); }

at::Tensor ClipVision::patch_grid(const at::Tensor& tokens) const {
  const int64_t g = cfg.grid();
  if (!tokens.defined() || tokens.dim() != 3 || tokens.size(1) != cfg.num_tokens())
    fail("CLIP vision", "patch_grid() needs tokens [B," + std::to_string(cfg.num_tokens()) + ",C], got " +
                            (tokens.defined() ? shape_str(tokens.sizes()) : std::string("undefined")));
  return tokens.slice(1, 1).reshape({tokens.size(0), g, g, tokens.size(2)});
}

// ---- fixture -----------------------------------------------------------------------------
FixtureResult run_clip_fixture(const Fixture& fx) {
  const std::string cfg_where = fx.dir + "/config.json";
  if (!fx.config.contains("constructor_args")) fail(cfg_where, "missing \"constructor_args\"");
  const ClipVisionConfig cfg = ClipVisionConfig::from_json(fx.config["constructor_args"], cfg_where);
  if (fx.weights.empty()) fail(fx.dir, "no weights.safetensors");
  const ClipVision clip = ClipVision::load(fx.weights, cfg, "", fx.target.dtype, fx.target.device);

  FixtureResult r;
  r.inputs.insert("image");
  at::NoGradGuard no_grad;
  const at::Tensor pre = clip.preprocess(fx.in_target("image"));
  r.outputs.emplace_back("preprocessed", pre);
  r.outputs.emplace_back("norm_mean", at::tensor(at::ArrayRef<float>(ClipVision::norm_mean())));
  r.outputs.emplace_back("norm_std", at::tensor(at::ArrayRef<float>(ClipVision::norm_std())));

  std::vector<at::Tensor> hidden;
  const at::Tensor fea = clip.forward(pre, cfg.num_layers - 1, &hidden);
  r.outputs.emplace_back("clip_fea", fea);
  for (size_t i = 0; i < hidden.size(); ++i) r.outputs.emplace_back("block" + std::to_string(i) + "_out", hidden[i]);

  const at::Tensor all = clip.forward(pre);
  r.outputs.emplace_back("all_blocks_out", all);
  r.outputs.emplace_back("nonupstream_post_norm_head_cls", clip.project(all.select(1, 0)));
  return r;
}

}  // namespace focalscope
