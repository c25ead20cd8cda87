// Wan VAE: configuration, module tree, parameters (load / init / save) and the chunked encode / decode.
#include "engine/vae/wan_vae.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/vae/vae_internal.h"

namespace focalscope {

// Upstream WanVAE.__init__ (wan/modules/vae.py): the per-channel latent mean / std (data, not code).
const std::array<float, 16> kWanLatentMean = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,
                                              -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f,  -0.3632f,
                                              -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
const std::array<float, 16> kWanLatentStd = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                             3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

namespace {
const char* kCfgWhere = "VAE config";

// ---- config parsing helpers ----------------------------------------------------------------------------
int json_int(const nlohmann::json& j, const std::string& key) {
  const auto& v = j.at(key);
  if (!v.is_number_integer()) fail(kCfgWhere, "'" + key + "' must be an integer, got " + v.dump());
  return v.get<int>();
}
double json_number(const nlohmann::json& j, const std::string& key) {
  const auto& v = j.at(key);
  if (!v.is_number()) fail(kCfgWhere, "'" + key + "' must be a number, got " + v.dump());
  return v.get<double>();
}
const nlohmann::json& json_array(const nlohmann::json& j, const std::string& key) {
  const auto& v = j.at(key);
  if (!v.is_array()) fail(kCfgWhere, "'" + key + "' must be a list, got " + v.dump());
  return v;
}
}  // namespace

// ---- VaeConfig -----------------------------------------------------------------------------------------
VaeConfig VaeConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail(kCfgWhere, "constructor arguments must be a JSON object, got " + j.dump());
  static const std::set<std::string> known = {"dim",         "z_dim",   "dim_mult", "num_res_blocks",
                                              "attn_scales", "temperal_downsample", "temporal_downsample",
                                              "dropout"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) fail(kCfgWhere, "unknown constructor argument '" + it.key() + "'");
  if (j.contains("temperal_downsample") && j.contains("temporal_downsample"))
    fail(kCfgWhere, "both 'temperal_downsample' and 'temporal_downsample' given");
  VaeConfig c;
  if (j.contains("dim")) c.dim = json_int(j, "dim");
  if (j.contains("z_dim")) c.z_dim = json_int(j, "z_dim");
  if (j.contains("num_res_blocks")) c.num_res_blocks = json_int(j, "num_res_blocks");
  if (j.contains("dropout")) c.dropout = json_number(j, "dropout");
  if (j.contains("dim_mult")) {
    c.dim_mult.clear();
    for (const auto& v : json_array(j, "dim_mult")) {
      if (!v.is_number_integer()) fail(kCfgWhere, "'dim_mult' entries must be integers, got " + v.dump());
      c.dim_mult.push_back(v.get<int>());
    }
  }
  if (j.contains("attn_scales")) {
    c.attn_scales.clear();
    for (const auto& v : json_array(j, "attn_scales")) {
      if (!v.is_number()) fail(kCfgWhere, "'attn_scales' entries must be numbers, got " + v.dump());
      c.attn_scales.push_back(v.get<double>());
    }
  }
  for (const char* key : {"temperal_downsample", "temporal_downsample"}) {
    if (!j.contains(key)) continue;
    c.temporal_downsample.clear();
    for (const auto& v : json_array(j, key)) {
      if (!v.is_boolean()) fail(kCfgWhere, std::string("'") + key + "' entries must be true/false, got " + v.dump());
      c.temporal_downsample.push_back(v.get<bool>());
    }
  }
  c.validate();
  return c;
}

nlohmann::json VaeConfig::to_json() const {
  nlohmann::json j;
  j["dim"] = dim;
  j["z_dim"] = z_dim;
  j["dim_mult"] = dim_mult;
  j["num_res_blocks"] = num_res_blocks;
  j["attn_scales"] = attn_scales;
  j["temperal_downsample"] = temporal_downsample;
  j["dropout"] = dropout;
  return j;
}

