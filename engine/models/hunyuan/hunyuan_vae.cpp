// HunyuanVideo VAE: configuration, module tree and strict loading (forward and tiling: hunyuan_vae_forward.cpp).
#include "engine/models/hunyuan/hunyuan_vae.h"

#include "engine/core/pth.h"

#include <ATen/ATen.h>

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/core/error.h"

namespace focalscope {

namespace {
const char* kWhere = "HunyuanVideo VAE config";

// int(np.log2(v)) for a power of two, -1 otherwise.
int log2_exact(int v) {
  if (v <= 0 || (v & (v - 1)) != 0) return -1;
  int n = 0;
  while ((1 << n) < v) ++n;
  return n;
}

std::string block_type(const std::string& t) { return t.rfind("UNetRes", 0) == 0 ? t.substr(7) : t; }
}  // namespace

// ---- tiling --------------------------------------------------------------------------------------------
// Python's int(a * b) on doubles: truncation toward zero (all values here are non-negative).
static int64_t trunc_mul(int64_t a, double b) { return static_cast<int64_t>(static_cast<double>(a) * b); }
int64_t HunyuanVaeTiling::enc_step() const { return trunc_mul(sample_size, 1.0 - overlap); }
int64_t HunyuanVaeTiling::enc_blend() const { return trunc_mul(latent_size, overlap); }
int64_t HunyuanVaeTiling::enc_tstep() const { return trunc_mul(sample_tsize, 1.0 - overlap); }
int64_t HunyuanVaeTiling::enc_tblend() const { return trunc_mul(latent_tsize, overlap); }
int64_t HunyuanVaeTiling::dec_step() const { return trunc_mul(latent_size, 1.0 - overlap); }
int64_t HunyuanVaeTiling::dec_blend() const { return trunc_mul(sample_size, overlap); }
int64_t HunyuanVaeTiling::dec_tstep() const { return trunc_mul(latent_tsize, 1.0 - overlap); }
int64_t HunyuanVaeTiling::dec_tblend() const { return trunc_mul(sample_tsize, overlap); }

std::vector<int64_t> HunyuanVaeTiling::origins(int64_t extent, int64_t step) {
  if (step <= 0) fail("HunyuanVideo VAE tiling", "tile step " + std::to_string(step) + " (must be >= 1)");
  std::vector<int64_t> o;
  for (int64_t i = 0; i < extent; i += step) o.push_back(i);
  return o;
}

void HunyuanVaeTiling::validate() const {
  const char* w = "HunyuanVideo VAE tiling";
  if (sample_size < 1 || latent_size < 1 || sample_tsize < 1 || latent_tsize < 1)
    fail(w, "tile sizes must be positive (sample " + std::to_string(sample_size) + ", latent " + std::to_string(latent_size) +
                ", tsize " + std::to_string(sample_tsize) + ", latent tsize " + std::to_string(latent_tsize) + ")");
  if (!(overlap >= 0.0 && overlap < 1.0)) fail(w, "tile_overlap_factor must be in [0, 1), got " + std::to_string(overlap));
  for (int64_t s : {enc_step(), enc_tstep(), dec_step(), dec_tstep()})
    if (s < 1) fail(w, "a tile step is 0 with these sizes and overlap (upstream's range() would fail)");
}

// ---- config --------------------------------------------------------------------------------------------
HunyuanVaeConfig HunyuanVaeConfig::release_884_16c() {
  HunyuanVaeConfig c;
  c.down_block_types.assign(4, "DownEncoderBlockCausal3D");
  c.up_block_types.assign(4, "UpDecoderBlockCausal3D");
  c.block_out_channels = {128, 256, 512, 512};
  c.layers_per_block = 2;
  c.latent_channels = 16;
  c.norm_num_groups = 32;
  c.sample_size = 256;
  c.sample_tsize = 64;
  c.scaling_factor = 0.476986;
  return c;
}

HunyuanVaeConfig HunyuanVaeConfig::from_json(const nlohmann::json& root) {
  if (!root.is_object()) fail(kWhere, "config must be a JSON object");
  const bool nested = root.contains("constructor_args");
  const nlohmann::json& j = nested ? root["constructor_args"] : root;
  if (!j.is_object()) fail(kWhere, "\"constructor_args\" must be an object");
  HunyuanVaeConfig c;
  auto get_int = [&](const std::string& k, int& v) {
    if (!j.at(k).is_number_integer()) fail(kWhere, "'" + k + "' must be an integer, got " + j.at(k).dump());
    v = j.at(k).get<int>();
  };
  auto get_bool = [&](const std::string& k, bool& v) {
    if (j.at(k).is_boolean()) v = j.at(k).get<bool>();
    else if (j.at(k).is_number()) v = j.at(k).get<double>() != 0.0;  // upstream annotates force_upcast as float
    else fail(kWhere, "'" + k + "' must be true/false, got " + j.at(k).dump());
  };
  auto get_strs = [&](const std::string& k, std::vector<std::string>& v) {
    if (!j.at(k).is_array()) fail(kWhere, "'" + k + "' must be a list, got " + j.at(k).dump());
    v.clear();
    for (const auto& e : j.at(k)) {
      if (!e.is_string()) fail(kWhere, "'" + k + "' entries must be strings, got " + e.dump());
      v.push_back(e.get<std::string>());
    }
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (!k.empty() && k[0] == '_') continue;  // diffusers metadata: _class_name, _diffusers_version, _name_or_path
    if (k == "in_channels") get_int(k, c.in_channels);
    else if (k == "out_channels") get_int(k, c.out_channels);
    else if (k == "down_block_types") get_strs(k, c.down_block_types);
    else if (k == "up_block_types") get_strs(k, c.up_block_types);
    else if (k == "block_out_channels") {
      if (!it->is_array()) fail(kWhere, "'block_out_channels' must be a list, got " + it->dump());
      c.block_out_channels.clear();
      for (const auto& e : *it) {
        if (!e.is_number_integer()) fail(kWhere, "'block_out_channels' entries must be integers, got " + e.dump());
        c.block_out_channels.push_back(e.get<int>());
      }
    } else if (k == "layers_per_block") get_int(k, c.layers_per_block);
    else if (k == "act_fn") {
      if (!it->is_string()) fail(kWhere, "'act_fn' must be a string, got " + it->dump());
      c.act_fn = it->get<std::string>();
    } else if (k == "latent_channels") get_int(k, c.latent_channels);
    else if (k == "norm_num_groups") get_int(k, c.norm_num_groups);
    else if (k == "sample_size") {
      if (!it->is_number_integer())
        fail(kWhere, "'sample_size' must be an integer (upstream's tiling compares it with H and W), got " + it->dump());
      c.sample_size = it->get<int>();
    } else if (k == "sample_tsize") get_int(k, c.sample_tsize);
    else if (k == "scaling_factor") {
      if (!it->is_number()) fail(kWhere, "'scaling_factor' must be a number, got " + it->dump());
      c.scaling_factor = it->get<double>();
    } else if (k == "force_upcast") get_bool(k, c.force_upcast);
    else if (k == "spatial_compression_ratio") get_int(k, c.spatial_compression_ratio);
    else if (k == "time_compression_ratio") get_int(k, c.time_compression_ratio);
    else if (k == "mid_block_add_attention") get_bool(k, c.mid_block_add_attention);
    else fail(kWhere, "unknown constructor argument '" + k + "'");
  }
  // A fixture records upstream's tiling attributes next to the constructor arguments.
  if (nested && root.contains("tiling") && !root["tiling"].is_null()) {
    const auto& t = root["tiling"];
    if (!t.is_object()) fail(kWhere, "\"tiling\" must be an object");
    HunyuanVaeTiling tl = c.tiling();
    static const std::set<std::string> known = {"tile_sample_min_size", "tile_latent_min_size", "tile_sample_min_tsize",
                                                "tile_latent_min_tsize", "tile_overlap_factor"};
    for (auto it = t.begin(); it != t.end(); ++it) {
      if (!known.count(it.key())) fail(kWhere, "unknown tiling attribute '" + it.key() + "'");
      if (it.key() == "tile_overlap_factor") {
        if (!it->is_number()) fail(kWhere, "'tile_overlap_factor' must be a number, got " + it->dump());
        tl.overlap = it->get<double>();
        continue;
      }
      if (!it->is_number_integer()) fail(kWhere, "tiling '" + it.key() + "' must be an integer, got " + it->dump());
      const int64_t v = it->get<int64_t>();
      if (it.key() == "tile_sample_min_size") tl.sample_size = v;
      else if (it.key() == "tile_latent_min_size") tl.latent_size = v;
      else if (it.key() == "tile_sample_min_tsize") tl.sample_tsize = v;
      else tl.latent_tsize = v;
    }
    c.tiling_override = tl;
  }
  c.validate();
  return c;
}

nlohmann::json HunyuanVaeConfig::to_json() const {
  return nlohmann::json{{"_class_name", "AutoencoderKLCausal3D"},
                        {"in_channels", in_channels},
                        {"out_channels", out_channels},
                        {"down_block_types", down_block_types},
                        {"up_block_types", up_block_types},
                        {"block_out_channels", block_out_channels},
                        {"layers_per_block", layers_per_block},
                        {"act_fn", act_fn},
                        {"latent_channels", latent_channels},
                        {"norm_num_groups", norm_num_groups},
                        {"sample_size", sample_size},
                        {"sample_tsize", sample_tsize},
                        {"scaling_factor", scaling_factor},
                        {"force_upcast", force_upcast},
                        {"spatial_compression_ratio", spatial_compression_ratio},
                        {"time_compression_ratio", time_compression_ratio},
                        {"mid_block_add_attention", mid_block_add_attention}};
}

void HunyuanVaeConfig::validate() const {
  auto bad = [](const std::string& what) { fail(kWhere, what); };
  if (in_channels < 1 || out_channels < 1 || latent_channels < 1) bad("in/out/latent channels must be positive");
  if (block_out_channels.empty()) bad("block_out_channels is empty");
  if (norm_num_groups < 1) bad("norm_num_groups must be positive");
  for (int ch : block_out_channels)
    if (ch < 1 || ch % norm_num_groups != 0)
      bad("block_out_channels entry " + std::to_string(ch) + " is not a positive multiple of norm_num_groups " +
          std::to_string(norm_num_groups));
  if (down_block_types.size() != block_out_channels.size() || up_block_types.size() != block_out_channels.size())
    bad("down_block_types / up_block_types need one entry per block_out_channels entry (" +
        std::to_string(block_out_channels.size()) + ")");
  for (const auto& t : down_block_types)
    if (block_type(t) != "DownEncoderBlockCausal3D") bad("down block type '" + t + "' is not supported (DownEncoderBlockCausal3D)");
  for (const auto& t : up_block_types)
    if (block_type(t) != "UpDecoderBlockCausal3D") bad("up block type '" + t + "' is not supported (UpDecoderBlockCausal3D)");
  if (layers_per_block < 1) bad("layers_per_block must be >= 1");
  if (act_fn != "silu" && act_fn != "swish") bad("act_fn '" + act_fn + "' is not supported (silu)");
  if (time_compression_ratio != 4)
    bad("time_compression_ratio " + std::to_string(time_compression_ratio) + " is not supported (upstream accepts only 4)");
  if (log2_exact(spatial_compression_ratio) < 0)
    bad("spatial_compression_ratio " + std::to_string(spatial_compression_ratio) + " is not a power of two");
  if (sample_size < 1 || sample_tsize < 1) bad("sample_size and sample_tsize must be positive");
  if (!std::isfinite(scaling_factor) || scaling_factor == 0.0) bad("scaling_factor must be finite and non-zero");
  tiling().validate();
}

HunyuanVaeTiling HunyuanVaeConfig::tiling() const {
  if (tiling_override) return *tiling_override;
  HunyuanVaeTiling t;
  t.sample_size = sample_size;
  t.latent_size = static_cast<int64_t>(static_cast<double>(sample_size) / std::pow(2.0, num_blocks() - 1));
  t.sample_tsize = sample_tsize;
  t.latent_tsize = sample_tsize / time_compression_ratio;
  t.overlap = 0.25;
  return t;
}

bool HunyuanVaeConfig::spatial_resample(int i) const { return i < log2_exact(spatial_compression_ratio); }
bool HunyuanVaeConfig::temporal_resample(int i) const {
  return i >= num_blocks() - 1 - log2_exact(time_compression_ratio) && i != num_blocks() - 1;
}
int64_t HunyuanVaeConfig::spatial_factor() const {
  int64_t f = 1;
  for (int i = 0; i < num_blocks(); ++i) f *= spatial_resample(i) ? 2 : 1;
  return f;
}
int64_t HunyuanVaeConfig::temporal_factor() const {
  int64_t f = 1;
  for (int i = 0; i < num_blocks(); ++i) f *= temporal_resample(i) ? 2 : 1;
  return f;
}

// ---- module tree ---------------------------------------------------------------------------------------
namespace hyvae {
namespace {
Conv causal(int64_t in, int64_t out, int64_t k = 3, std::array<int64_t, 3> stride = {1, 1, 1}) {
  Conv c;
  c.in = in;
  c.out = out;
  c.k = k;
  c.stride = stride;
  return c;
}
GroupNorm gn(int64_t ch, int64_t groups) {
  GroupNorm n;
  n.channels = ch;
  n.groups = groups;
  return n;
}
Resnet resnet(int64_t in, int64_t out, int64_t groups) {
  Resnet r;
  r.norm1 = gn(in, groups);
  r.conv1 = causal(in, out);
  r.norm2 = gn(out, groups);
  r.conv2 = causal(out, out);
  r.has_shortcut = in != out;
  if (r.has_shortcut) r.shortcut = causal(in, out, 1);
  return r;
}
MidBlock mid(int64_t ch, int64_t groups, bool attention) {
  MidBlock m;
  m.res0 = resnet(ch, ch, groups);
  m.res1 = resnet(ch, ch, groups);
  m.has_attention = attention;
  if (attention) {
    m.attn.group_norm = gn(ch, groups);
    for (Linear* l : {&m.attn.to_q, &m.attn.to_k, &m.attn.to_v, &m.attn.to_out}) {
      l->in = ch;
      l->out = ch;
    }
  }
  return m;
}

// Visitor over (state-dict name, tensor slot, expected shape, float32-norm?) in upstream registration order.
using Fn = std::function<void(const std::string&, at::Tensor&, const std::vector<int64_t>&, bool)>;
void visit(const std::string& p, Conv& c, const Fn& fn) {
  const std::string q = c.causal ? p + ".conv" : p;  // CausalConv3d wraps its nn.Conv3d as `.conv`
  fn(q + ".weight", c.weight, {c.out, c.in, c.k, c.k, c.k}, false);
  fn(q + ".bias", c.bias, {c.out}, false);
}
void visit(const std::string& p, GroupNorm& n, const Fn& fn) {
  fn(p + ".weight", n.weight, {n.channels}, true);
  fn(p + ".bias", n.bias, {n.channels}, true);
}
void visit(const std::string& p, Linear& l, const Fn& fn) {
  fn(p + ".weight", l.weight, {l.out, l.in}, false);
  fn(p + ".bias", l.bias, {l.out}, false);
}
void visit(const std::string& p, Resnet& r, const Fn& fn) {
  visit(p + ".norm1", r.norm1, fn);
  visit(p + ".conv1", r.conv1, fn);
  visit(p + ".norm2", r.norm2, fn);
  visit(p + ".conv2", r.conv2, fn);
  if (r.has_shortcut) visit(p + ".conv_shortcut", r.shortcut, fn);
}
void visit(const std::string& p, MidBlock& m, const Fn& fn) {
  if (m.has_attention) {  // `attentions` is registered before `resnets` (UNetMidBlockCausal3D.__init__)
    const std::string a = p + ".attentions.0";
    visit(a + ".group_norm", m.attn.group_norm, fn);
    visit(a + ".to_q", m.attn.to_q, fn);
    visit(a + ".to_k", m.attn.to_k, fn);
    visit(a + ".to_v", m.attn.to_v, fn);
    visit(a + ".to_out.0", m.attn.to_out, fn);
  }
  visit(p + ".resnets.0", m.res0, fn);
  visit(p + ".resnets.1", m.res1, fn);
}
void visit_all(HunyuanVAE& v, const Fn& fn) {
  visit("encoder.conv_in", v.encoder.conv_in, fn);
  for (size_t i = 0; i < v.encoder.down_blocks.size(); ++i) {
    auto& b = v.encoder.down_blocks[i];
    const std::string p = "encoder.down_blocks." + std::to_string(i);
    for (size_t r = 0; r < b.resnets.size(); ++r) visit(p + ".resnets." + std::to_string(r), b.resnets[r], fn);
    if (b.has_downsampler) visit(p + ".downsamplers.0.conv", b.downsampler, fn);
  }
  visit("encoder.mid_block", v.encoder.mid, fn);
  visit("encoder.conv_norm_out", v.encoder.norm_out, fn);
  visit("encoder.conv_out", v.encoder.conv_out, fn);
  // DecoderCausal3D registers up_blocks (empty) before assigning mid_block.
  visit("decoder.conv_in", v.decoder.conv_in, fn);
  for (size_t i = 0; i < v.decoder.up_blocks.size(); ++i) {
    auto& b = v.decoder.up_blocks[i];
    const std::string p = "decoder.up_blocks." + std::to_string(i);
    for (size_t r = 0; r < b.resnets.size(); ++r) visit(p + ".resnets." + std::to_string(r), b.resnets[r], fn);
    if (b.has_upsampler) visit(p + ".upsamplers.0.conv", b.upsampler, fn);
  }
  visit("decoder.mid_block", v.decoder.mid, fn);
  visit("decoder.conv_norm_out", v.decoder.norm_out, fn);
  visit("decoder.conv_out", v.decoder.conv_out, fn);
  visit("quant_conv", v.quant_conv, fn);
  visit("post_quant_conv", v.post_quant_conv, fn);
}
}  // namespace
}  // namespace hyvae

HunyuanVAE HunyuanVAE::skeleton(const HunyuanVaeConfig& cfg) {
  using namespace hyvae;
  cfg.validate();
  HunyuanVAE v;
  v.cfg = cfg;
  const int n = cfg.num_blocks();
  const int64_t G = cfg.norm_num_groups, z = cfg.latent_channels;
  const auto& ch = cfg.block_out_channels;
  // Encoder (vae.py:32-133).
  v.encoder.conv_in = causal(cfg.in_channels, ch[0]);
  int64_t out = ch[0];
  for (int i = 0; i < n; ++i) {
    const int64_t in = out;
    out = ch[i];
    DownBlock b;
    for (int r = 0; r < cfg.layers_per_block; ++r) b.resnets.push_back(resnet(r == 0 ? in : out, out, G));
    const bool s = cfg.spatial_resample(i), t = cfg.temporal_resample(i);
    b.has_downsampler = s || t;
    if (b.has_downsampler) b.downsampler = causal(out, out, 3, {t ? 2 : 1, s ? 2 : 1, s ? 2 : 1});
    v.encoder.down_blocks.push_back(std::move(b));
  }
  v.encoder.mid = mid(ch.back(), G, cfg.mid_block_add_attention);
  v.encoder.norm_out = gn(ch.back(), G);
  v.encoder.conv_out = causal(ch.back(), 2 * z);
  // Decoder (vae.py:136-291): channels reversed, layers_per_block + 1 resnets per up block.
  v.decoder.conv_in = causal(z, ch.back());
  v.decoder.mid = mid(ch.back(), G, cfg.mid_block_add_attention);
  out = ch.back();
  for (int i = 0; i < n; ++i) {
    const int64_t in = out;
    out = ch[n - 1 - i];
    UpBlock b;
    for (int r = 0; r < cfg.layers_per_block + 1; ++r) b.resnets.push_back(resnet(r == 0 ? in : out, out, G));
    const bool s = cfg.spatial_resample(i), t = cfg.temporal_resample(i);
    b.has_upsampler = s || t;
    if (b.has_upsampler) {
      b.factor = {t ? 2 : 1, s ? 2 : 1, s ? 2 : 1};
      b.upsampler = causal(out, out);
    }
    v.decoder.up_blocks.push_back(std::move(b));
  }
  v.decoder.norm_out = gn(ch[0], G);
  v.decoder.conv_out = causal(ch[0], cfg.out_channels);
  v.quant_conv = causal(2 * z, 2 * z, 1);
  v.quant_conv.causal = false;
  v.post_quant_conv = causal(z, z, 1);
  v.post_quant_conv.causal = false;
  return v;
}

HunyuanVAE HunyuanVAE::load(const TensorSet& weights, const HunyuanVaeConfig& cfg, c10::ScalarType dtype, c10::Device device) {
  HunyuanVAE v = skeleton(cfg);
  WeightLoader L(weights, "HunyuanVideo VAE", dtype, device);
  WeightLoader L32(weights, "HunyuanVideo VAE", at::kFloat, device);  // GroupNorm affine: always float32
  hyvae::visit_all(v, [&](const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape, bool norm) {
    if (norm) {
      t = L32.take(name, shape);
      L.ignore(name);
    } else {
      t = L.take(name, shape);
    }
  });
  L.finish();
  return v;
}

HunyuanVAE HunyuanVAE::load_file(const std::string& path, const HunyuanVaeConfig& cfg, c10::ScalarType dtype, c10::Device device) {
  // A torch pickle may wrap the state dict as {"state_dict": ...} (load_vae unwraps it); other files are flat.
  const bool pickle = path.size() > 3 && (path.compare(path.size() - 3, 3, ".pt") == 0 ||
                                          (path.size() > 4 && path.compare(path.size() - 4, 4, ".pth") == 0));
  const TensorSet w = pickle ? load_pth_entry(path, "state_dict", /*optional=*/true) : load_tensor_file(path);
  return load(hunyuan_vae_strip_prefix(w), cfg, dtype, device);
}

NamedTensors HunyuanVAE::named_parameters() const {
  NamedTensors out;
  hyvae::visit_all(const_cast<HunyuanVAE&>(*this),
                   [&](const std::string& name, at::Tensor& t, const std::vector<int64_t>&, bool) { out.emplace_back(name, t); });
  return out;
}

int64_t HunyuanVAE::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

c10::ScalarType HunyuanVAE::dtype() const { return quant_conv.weight.scalar_type(); }
c10::Device HunyuanVAE::device() const { return quant_conv.weight.device(); }

TensorSet hunyuan_vae_strip_prefix(const TensorSet& weights) {
  const auto names = weights.names();
  bool any = false;
  for (const auto& n : names) any = any || n.rfind("vae.", 0) == 0;
  if (!any) return weights;
  TensorSet out;
  out.origin = weights.origin;
  for (const auto& n : names) {
    if (n.rfind("vae.", 0) != 0) continue;
    std::string k = n;  // upstream: k.replace("vae.", "") (every occurrence)
    for (size_t p = k.find("vae."); p != std::string::npos; p = k.find("vae.", p)) k.erase(p, 4);
    if (out.has(k)) fail(weights.source(n), "two checkpoint keys map to VAE tensor '" + k + "' after removing 'vae.'");
    out.add(k, weights.get(n), weights.source(n));
  }
  return out;
}

}  // namespace focalscope