VaeConfig VaeConfig::infer(const TensorSet& w) {
  VaeConfig c;
  for (const char* k : {"encoder.conv1.weight", "conv2.weight"})
    if (!w.has(k)) fail(w.origin, std::string("VAE tensor '") + k + "' is missing (is this a Wan VAE checkpoint?)");
  const auto e = w.get("encoder.conv1.weight").sizes();
  const auto z = w.get("conv2.weight").sizes();
  if (e.size() != 5 || z.size() != 5)
    fail(w.origin, "VAE tensors 'encoder.conv1.weight' / 'conv2.weight' are not 5-D conv weights");
  c.dim = static_cast<int>(e[0]);
  c.z_dim = static_cast<int>(z[0]);
  c.validate();
  return c;
}

int VaeConfig::temporal_stride() const {
  int s = 1;
  for (bool b : temporal_downsample) s *= b ? 2 : 1;
  return s;
}

void VaeConfig::validate() const {
  auto bad = [](const std::string& what) { fail(kCfgWhere, what); };
  if (dim <= 0) bad("dim must be positive, got " + std::to_string(dim));
  if (z_dim <= 0) bad("z_dim must be positive, got " + std::to_string(z_dim));
  if (dim_mult.empty()) bad("dim_mult is empty");
  if (dim_mult.size() > 8) bad("dim_mult has " + std::to_string(dim_mult.size()) + " stages (at most 8)");
  for (int m : dim_mult)
    if (m <= 0) bad("dim_mult entries must be positive, got " + std::to_string(m));
  if (num_res_blocks < 1) bad("num_res_blocks must be >= 1, got " + std::to_string(num_res_blocks));
  if (temporal_downsample.size() != dim_mult.size() - 1)
    bad("temperal_downsample has " + std::to_string(temporal_downsample.size()) + " entries, expected " +
        std::to_string(dim_mult.size() - 1) + " (one per resampling stage)");
  if (temporal_stride() > kVaeEncodeChunk)
    bad("more than 2 temporal downsampling stages: the 4-frame encoder chunks cannot be compressed further");
  if (!(dropout >= 0.0 && dropout < 1.0)) bad("dropout must be in [0,1), got " + std::to_string(dropout));
  // Each decoder upsample halves the channel count.
  for (std::size_t i = 0; i + 1 < dim_mult.size(); ++i)
    if ((dim * dim_mult[dim_mult.size() - 1 - i]) % 2)
      bad("decoder stage " + std::to_string(i) + " width " + std::to_string(dim * dim_mult[dim_mult.size() - 1 - i]) +
          " is odd (its upsample halves it)");
}

// ---- module tree ---------------------------------------------------------------------------------------
namespace vae {

std::vector<int64_t> Conv::weight_shape() const {
  if (is2d) return {out, in, kernel[1], kernel[2]};
  return {out, in, kernel[0], kernel[1], kernel[2]};
}

namespace {
Conv conv3d(int64_t in, int64_t out, std::array<int64_t, 3> k, int64_t pad_t, int64_t pad_hw,
            std::array<int64_t, 3> stride = {1, 1, 1}) {
  Conv c;
  c.in = in;
  c.out = out;
  c.kernel = k;
  c.stride = stride;
  c.pad_front = 2 * pad_t;
  c.pad_hw = {pad_hw, pad_hw};
  return c;
}
Conv causal3(int64_t in, int64_t out) { return conv3d(in, out, {3, 3, 3}, 1, 1); }
Conv pointwise(int64_t in, int64_t out) { return conv3d(in, out, {1, 1, 1}, 0, 0); }
Conv conv2d(int64_t in, int64_t out, int64_t k, int64_t pad, int64_t stride) {
  Conv c = conv3d(in, out, {1, k, k}, 0, pad, {1, stride, stride});
  c.is2d = true;
  return c;
}
RMSNorm norm(int64_t dim, bool images = false) {
  RMSNorm n;
  n.dim = dim;
  n.images = images;
  return n;
}
ResBlock res(int64_t in, int64_t out) {
  ResBlock b;
  b.norm1 = norm(in);
  b.conv1 = causal3(in, out);
  b.norm2 = norm(out);
  b.conv2 = causal3(out, out);
  b.has_shortcut = in != out;
  if (b.has_shortcut) b.shortcut = pointwise(in, out);
  return b;
}
AttnBlock attn(int64_t c) {
  AttnBlock a;
  a.norm = norm(c, /*images=*/true);
  a.to_qkv = conv2d(c, 3 * c, 1, 0, 1);
  a.proj = conv2d(c, c, 1, 0, 1);
  return a;
}
Resample resample(int64_t c, ResampleMode mode) {
  Resample r;
  r.mode = mode;
  switch (mode) {
    case ResampleMode::Upsample2d: r.conv = conv2d(c, c / 2, 3, 1, 1); break;
    case ResampleMode::Upsample3d:
      r.conv = conv2d(c, c / 2, 3, 1, 1);
      r.time_conv = conv3d(c, 2 * c, {3, 1, 1}, 1, 0);
      break;
    case ResampleMode::Downsample2d: r.conv = conv2d(c, c, 3, 0, 2); break;
    case ResampleMode::Downsample3d:
      r.conv = conv2d(c, c, 3, 0, 2);
      r.time_conv = conv3d(c, c, {3, 1, 1}, 0, 0, {2, 1, 1});
      break;
  }
  return r;
}
Layer layer_res(ResBlock b) {
  Layer l;
  l.kind = Layer::Kind::Res;
  l.res = std::move(b);
  return l;
}
Layer layer_attn(AttnBlock a) {
  Layer l;
  l.kind = Layer::Kind::Attn;
  l.attn = std::move(a);
  return l;
}
Layer layer_resample(Resample r) {
  Layer l;
  l.kind = Layer::Kind::Resample;
  l.resample = std::move(r);
  return l;
}
bool has_scale(const std::vector<double>& scales, double s) {
  return std::find(scales.begin(), scales.end(), s) != scales.end();
}

// Visitors in upstream module order: (name, slot, shape, fan_in, is_gamma).
using Fn = std::function<void(const std::string&, at::Tensor&, const std::vector<int64_t>&, int64_t, bool)>;
void visit(const std::string& p, Conv& c, const Fn& fn) {
  const int64_t fan_in = c.in * c.kernel[0] * c.kernel[1] * c.kernel[2];
  fn(p + ".weight", c.weight, c.weight_shape(), fan_in, false);
  fn(p + ".bias", c.bias, {c.out}, fan_in, false);
}
void visit(const std::string& p, RMSNorm& n, const Fn& fn) {
  std::vector<int64_t> shape = n.images ? std::vector<int64_t>{n.dim, 1, 1} : std::vector<int64_t>{n.dim, 1, 1, 1};
  fn(p + ".gamma", n.gamma, shape, 0, true);
}
void visit(const std::string& p, ResBlock& b, const Fn& fn) {
  visit(p + ".residual.0", b.norm1, fn);
  visit(p + ".residual.2", b.conv1, fn);
  visit(p + ".residual.3", b.norm2, fn);
  visit(p + ".residual.6", b.conv2, fn);
  if (b.has_shortcut) visit(p + ".shortcut", b.shortcut, fn);
}
void visit(const std::string& p, AttnBlock& a, const Fn& fn) {
  visit(p + ".norm", a.norm, fn);
  visit(p + ".to_qkv", a.to_qkv, fn);
  visit(p + ".proj", a.proj, fn);
}
void visit(const std::string& p, Resample& r, const Fn& fn) {
  visit(p + ".resample.1", r.conv, fn);
  if (r.mode == ResampleMode::Upsample3d || r.mode == ResampleMode::Downsample3d) visit(p + ".time_conv", r.time_conv, fn);
}
void visit(const std::string& p, Layer& l, const Fn& fn) {
  switch (l.kind) {
    case Layer::Kind::Res: visit(p, l.res, fn); break;
    case Layer::Kind::Attn: visit(p, l.attn, fn); break;
    case Layer::Kind::Resample: visit(p, l.resample, fn); break;
  }
}
}  // namespace
}  // namespace vae

WanVAE WanVAE::skeleton(const VaeConfig& cfg) {
  using namespace vae;
  cfg.validate();
  WanVAE m;
  m.cfg = cfg;
  const int64_t n = static_cast<int64_t>(cfg.dim_mult.size());
  // Encoder: dims = dim * [1] + dim_mult.
  {
    std::vector<int64_t> dims{cfg.dim};
    for (int u : cfg.dim_mult) dims.push_back(static_cast<int64_t>(cfg.dim) * u);
    Encoder& e = m.encoder;
    e.conv1 = causal3(3, dims[0]);
    double scale = 1.0;
    int64_t out = dims[0];
    for (int64_t i = 0; i < n; ++i) {
      int64_t in = dims[i];
      out = dims[i + 1];
      for (int r = 0; r < cfg.num_res_blocks; ++r) {
        e.downsamples.push_back(layer_res(res(in, out)));
        if (has_scale(cfg.attn_scales, scale)) e.downsamples.push_back(layer_attn(attn(out)));
        in = out;
      }
      if (i != n - 1) {
        const auto mode = cfg.temporal_downsample[i] ? ResampleMode::Downsample3d : ResampleMode::Downsample2d;
        e.downsamples.push_back(layer_resample(resample(out, mode)));
        scale /= 2.0;
      }
    }
    e.mid0 = res(out, out);
    e.mid1 = attn(out);
    e.mid2 = res(out, out);
    e.head_norm = norm(out);
    e.head_conv = causal3(out, 2 * cfg.z_dim);
  }
  m.conv1 = pointwise(2 * cfg.z_dim, 2 * cfg.z_dim);
  m.conv2 = pointwise(cfg.z_dim, cfg.z_dim);
  // Decoder: dims = dim * ([dim_mult[-1]] + reversed(dim_mult)); temporal upsampling mirrors the encoder.
  {
    std::vector<int64_t> dims{static_cast<int64_t>(cfg.dim) * cfg.dim_mult.back()};
    for (auto it = cfg.dim_mult.rbegin(); it != cfg.dim_mult.rend(); ++it) dims.push_back(static_cast<int64_t>(cfg.dim) * *it);
    Decoder& d = m.decoder;
    d.conv1 = causal3(cfg.z_dim, dims[0]);
    d.mid0 = res(dims[0], dims[0]);
    d.mid1 = attn(dims[0]);
    d.mid2 = res(dims[0], dims[0]);
    double scale = 1.0 / std::pow(2.0, static_cast<double>(n - 2));
    int64_t out = dims[0];
    for (int64_t i = 0; i < n; ++i) {
      int64_t in = dims[i];
      out = dims[i + 1];
      if (i >= 1) in /= 2;  // the previous stage's upsample halved the width
      for (int r = 0; r < cfg.num_res_blocks + 1; ++r) {
        d.upsamples.push_back(layer_res(res(in, out)));
        if (has_scale(cfg.attn_scales, scale)) d.upsamples.push_back(layer_attn(attn(out)));
        in = out;
      }
      if (i != n - 1) {
        const bool t_up = cfg.temporal_downsample[cfg.temporal_downsample.size() - 1 - i];
        d.upsamples.push_back(layer_resample(resample(out, t_up ? ResampleMode::Upsample3d : ResampleMode::Upsample2d)));
        scale *= 2.0;
      }
    }
    d.head_norm = norm(out);
    d.head_conv = causal3(out, 3);
  }
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  m.latent_mean = at::tensor(at::ArrayRef<float>(kWanLatentMean.data(), kWanLatentMean.size()), opts);
  m.latent_std = at::tensor(at::ArrayRef<float>(kWanLatentStd.data(), kWanLatentStd.size()), opts);
  if (cfg.z_dim != static_cast<int>(kWanLatentMean.size())) {  // no upstream constants: identity scaling
    m.latent_mean = at::zeros({cfg.z_dim}, opts);
    m.latent_std = at::ones({cfg.z_dim}, opts);
  }
  return m;
}

void WanVAE::visit_parameters(
    const std::function<void(const std::string&, at::Tensor&, const std::vector<int64_t>&, int64_t, bool)>& fn) {
  using vae::visit;
  visit("encoder.conv1", encoder.conv1, fn);
  for (std::size_t i = 0; i < encoder.downsamples.size(); ++i)
    visit("encoder.downsamples." + std::to_string(i), encoder.downsamples[i], fn);
  visit("encoder.middle.0", encoder.mid0, fn);
  visit("encoder.middle.1", encoder.mid1, fn);
  visit("encoder.middle.2", encoder.mid2, fn);
  visit("encoder.head.0", encoder.head_norm, fn);
  visit("encoder.head.2", encoder.head_conv, fn);
  visit("conv1", conv1, fn);
  visit("conv2", conv2, fn);
  visit("decoder.conv1", decoder.conv1, fn);
  visit("decoder.middle.0", decoder.mid0, fn);
  visit("decoder.middle.1", decoder.mid1, fn);
  visit("decoder.middle.2", decoder.mid2, fn);
  for (std::size_t i = 0; i < decoder.upsamples.size(); ++i)
    visit("decoder.upsamples." + std::to_string(i), decoder.upsamples[i], fn);
  visit("decoder.head.0", decoder.head_norm, fn);
  visit("decoder.head.2", decoder.head_conv, fn);
}

WanVAE WanVAE::load(const TensorSet& weights, const VaeConfig& cfg, c10::ScalarType dtype, c10::Device device) {
  WanVAE m = skeleton(cfg);
  WeightLoader loader(weights, "VAE", dtype, device);
  m.visit_parameters([&](const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape, int64_t, bool) {
    t = loader.take(name, shape);
  });
  loader.finish();
  m.latent_mean = m.latent_mean.to(device);
  m.latent_std = m.latent_std.to(device);
  return m;
}

WanVAE WanVAE::load_file(const std::string& path, c10::ScalarType dtype, c10::Device device) {
  TensorSet set = load_tensor_file(path);
  return load(set, VaeConfig::infer(set), dtype, device);
}

WanVAE WanVAE::init(const VaeConfig& cfg, uint64_t seed) {
  WanVAE m = skeleton(cfg);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  m.visit_parameters([&](const std::string&, at::Tensor& t, const std::vector<int64_t>& shape, int64_t fan_in, bool gamma) {
    if (gamma) {
      t = at::ones(shape, at::kFloat);
    } else {
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      t = at::empty(shape, at::kFloat).uniform_(-bound, bound, gen);
    }
  });
  return m;
}

NamedTensors WanVAE::named_parameters() const {
  NamedTensors out;
  const_cast<WanVAE*>(this)->visit_parameters(
      [&](const std::string& name, at::Tensor& t, const std::vector<int64_t>&, int64_t, bool) { out.emplace_back(name, t); });
  return out;
}

int64_t WanVAE::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void WanVAE::set_requires_grad(bool on) {
  for (auto& [name, t] : named_parameters()) t.requires_grad_(on);
}

bool WanVAE::any_requires_grad() const {
  for (const auto& [name, t] : named_parameters())
    if (t.requires_grad()) return true;
  return false;
}

void WanVAE::save(const std::string& path, const std::map<std::string, std::string>& extra_metadata) const {
  NamedTensors ps = named_parameters();
  for (auto& [name, t] : ps) t = t.detach();
  std::map<std::string, std::string> meta = extra_metadata;
  meta["format"] = "pt";
  meta["focalscope.vae_config"] = cfg.to_json().dump();
  save_safetensors(path, ps, meta);
}

c10::ScalarType WanVAE::dtype() const { return conv2.weight.scalar_type(); }
c10::Device WanVAE::device() const { return conv2.weight.device(); }

// ---- checks --------------------------------------------------------------------------------------------
bool WanVAE::wants_grad(const at::Tensor& input) const {
  return at::GradMode::is_enabled() && (input.requires_grad() || any_requires_grad());
}

void WanVAE::check_video(const at::Tensor& v) const {
  const char* where = "VAE encode";
  if (!v.defined()) fail(where, "video tensor is undefined");
  if (v.dim() != 5 || v.size(1) != 3)
    fail(where, "video has shape " + shape_str(v.sizes()) + ", expected [B,3,T,H,W]");
  if (!at::isFloatingType(v.scalar_type())) fail(where, "video must be a floating-point tensor in [-1,1]");
  const int64_t T = v.size(2), H = v.size(3), W = v.size(4), s = cfg.spatial_stride();
  if (v.size(0) < 1 || T < 1 || (T - 1) % kVaeEncodeChunk != 0)
    fail(where, "video has " + std::to_string(T) + " frames; the Wan VAE needs 1 + 4k frames (1, 5, 9, ..., 81)");
  if (H < s || W < s || H % s || W % s)
    fail(where, "video is " + std::to_string(H) + "x" + std::to_string(W) + " (HxW); both must be positive multiples of " +
                    std::to_string(s));
}

void WanVAE::check_latent(const at::Tensor& z) const {
  const char* where = "VAE decode";
  if (!z.defined()) fail(where, "latent tensor is undefined");
  if (z.dim() != 5 || z.size(1) != cfg.z_dim || z.size(0) < 1 || z.size(2) < 1 || z.size(3) < 1 || z.size(4) < 1)
    fail(where, "latent has shape " + shape_str(z.sizes()) + ", expected [B," + std::to_string(cfg.z_dim) + ",T,h,w]");
  if (!at::isFloatingType(z.scalar_type())) fail(where, "latent must be a floating-point tensor");
}

// ---- building blocks -----------------------------------------------------------------------------------
at::Tensor WanVAE::normalize_latent(const at::Tensor& mu) const {
  const at::Tensor mean = latent_mean.to(mu.device(), mu.scalar_type()).view({1, -1, 1, 1, 1});
  const at::Tensor inv_std = (1.0 / latent_std).to(mu.device(), mu.scalar_type()).view({1, -1, 1, 1, 1});
  return (mu - mean) * inv_std;
}

at::Tensor WanVAE::denormalize_latent(const at::Tensor& z) const {
  const at::Tensor mean = latent_mean.to(z.device(), z.scalar_type()).view({1, -1, 1, 1, 1});
  const at::Tensor inv_std = (1.0 / latent_std).to(z.device(), z.scalar_type()).view({1, -1, 1, 1, 1});
  return z / inv_std + mean;  // upstream divides by the reciprocal
}

at::Tensor WanVAE::apply_conv1(const at::Tensor& x) const { return vae::conv(conv1, x); }
at::Tensor WanVAE::apply_conv2(const at::Tensor& x) const { return vae::conv(conv2, x); }

at::Tensor WanVAE::encoder_chunked(const at::Tensor& video, const VaeChunkFn& on_chunk) const {
  check_video(video);
  const int64_t T = video.size(2), n = 1 + (T - 1) / kVaeEncodeChunk;
  vae::FeatCache cache;
  std::vector<at::Tensor> outs;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t0 = i == 0 ? 0 : 1 + kVaeEncodeChunk * (i - 1), t1 = i == 0 ? 1 : t0 + kVaeEncodeChunk;
    const at::Tensor x = video.slice(2, t0, t1).to(device(), dtype());
    cache.begin_chunk();
    outs.push_back(vae::encoder_forward(encoder, x, &cache));
    if (on_chunk) on_chunk(i, outs.back());
  }
  return at::cat(outs, 2);
}

VaePosterior WanVAE::posterior(const at::Tensor& video) const {
  const at::Tensor h = apply_conv1(encoder_chunked(video));
  return {h.slice(1, 0, cfg.z_dim), h.slice(1, cfg.z_dim)};
}

at::Tensor WanVAE::encoder_full(const at::Tensor& video) const {
  check_video(video);
  return vae::encoder_forward(encoder, video.to(device(), dtype()), nullptr);
}

at::Tensor WanVAE::decoder_full(const at::Tensor& x) const {
  check_latent(x);
  return vae::decoder_forward(decoder, x.to(device(), dtype()), nullptr);
}

at::Tensor WanVAE::decoder_chunked(const at::Tensor& x, const VaeChunkFn& on_chunk, bool collect) const {
  check_latent(x);
  const int64_t B = x.size(0), T = x.size(2);
  const int64_t ts = cfg.temporal_stride(), s = cfg.spatial_stride();
  vae::FeatCache cache;
  std::vector<at::Tensor> outs;  // autograd path: concatenated at the end
  at::Tensor out;                // no-grad path: written in place, no second copy of the video
  const bool prealloc = collect && vae::no_grad();
  if (prealloc) out = at::empty({B, 3, 1 + ts * (T - 1), x.size(3) * s, x.size(4) * s}, x.options().dtype(dtype()).device(device()));
  int64_t pos = 0;
  for (int64_t i = 0; i < T; ++i) {
    cache.begin_chunk();
    at::Tensor y = vae::decoder_forward(decoder, x.slice(2, i, i + 1).to(device(), dtype()), &cache);
    if (on_chunk) on_chunk(i, y);
    if (prealloc) {
      out.slice(2, pos, pos + y.size(2)).copy_(y);
    } else if (collect) {
      outs.push_back(y);
    }
    pos += y.size(2);
  }
  if (!collect) return {};
  return prealloc ? out : at::cat(outs, 2);
}

at::Tensor WanVAE::decode_raw(const at::Tensor& z_raw) const {
  check_latent(z_raw);
  return decoder_chunked(apply_conv2(z_raw.to(device(), dtype())));
}

// ---- inference entry points ----------------------------------------------------------------------------
at::Tensor WanVAE::encode_mu(const at::Tensor& video) const {
  if (wants_grad(video)) return posterior(video).mu;
  at::Tensor feats;
  {
    c10::InferenceMode guard;
    feats = encoder_chunked(video);
  }
  at::NoGradGuard no_grad;  // outside InferenceMode: the (small) result is a normal tensor
  return apply_conv1(feats).slice(1, 0, cfg.z_dim).contiguous();
}

at::Tensor WanVAE::encode(const at::Tensor& video) const {
  if (wants_grad(video)) return normalize_latent(posterior(video).mu);
  at::Tensor mu = encode_mu(video);
  at::NoGradGuard no_grad;
  return normalize_latent(mu);
}

void WanVAE::decode_stream(const at::Tensor& latent, const VaeChunkFn& on_frames, bool clamp) const {
  check_latent(latent);
  std::optional<c10::InferenceMode> guard;
  if (!wants_grad(latent)) guard.emplace();
  const at::Tensor x = apply_conv2(denormalize_latent(latent.to(device(), dtype())));
  decoder_chunked(
      x, [&](int64_t i, const at::Tensor& y) { on_frames(i, clamp ? y.clamp(-1.0, 1.0) : y); }, /*collect=*/false);
}

at::Tensor WanVAE::decode_unclamped(const at::Tensor& latent) const {
  check_latent(latent);
  if (wants_grad(latent)) return decoder_chunked(apply_conv2(denormalize_latent(latent.to(device(), dtype()))));
  const int64_t B = latent.size(0), T = latent.size(2), s = cfg.spatial_stride();
  // Allocated outside InferenceMode so the caller gets a normal tensor; filled chunk by chunk.
  at::Tensor out = at::empty({B, 3, 1 + cfg.temporal_stride() * (T - 1), latent.size(3) * s, latent.size(4) * s},
                             at::TensorOptions().dtype(dtype()).device(device()));
  int64_t pos = 0;
  {
    c10::InferenceMode guard;
    decode_stream(
        latent,
        [&](int64_t, const at::Tensor& y) {
          out.slice(2, pos, pos + y.size(2)).copy_(y);
          pos += y.size(2);
        },
        /*clamp=*/false);
  }
  if (pos != out.size(2)) fail("VAE decode", "internal error: decoded " + std::to_string(pos) + " frames, expected " + std::to_string(out.size(2)));
  return out;
}

at::Tensor WanVAE::decode(const at::Tensor& latent) const {
  at::Tensor v = decode_unclamped(latent);
  if (v.requires_grad()) return v.clamp(-1.0, 1.0);
  at::NoGradGuard no_grad;
  return v.clamp_(-1.0, 1.0);
}

}  // namespace focalscope
