#include "engine/models/wan/wan_model.h"

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/accumulate.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <functional>
#include <set>

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/models/common/attention.h"
#include "engine/models/common/cpu_kernels.h"
#include "engine/models/common/row_parallel.h"

namespace focalscope {

namespace {
at::Tensor gelu_tanh(const at::Tensor& x) { return at::gelu(x, "tanh"); }
void tap(const ForwardOptions& o, const std::string& name, const at::Tensor& t) {
  if (o.taps) (*o.taps)[name] = t.detach().clone();
}

// Wan2.1's answers to the probe seam's questions (probe.h): the anchors are img_emb outputs [K, dim] (Eq. 7), which
// this layer's image value projection turns into V_vis (Eq. 8); the text is read by a separate cross-attention.
class WanBlockView final : public BlockView {
 public:
  WanBlockView(const WanConfig& cfg, const WanBlockWeights& b)
      : b_(b), cross_{&b.ca_q, &b.ca_norm_q, &b.ca_o, cfg.num_heads, cfg.head_dim(), cfg.eps},
        image_branch_(cfg.has_image_branch()) {}
  // Wan2.1 I2V: anchors are img_emb(v_anchor) [K, dim], projected by this layer's image values (Eq. 7-8).
  // A Wan2.2 I2V-A14B expert has no image cross-attention: anchors are weights [K, n] over the n tokens of latent
  // frame 0 (the reference image's, conditioned through y), and V_vis,k is the weighted mean of those tokens' values
  // under this layer's own text value projection, v(norm3(x)) — on the scale the keyword rows' values live on, as the
  // MMDiT reads its image rows' values (docs/focal_guidance.md). Read from the conditional row.
  at::Tensor visual_values(const at::Tensor& anchors, const BlockProbe& p) const override {
    if (image_branch_) return b_.ca_v_img(anchors.to(b_.ca_v_img.w.scalar_type())).to(at::kFloat);
    int64_t row = 0;
    for (size_t i = 0; i < p.info.roles.size(); ++i)
      if (p.info.roles[i] == PassRole::Cond) { row = static_cast<int64_t>(i); break; }
    const int64_t n = anchors.size(1);
    if (anchors.dim() != 2 || n > p.x.size(1))
      fail("focal guidance", "reference-frame anchors must be weights over at most " + std::to_string(p.x.size(1)) +
                                 " tokens, got " + shape_str(anchors.sizes()));
    const at::Tensor x0 = p.x.select(0, row).narrow(0, 0, n).unsqueeze(0).to(at::kFloat);  // [1, n, dim]
    const at::Tensor v = b_.ca_v(layer_norm_affine(x0, b_.norm3, cross_.eps).to(b_.ca_v.w.scalar_type())).to(at::kFloat)[0];
    return at::matmul(anchors.to(v.device(), at::kFloat), v);  // [K, dim]
  }
  bool visual_values_are_static() const override { return image_branch_; }
  const TextCrossAttention* text_cross_attention() const override { return &cross_; }

 private:
  const WanBlockWeights& b_;
  TextCrossAttention cross_;
  bool image_branch_;
};
}  // namespace

// ---- load / init ------------------------------------------------------------------
WanModel WanModel::load(const TensorSet& weights, WanConfig cfg, c10::ScalarType dtype, c10::Device device,
                        const formats::QuantisedWeights* kept) {
  WeightLoader L(weights, "DiT", dtype, device);
  auto has = [&](const std::string& n) { return L.has(n) || (kept && kept->count(n)); };
  // Dimensions diffusers does not store in config.json are read off the tensors.
  if (L.has("text_embedding.0.weight")) cfg.text_dim = static_cast<int>(L.dim_of("text_embedding.0.weight", 1));
  if (cfg.has_image_branch() && L.has("img_emb.proj.0.weight")) cfg.clip_dim = static_cast<int>(L.dim_of("img_emb.proj.0.weight", 0));
  if (cfg.has_image_branch() != has("blocks.0.cross_attn.k_img.weight"))
    fail(weights.origin, std::string("config says model_type '") + cfg.model_type + "'" +
                             (cfg.is_i2v() && !cfg.image_branch ? " without the CLIP image branch" : "") + " but the checkpoint " +
                             (cfg.has_image_branch() ? "has no" : "has") + " image cross-attention (blocks.0.cross_attn.k_img)");
  cfg.validate();
  WanModel m;
  m.cfg = cfg;
  const int64_t d = cfg.dim, f = cfg.ffn_dim;
  const auto& p = cfg.patch_size;
  m.patch_w = L.take("patch_embedding.weight", {d, cfg.in_dim, p[0], p[1], p[2]});
  m.patch_b = L.take("patch_embedding.bias", {d});
  m.text_emb0.load(L, "text_embedding.0", cfg.text_dim, d);
  m.text_emb2.load(L, "text_embedding.2", d, d);
  m.time_emb0.load(L, "time_embedding.0", cfg.freq_dim, d);
  m.time_emb2.load(L, "time_embedding.2", d, d);
  m.time_proj.load(L, "time_projection.1", d, 6 * d);
  m.head_modulation = L.take("head.modulation", {1, 2, d});
  m.head.load(L, "head.head", d, int64_t(cfg.out_dim) * p[0] * p[1] * p[2]);
  if (cfg.has_image_branch()) {
    m.img_norm0.load(L, "img_emb.proj.0", cfg.clip_dim, true);
    m.img_lin1.load(L, "img_emb.proj.1", cfg.clip_dim, cfg.clip_dim);
    m.img_lin3.load(L, "img_emb.proj.3", cfg.clip_dim, d);
    m.img_norm4.load(L, "img_emb.proj.4", d, true);
  }
  m.blocks.resize(cfg.num_layers);
  std::set<std::string> kept_used;
  if (kept && !kept->empty()) m.kept_.resize(cfg.num_layers), m.kept_dtype_ = dtype;
  for (int i = 0; i < cfg.num_layers; ++i) {
    auto& b = m.blocks[i];
    const std::string pre = "blocks." + std::to_string(i) + ".";
    // A projection comes from the tensor set, or stays codes when `kept` holds its weight (its bias is dense).
    auto lin = [&](Linear WanBlockWeights::*member, const std::string& name, int64_t in, int64_t out) {
      const auto it = kept ? kept->find(pre + name + ".weight") : decltype(kept->end()){};
      if (!kept || it == kept->end()) return (b.*member).load(L, pre + name, in, out);
      const std::vector<int64_t> want{out, in};
      if (it->second.shape != want)
        fail(it->second.where, "has shape " + shape_str(it->second.shape) + ", expected " + shape_str(want));
      (b.*member).b = L.take(pre + name + ".bias", {out});
      m.kept_[i].emplace_back(member, it->second.to(device));
      kept_used.insert(it->first);
    };
    b.modulation = L.take(pre + "modulation", {1, 6, d});
    lin(&WanBlockWeights::sa_q, "self_attn.q", d, d);
    lin(&WanBlockWeights::sa_k, "self_attn.k", d, d);
    lin(&WanBlockWeights::sa_v, "self_attn.v", d, d);
    lin(&WanBlockWeights::sa_o, "self_attn.o", d, d);
    b.sa_norm_q.load(L, pre + "self_attn.norm_q", d, false);
    b.sa_norm_k.load(L, pre + "self_attn.norm_k", d, false);
    b.norm3.load(L, pre + "norm3", d, true);
    lin(&WanBlockWeights::ca_q, "cross_attn.q", d, d);
    lin(&WanBlockWeights::ca_k, "cross_attn.k", d, d);
    lin(&WanBlockWeights::ca_v, "cross_attn.v", d, d);
    lin(&WanBlockWeights::ca_o, "cross_attn.o", d, d);
    b.ca_norm_q.load(L, pre + "cross_attn.norm_q", d, false);
    b.ca_norm_k.load(L, pre + "cross_attn.norm_k", d, false);
    if (cfg.has_image_branch()) {
      lin(&WanBlockWeights::ca_k_img, "cross_attn.k_img", d, d);
      lin(&WanBlockWeights::ca_v_img, "cross_attn.v_img", d, d);
      b.ca_norm_k_img.load(L, pre + "cross_attn.norm_k_img", d, false);
    }
    lin(&WanBlockWeights::ffn0, "ffn.0", d, f);
    lin(&WanBlockWeights::ffn2, "ffn.2", f, d);
  }
  if (kept)
    for (const auto& [name, q] : *kept)
      if (!kept_used.count(name)) fail(q.where, "'" + name + "' is not a weight of this " + std::to_string(cfg.num_layers) + "-layer DiT");
  L.finish();
  if (dtype != at::kFloat) m.keep_precision_sensitive_fp32();
  m.pack_projections();
  return m;
}

WanModel WanModel::init(const WanConfig& cfg, uint64_t seed, const at::TensorOptions& opts) {
  const at::TensorOptions o = opts.has_dtype() ? opts : opts.dtype(at::kFloat);
  cfg.validate();
  at::manual_seed(seed);
  WanModel m;
  m.cfg = cfg;
  const int64_t d = cfg.dim, f = cfg.ffn_dim;
  const auto& p = cfg.patch_size;
  auto xavier = [](int64_t in, int64_t out) { return std::sqrt(2.0 / double(in + out)); };
  const int64_t patch_in = int64_t(cfg.in_dim) * p[0] * p[1] * p[2];
  m.patch_w = at::randn({d, cfg.in_dim, p[0], p[1], p[2]}, o) * xavier(patch_in, d);
  m.patch_b = at::zeros({d}, o);
  m.text_emb0.init(cfg.text_dim, d, true, 0.02, o);
  m.text_emb2.init(d, d, true, 0.02, o);
  m.time_emb0.init(cfg.freq_dim, d, true, 0.02, o);
  m.time_emb2.init(d, d, true, 0.02, o);
  m.time_proj.init(d, 6 * d, true, xavier(d, 6 * d), o);
  m.head_modulation = at::randn({1, 2, d}, o) / std::sqrt(double(d));
  m.head.init(d, int64_t(cfg.out_dim) * p[0] * p[1] * p[2], true, 0.0, o);  // zero-init head (upstream)
  if (cfg.has_image_branch()) {
    m.img_norm0.init(cfg.clip_dim, true, o);
    m.img_lin1.init(cfg.clip_dim, cfg.clip_dim, true, xavier(cfg.clip_dim, cfg.clip_dim), o);
    m.img_lin3.init(cfg.clip_dim, d, true, xavier(cfg.clip_dim, d), o);
    m.img_norm4.init(d, true, o);
  }
  m.blocks.resize(cfg.num_layers);
  for (auto& b : m.blocks) {
    b.modulation = at::randn({1, 6, d}, o) / std::sqrt(double(d));
    for (Linear* l : {&b.sa_q, &b.sa_k, &b.sa_v, &b.sa_o, &b.ca_q, &b.ca_k, &b.ca_v, &b.ca_o}) l->init(d, d, true, xavier(d, d), o);
    b.sa_norm_q.init(d, false, o);
    b.sa_norm_k.init(d, false, o);
    b.norm3.init(d, true, o);
    b.ca_norm_q.init(d, false, o);
    b.ca_norm_k.init(d, false, o);
    if (cfg.has_image_branch()) {
      b.ca_k_img.init(d, d, true, xavier(d, d), o);
      b.ca_v_img.init(d, d, true, xavier(d, d), o);
      b.ca_norm_k_img.init(d, false, o);
    }
    b.ffn0.init(d, f, true, xavier(d, f), o);
    b.ffn2.init(f, d, true, xavier(f, d), o);
  }
  if (o.dtype() != at::kFloat) m.keep_precision_sensitive_fp32();
  m.pack_projections();
  return m;
}

// Upstream runs the DiT under bf16 autocast but keeps these in float32: norm affine weights and modulation tables
// (added to float32 statistics), the time embedding/projection and the head (explicit float32 autocast regions).
void WanModel::keep_precision_sensitive_fp32() {
  auto f = [](at::Tensor& t) { if (t.defined()) t = t.to(at::kFloat); };
  auto lin = [&](Linear& l) { f(l.w); f(l.b); };
  auto nrm = [&](Norm& n) { f(n.w); f(n.b); };
  f(head_modulation);
  for (Linear* l : {&time_emb0, &time_emb2, &time_proj, &head}) lin(*l);
  nrm(img_norm0);
  nrm(img_norm4);
  for (auto& b : blocks) {
    f(b.modulation);
    for (Norm* n : {&b.sa_norm_q, &b.sa_norm_k, &b.norm3, &b.ca_norm_q, &b.ca_norm_k, &b.ca_norm_k_img}) nrm(*n);
  }
}

NamedTensors WanModel::named_parameters() const {
  NamedTensors out;
  out.emplace_back("patch_embedding.weight", patch_w);
  out.emplace_back("patch_embedding.bias", patch_b);
  text_emb0.collect("text_embedding.0", out);
  text_emb2.collect("text_embedding.2", out);
  time_emb0.collect("time_embedding.0", out);
  time_emb2.collect("time_embedding.2", out);
  time_proj.collect("time_projection.1", out);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto& b = blocks[i];
    const std::string pre = "blocks." + std::to_string(i) + ".";
    out.emplace_back(pre + "modulation", b.modulation);
    b.sa_q.collect(pre + "self_attn.q", out);
    b.sa_k.collect(pre + "self_attn.k", out);
    b.sa_v.collect(pre + "self_attn.v", out);
    b.sa_o.collect(pre + "self_attn.o", out);
    b.sa_norm_q.collect(pre + "self_attn.norm_q", out);
    b.sa_norm_k.collect(pre + "self_attn.norm_k", out);
    b.norm3.collect(pre + "norm3", out);
    b.ca_q.collect(pre + "cross_attn.q", out);
    b.ca_k.collect(pre + "cross_attn.k", out);
    b.ca_v.collect(pre + "cross_attn.v", out);
    b.ca_o.collect(pre + "cross_attn.o", out);
    b.ca_norm_q.collect(pre + "cross_attn.norm_q", out);
    b.ca_norm_k.collect(pre + "cross_attn.norm_k", out);
    if (cfg.has_image_branch()) {
      b.ca_k_img.collect(pre + "cross_attn.k_img", out);
      b.ca_v_img.collect(pre + "cross_attn.v_img", out);
      b.ca_norm_k_img.collect(pre + "cross_attn.norm_k_img", out);
    }
    b.ffn0.collect(pre + "ffn.0", out);
    b.ffn2.collect(pre + "ffn.2", out);
  }
  out.emplace_back("head.modulation", head_modulation);
  head.collect("head.head", out);
  if (cfg.has_image_branch()) {
    img_norm0.collect("img_emb.proj.0", out);
    img_lin1.collect("img_emb.proj.1", out);
    img_lin3.collect("img_emb.proj.3", out);
    img_norm4.collect("img_emb.proj.4", out);
  }
  return out;
}

void WanModel::to(c10::Device device, c10::ScalarType dtype) {
  auto mv = [&](at::Tensor& t) { if (t.defined()) t = t.to(device, dtype); };
  auto lin = [&](Linear& l) { mv(l.w); mv(l.b); };
  auto nrm = [&](Norm& n) { mv(n.w); mv(n.b); };
  mv(patch_w); mv(patch_b); mv(head_modulation);
  for (Linear* l : {&text_emb0, &text_emb2, &time_emb0, &time_emb2, &time_proj, &head, &img_lin1, &img_lin3}) lin(*l);
  nrm(img_norm0); nrm(img_norm4);
  for (auto& b : blocks) {
    mv(b.modulation);
    for (Linear* l : {&b.sa_q, &b.sa_k, &b.sa_v, &b.sa_o, &b.ca_q, &b.ca_k, &b.ca_v, &b.ca_o, &b.ca_k_img, &b.ca_v_img, &b.ffn0, &b.ffn2}) lin(*l);
    for (Norm* n : {&b.sa_norm_q, &b.sa_norm_k, &b.norm3, &b.ca_norm_q, &b.ca_norm_k, &b.ca_norm_k_img}) nrm(*n);
  }
  for (auto& layer : kept_)
    for (auto& [member, q] : layer) q = q.to(device);
  if (!kept_.empty()) kept_dtype_ = dtype;
  pack_projections();
}

// ---- weights kept quantised ------------------------------------------------------------------------------------
WanBlockWeights WanModel::block_weights(int layer, const std::vector<Linear WanBlockWeights::*>& only) const {
  WanBlockWeights b = blocks[layer];
  if (kept_.empty() || kept_[layer].empty()) return b;
  for (const auto& [member, q] : kept_[layer])
    if (only.empty() || std::find(only.begin(), only.end(), member) != only.end()) (b.*member).w = q.dequantise(kept_dtype_);
  // Packed q/k/v as a model loaded dense has them, so both run the same GEMMs (bit-identical outputs).
  if (only.empty()) b.sa_qkv.pack({&b.sa_q, &b.sa_k, &b.sa_v});
  return b;
}

int64_t WanModel::kept_bytes() const {
  int64_t n = 0;
  for (const auto& layer : kept_)
    for (const auto& [member, q] : layer) n += q.bytes();
  return n;
}

c10::ScalarType WanModel::block_dtype() const { return kept_.empty() ? blocks.front().sa_k.w.scalar_type() : kept_dtype_; }

c10::Device WanModel::block_device() const {
  if (kept_.empty()) return blocks.front().sa_k.w.device();
  for (const auto& layer : kept_)
    if (!layer.empty()) return layer.front().second.codes.device();
  return blocks.front().modulation.device();
}

void WanModel::pack_projections() {
  for (auto& b : blocks) b.sa_qkv.pack({&b.sa_q, &b.sa_k, &b.sa_v});
}

// ---- embeddings -----------------------------------------------------------------------
at::Tensor WanModel::sinusoidal_embedding(const at::Tensor& t, int freq_dim) {
  const int half = freq_dim / 2;
  at::Tensor pos = t.to(at::kDouble).reshape({-1});
  at::Tensor k = at::arange(half, pos.options());
  at::Tensor freq = at::pow(10000.0, -k / double(half));
  at::Tensor arg = at::outer(pos, freq);
  return at::cat({at::cos(arg), at::sin(arg)}, 1);
}

at::Tensor WanModel::rope_angles(int n, int head_dim) {
  auto table = [&](int D) {
    at::Tensor j = at::arange(0, D, 2, at::kDouble).narrow(0, 0, D / 2);
    at::Tensor inv = 1.0 / at::pow(10000.0, j / double(D));
    return at::outer(at::arange(n, at::kDouble), inv);
  };
  const int d6 = head_dim / 6;
  return at::cat({table(head_dim - 4 * d6), table(2 * d6), table(2 * d6)}, 1);
}

at::Tensor WanModel::pad_context(const at::Tensor& context) const {
  at::Tensor c = context.dim() == 2 ? context.unsqueeze(0) : context;
  if (c.dim() != 3 || c.size(2) != cfg.text_dim)
    fail("text context", "expected [L, " + std::to_string(cfg.text_dim) + "] features, got " + shape_str(context.sizes()));
  if (c.size(1) > cfg.text_len)
    fail("text context", std::to_string(c.size(1)) + " rows exceed text_len " + std::to_string(cfg.text_len));
  if (c.size(1) == cfg.text_len) return c;
  return at::constant_pad_nd(c, {0, 0, 0, cfg.text_len - c.size(1)}, 0.0);
}

CrossContext WanModel::precompute_text_cross(const at::Tensor& context) const {
  CrossContext cc;
  at::Tensor ctx = pad_context(context).to(text_emb0.w.device(), text_emb0.w.scalar_type());
  cc.text = text_emb2(gelu_tanh(text_emb0(ctx)));
  cc.layers.resize(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    const WanBlockWeights b = block_weights(static_cast<int>(i), {&WanBlockWeights::ca_k, &WanBlockWeights::ca_v});
    cc.layers[i].k = rms_norm(b.ca_k(cc.text), b.ca_norm_k.w, cfg.eps);
    cc.layers[i].v = b.ca_v(cc.text);
  }
  return cc;
}

void WanModel::swap_layer_text(CrossContext& dst, const CrossContext& src, const std::vector<int>& layers,
                               const std::vector<int64_t>& rows) {
  for (int l : layers) {
    if (l < 0 || l >= static_cast<int>(dst.layers.size()) || l >= static_cast<int>(src.layers.size()))
      fail("text context swap", "layer " + std::to_string(l) + " does not exist (model has " +
                                    std::to_string(dst.layers.size()) + ")");
    auto fit = [&](const at::Tensor& from, const at::Tensor& like) {
      if (from.size(0) != like.size(0) && from.size(0) != 1)
        fail("text context swap", "batch " + std::to_string(from.size(0)) + " cannot replace batch " + std::to_string(like.size(0)));
      const at::Tensor full = from.size(0) == like.size(0) ? from : from.expand(like.sizes());
      if (rows.empty()) return full.contiguous();
      at::Tensor out = like.clone();
      for (int64_t r : rows) {
        if (r < 0 || r >= like.size(0)) fail("text context swap", "batch row " + std::to_string(r) + " does not exist");
        out[r].copy_(full[r]);
      }
      return out;
    };
    dst.layers[l].k = fit(src.layers[l].k, dst.layers[l].k);
    dst.layers[l].v = fit(src.layers[l].v, dst.layers[l].v);
  }
}

CrossContext WanModel::precompute_cross(const at::Tensor& context, const at::Tensor& clip_fea) const {
  CrossContext cc = precompute_text_cross(context);
  if (cfg.has_image_branch()) {
    if (!clip_fea.defined() || clip_fea.dim() != 3 || clip_fea.size(2) != cfg.clip_dim)
      fail("CLIP features", "expected [B, tokens, " + std::to_string(cfg.clip_dim) + "], got " +
                                (clip_fea.defined() ? shape_str(clip_fea.sizes()) : std::string("nothing")));
    at::Tensor c = clip_fea.to(img_lin1.w.device());
    at::Tensor h = at::layer_norm(c.to(at::kFloat), {cfg.clip_dim}, img_norm0.w, img_norm0.b, 1e-5);
    h = img_lin3(at::gelu(img_lin1(h.to(img_lin1.w.scalar_type()))));
    cc.img = at::layer_norm(h.to(at::kFloat), {cfg.dim}, img_norm4.w, img_norm4.b, 1e-5);
    for (size_t i = 0; i < blocks.size(); ++i) {
      const WanBlockWeights b = block_weights(static_cast<int>(i), {&WanBlockWeights::ca_k_img, &WanBlockWeights::ca_v_img});
      cc.layers[i].k_img = rms_norm(b.ca_k_img(cc.img), b.ca_norm_k_img.w, cfg.eps);
      cc.layers[i].v_img = b.ca_v_img(cc.img);
    }
  }
  return cc;
}

// ---- forward ---------------------------------------------------------------------------------
//
// Two implementations of the same maths share the block structure (and the probe points) below:
//  - the straightforward one: plain ATen ops, autograd-safe, any dtype/device (the trainer, bf16, CUDA);
//  - `fast`: float32 CPU without autograd (sampling runs under InferenceMode). It fuses the elementwise chains
//    around the GEMMs into single passes (engine/models/common/cpu_kernels.h), runs q/k/v as one GEMM and attention
//    without transposed copies, writes activations into reused buffers (Workspace) and updates the residual
//    stream in place when nothing else can hold it.
namespace {

// Activation buffers of the fast path, reused by every block and kept between forwards (per thread). Without
// them each block at the embedded model's size allocates ~3 MB of temporaries and glibc hands the freed heap top
// back to the kernel, so every forward page-faulted ~26 MB back in: ~20% of its CPU time. Only tensors that are
// never handed out go here (not what probe listeners see, not the result; taps clone), and none is live across
// a listener callback, so a listener may even run a nested forward.
class Workspace {
 public:
  enum Slot { kNormed, kProj, kQ, kK, kAttn, kOut, kHidden, kSlots };
  at::Tensor get(Slot slot, at::IntArrayRef sizes) {
    at::Tensor& t = buf_[slot];
    const int64_t n = c10::multiply_integers(sizes);
    if (!t.defined() || t.numel() < n) {
      c10::InferenceMode normal_tensor(false);  // writable by later no-grad forwards outside InferenceMode too
      t = at::empty({n}, at::TensorOptions().dtype(at::kFloat));
    }
    return t.narrow(0, 0, n).view(sizes);
  }
  // Called after each forward (by every thread that ran blocks): buffers of big models (the 14B one needs GBs)
  // are not kept.
  void release_if_large() {
    const int64_t kKeepBytes = 128LL << 20;
    int64_t total = 0;
    for (const auto& t : buf_) total += t.defined() ? t.nbytes() : 0;
    if (total > kKeepBytes)
      for (auto& t : buf_) t = at::Tensor();
  }

 private:
  std::array<at::Tensor, kSlots> buf_;
};

Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

// [B, len, N*d] -> [B, N, len, d] view (no copy when the last dim is contiguous; a shared [1, len, dim] context
// stays shared through its zero batch stride).
at::Tensor heads_view(const at::Tensor& t, int64_t B, int64_t N) {
  at::Tensor e = t.expand({B, t.size(1), t.size(2)});
  return e.reshape({B, t.size(1), N, t.size(2) / N}).permute({0, 2, 1, 3});
}

// l(x) into `out` (both contiguous): the addmm at::linear runs, without allocating the result.
at::Tensor linear_into(const Linear& l, const at::Tensor& x, const at::Tensor& out) {
  const at::Tensor x2 = x.reshape({-1, l.w.size(1)});
  at::Tensor o2 = out.view({-1, l.w.size(0)});
  if (l.b.defined())
    at::addmm_out(o2, l.b, x2, l.w.t());
  else
    at::mm_out(o2, x2, l.w.t());
  return out;
}

// [B, L, dim]-shaped buffer with `width` columns.
at::Tensor rows_buffer(Workspace::Slot slot, const at::Tensor& like, int64_t width) {
  return workspace().get(slot, {like.size(0), like.size(1), width});
}

// LayerNorm without affine parameters, then the DiT modulation: norm(x) * (1 + scale) + shift.
at::Tensor norm_modulate(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& shift, double eps, bool fast) {
  if (fast) return cpu::layer_norm_scale_shift(x, 1 + scale, shift, eps, rows_buffer(Workspace::kNormed, x, x.size(2)));
  return layer_norm_noaffine(x, eps) * (1 + scale) + shift;
}

// Residual update x + y * gate (gate undefined: plain add). The fast path uses one addcmul, in place when the
// caller owns x exclusively; the in-place and out-of-place forms give bit-identical results, so attaching a
// read-only listener (which disables in-place updates) leaves the output unchanged to the last bit.
at::Tensor residual(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate, bool fast, bool in_place) {
  if (!fast) return gate.defined() ? x + y.to(at::kFloat) * gate : x + y.to(at::kFloat);
  if (!gate.defined()) return in_place ? x.add_(y) : x + y;
  return in_place ? x.addcmul_(y, gate) : at::addcmul(x, y, gate);
}

// `kv`: a listener asking for this layer's keys / values (probe.h protocol 3), else null.
at::Tensor self_attention(const WanConfig& cfg, const WanBlockWeights& b, const at::Tensor& h, const at::Tensor& cos,
                          const at::Tensor& sin, bool fast, ProbeListener* kv, const ForwardInfo& info, int layer) {
  const int64_t B = h.size(0), L = h.size(1), N = cfg.num_heads, hd = cfg.head_dim(), D = cfg.dim;
  if (!fast) {
    at::Tensor q = rms_norm(b.sa_q(h), b.sa_norm_q.w, cfg.eps).view({B, L, N, hd});
    at::Tensor k = apply_rope(rms_norm(b.sa_k(h), b.sa_norm_k.w, cfg.eps).view({B, L, N, hd}), cos, sin);
    at::Tensor v = b.sa_v(h).view({B, L, N, hd});
    if (kv) {
      SelfKvProbe p{info, layer, k.permute({0, 2, 1, 3}), v.permute({0, 2, 1, 3})};
      kv->on_self_attn_kv(p);
      k = p.k.permute({0, 2, 1, 3}), v = p.v.permute({0, 2, 1, 3});
    }
    return b.sa_o(attention(apply_rope(q, cos, sin), k, v));
  }
  Workspace& ws = workspace();
  // One GEMM for q, k and v when they are still packed (the usual case), else three.
  at::Tensor ql, kl, vl;
  if (b.sa_qkv.intact({&b.sa_q, &b.sa_k, &b.sa_v})) {
    const at::Tensor qkv = linear_into(b.sa_qkv.packed, h, rows_buffer(Workspace::kProj, h, 3 * D));
    ql = qkv.narrow(2, 0, D), kl = qkv.narrow(2, D, D), vl = qkv.narrow(2, 2 * D, D);
  } else {
    ql = b.sa_q(h), kl = b.sa_k(h), vl = b.sa_v(h);
  }
  // q/k: RMSNorm + RoPE (+ the 1/sqrt(d) softmax scale folded into q) in one pass each, written head-major.
  at::Tensor q = cpu::rms_norm_rope_heads(ql, b.sa_norm_q.w, cfg.eps, N, cos, sin, 1.0 / std::sqrt(double(hd)),
                                          ws.get(Workspace::kQ, {B, N, L, hd}));
  at::Tensor k = cpu::rms_norm_rope_heads(kl, b.sa_norm_k.w, cfg.eps, N, cos, sin, 1.0, ws.get(Workspace::kK, {B, N, L, hd}));
  at::Tensor v = heads_view(vl, B, N);
  if (kv) {
    SelfKvProbe p{info, layer, k, v};
    kv->on_self_attn_kv(p);
    k = p.k, v = p.v;
  }
  at::Tensor o = rows_buffer(Workspace::kAttn, h, D);
  attention_into(q, k, v, heads_view(o, B, N), /*accumulate=*/false);
  return linear_into(b.sa_o, o, rows_buffer(Workspace::kOut, h, D));
}

// Cross-attention of xn (norm3 output) over text keys/values (+ image ones for i2v), output projection included.
at::Tensor cross_attention(const WanConfig& cfg, const WanBlockWeights& b, const at::Tensor& xn, const at::Tensor& k,
                           const at::Tensor& v, const at::Tensor& k_img, const at::Tensor& v_img, bool fast) {
  const int64_t B = xn.size(0), L = xn.size(1), N = cfg.num_heads, hd = cfg.head_dim(), D = cfg.dim;
  if (!fast) {
    at::Tensor cq = rms_norm(b.ca_q(xn), b.ca_norm_q.w, cfg.eps).view({B, L, N, hd});
    auto heads = [&](const at::Tensor& t) { return t.expand({B, t.size(1), t.size(2)}).reshape({B, t.size(1), N, hd}); };
    at::Tensor o = attention(cq, heads(k), heads(v));
    if (cfg.has_image_branch()) o = o + attention(cq, heads(k_img), heads(v_img));
    return b.ca_o(o);
  }
  // One head-major query for both contexts; the image attention accumulates into the text attention's output.
  const at::Tensor xc = xn.contiguous();
  at::Tensor cq = cpu::rms_norm_rope_heads(linear_into(b.ca_q, xc, rows_buffer(Workspace::kProj, xc, D)), b.ca_norm_q.w,
                                           cfg.eps, N, {}, {}, 1.0 / std::sqrt(double(hd)),
                                           workspace().get(Workspace::kQ, {B, N, L, hd}));
  at::Tensor o = rows_buffer(Workspace::kAttn, xc, D);
  const at::Tensor oh = heads_view(o, B, N);
  attention_into(cq, heads_view(k, B, N), heads_view(v, B, N), oh, /*accumulate=*/false);
  if (cfg.has_image_branch()) attention_into(cq, heads_view(k_img, B, N), heads_view(v_img, B, N), oh, /*accumulate=*/true);
  return linear_into(b.ca_o, o, rows_buffer(Workspace::kOut, xc, D));
}

}  // namespace

at::Tensor WanModel::block_forward(int layer, at::Tensor x, const at::Tensor& e0, const at::Tensor& cos,
                                   const at::Tensor& sin, const CrossContext& cross, const ForwardInfo& info,
                                   const ForwardOptions& opt, bool fast) const {
  WanBlockWeights decoded;  // this block's weights decoded from the kept codes (released when the block returns)
  const WanBlockWeights& b = kept_.empty() ? blocks[layer] : (decoded = block_weights(layer));
  const bool t0 = opt.taps && layer == 0;
  // The residual stream may be updated in place only when no listener can be holding a reference to it (probe
  // tensors are handed out by reference; see probe.h) and no autograd graph needs the old values.
  const bool in_place = fast && !opt.listener;
  auto m = (b.modulation.to(at::kFloat) + e0).chunk(6, 1);  // each [B, 1, dim]

  // self-attention
  at::Tensor h = norm_modulate(x, m[1], m[0], cfg.eps, fast);
  ProbeListener* kv = (opt.listener && opt.listener->wants_self_kv(info, layer)) ? opt.listener : nullptr;
  at::Tensor y = self_attention(cfg, b, h, cos, sin, fast, kv, info, layer);
  if (t0) tap(opt, "block0_self_attn_out", y);
  x = residual(x, y, m[2], fast, in_place);

  // cross-attention (text + image), with the probe points
  const auto& cl = cross.layers[layer];
  // (A listener receives x_norm, so it gets its own tensor rather than a workspace buffer.)
  auto norm3 = [&](const at::Tensor& t, bool handed_out) {
    if (!fast) return layer_norm_affine(t, b.norm3, cfg.eps);
    return cpu::layer_norm_scale_shift(t, b.norm3.w, b.norm3.b, cfg.eps,
                                       handed_out ? at::Tensor() : rows_buffer(Workspace::kNormed, t, t.size(2)));
  };
  ProbeListener* lis = (opt.listener && opt.listener->wants(info, layer)) ? opt.listener : nullptr;
  at::Tensor xn, ca;
  if (!lis) {
    xn = norm3(x, false);
    ca = cross_attention(cfg, b, xn, cl.k, cl.v, cl.k_img, cl.v_img, fast);
  } else {
    const WanBlockView view(cfg, b);
    BlockProbe p{info, layer, view, x, {}, {}, {}};
    lis->on_cross_attn_input(p);
    x = p.x;
    p.x_norm = norm3(x, true);
    xn = p.x_norm;
    p.text_v = cl.v.expand({x.size(0), cl.v.size(1), cl.v.size(2)});
    if (cfg.has_image_branch()) p.img_v = cl.v_img.expand({x.size(0), cl.v_img.size(1), cl.v_img.size(2)});
    lis->on_cross_attn_values(p);
    ca = cross_attention(cfg, b, xn, cl.k, p.text_v, cl.k_img, p.img_v, fast);
    x = x + ca.to(at::kFloat);
    p.x = x;
    lis->on_cross_attn_output(p);
    x = p.x;
  }
  if (t0) {
    tap(opt, "block0_norm3_out", xn);
    tap(opt, "block0_cross_attn_out", ca);
  }
  if (!lis) x = residual(x, ca, {}, fast, in_place);

  // feed-forward
  h = norm_modulate(x, m[4], m[3], cfg.eps, fast);
  if (fast) {
    y = linear_into(b.ffn0, h, rows_buffer(Workspace::kHidden, h, cfg.ffn_dim));
    cpu::gelu_tanh_(y);
    y = linear_into(b.ffn2, y, rows_buffer(Workspace::kOut, h, cfg.dim));
  } else {
    y = b.ffn2(gelu_tanh(b.ffn0(h)));
  }
  if (t0) tap(opt, "block0_ffn_out", y);
  return residual(x, y, m[5], fast, in_place);
}

// ---- batch rows on separate cores (engine/models/common/row_parallel.h) -----------------------------------------
//
// The arithmetic is the same as with all rows together (same per-row kernels, same per-row attention calls, and
// GEMMs whose results depend neither on the row count nor on BLAS threads), so attaching a read-only listener,
// which keeps the batch together, still leaves the output bit-identical.
namespace {
// Rows [r0, r1) of a per-run tensor whose batch is B; a batch of 1 is shared by all rows and kept.
at::Tensor batch_rows(const at::Tensor& t, int64_t B, int64_t r0, int64_t r1) {
  return (t.defined() && t.size(0) == B && B > 1) ? t.narrow(0, r0, r1 - r0) : t;
}
}  // namespace

int WanModel::parallel_row_groups(int64_t B, int64_t L, const ForwardOptions& opt) const {
  // Listeners and taps see whole-batch tensors at every block, so the rows stay together for them.
  if (opt.listener || opt.taps) return 1;
  // Kept-quantised weights are decoded per block call: row groups would each decode every block again.
  if (!kept_.empty()) return 1;
  // Every core gets rows (a 16-core box running a CFG pair is better served by threaded GEMMs), and libtorch
  // is not itself asked for intra-op threads (they would oversubscribe the cores).
  const int cores = row_parallel::blas_threads();
  if (cores < 2 || B < cores || at::get_num_threads() != 1) return 1;
  // Tiny widths gain nothing, and keeping the per-row GEMMs (L x dim x dim) well above OpenBLAS's small-matrix
  // cutoff (~1e6 multiply-adds, where it switches kernels) keeps them bit-identical to the whole-batch ones.
  if (double(L) * cfg.dim * cfg.dim < 2e6) return 1;
  // ...and only where this BLAS's GEMM bits do not depend on the row or thread count at all (probed once).
  if (!row_parallel::gemm_bits_row_independent()) return 1;
  return cores;
}

void WanModel::blocks_in_row_groups(const at::Tensor& x, const at::Tensor& e0, const at::Tensor& cos,
                                    const at::Tensor& sin, const CrossContext& cross, const ForwardInfo& info,
                                    const ForwardOptions& opt, int groups) const {
  const int64_t B = x.size(0);
  struct Group {
    at::Tensor x, e0;
    CrossContext cross;
    ForwardInfo info;
    std::exception_ptr error;
  };
  std::vector<Group> gs(groups);
  for (int g = 0; g < groups; ++g) {
    const int64_t r0 = B * g / groups, r1 = B * (g + 1) / groups;
    Group& G = gs[g];
    G.x = x.narrow(0, r0, r1 - r0);  // rows of the (contiguous) residual stream, updated in place
    G.e0 = e0.narrow(0, r0, r1 - r0);
    G.cross.text = batch_rows(cross.text, B, r0, r1);
    G.cross.img = batch_rows(cross.img, B, r0, r1);
    for (const auto& l : cross.layers)
      G.cross.layers.push_back({batch_rows(l.k, B, r0, r1), batch_rows(l.v, B, r0, r1), batch_rows(l.k_img, B, r0, r1),
                                batch_rows(l.v_img, B, r0, r1)});
    G.info = info;
    G.info.roles.assign(info.roles.begin() + r0, info.roles.begin() + r1);
  }
  row_parallel::SingleThreadedBlas single_threaded_blas;
  const at::ThreadLocalState tls;  // this thread's grad / inference mode, for the workers
  std::vector<std::function<void()>> jobs;
  for (Group& G : gs)
    jobs.emplace_back([&, g = &G] {
      try {
        at::ThreadLocalStateGuard guard(tls);
        for (int i = 0; i < cfg.num_layers; ++i) {
          const at::Tensor out = block_forward(i, g->x, g->e0, cos, sin, g->cross, g->info, opt, /*fast=*/true);
          TORCH_INTERNAL_ASSERT(out.data_ptr() == g->x.data_ptr(), "rows are updated in place");
        }
        workspace().release_if_large();
      } catch (...) {
        g->error = std::current_exception();
      }
    });
  row_parallel::run(jobs);
  for (const auto& G : gs)
    if (G.error) std::rethrow_exception(G.error);
}

at::Tensor WanModel::forward(const DitInputs& in, const ForwardOptions& opt) const {
  const auto& p = cfg.patch_size;
  if (!in.x.defined() || in.x.dim() != 5 || in.x.size(1) != cfg.out_dim)
    fail("DiT input", "x must be [B, " + std::to_string(cfg.out_dim) + ", F, H, W], got " +
                          (in.x.defined() ? shape_str(in.x.sizes()) : std::string("nothing")));
  const int64_t B = in.x.size(0);
  for (int i = 0; i < 3; ++i)
    if (in.x.size(2 + i) % p[i] != 0) fail("DiT input", "latent size " + shape_str(in.x.sizes()) + " is not divisible by the patch size");
  at::Tensor x = in.x;
  if (cfg.is_i2v()) {
    const int64_t yc = cfg.in_dim - cfg.out_dim;
    if (!in.y.defined() || in.y.dim() != 5 || in.y.size(0) != B || in.y.size(1) != yc || in.y.sizes().slice(2) != in.x.sizes().slice(2))
      fail("DiT input", "y must be [B, " + std::to_string(yc) + ", F, H, W] matching x " + shape_str(in.x.sizes()));
    x = at::cat({x, in.y.to(x.scalar_type())}, 1);
  } else if (cfg.in_dim != cfg.out_dim) {
    fail("DiT input", "t2v model expects in_dim == out_dim");
  }
  const c10::Device dev = patch_w.device();
  x = at::conv3d(x.to(dev, patch_w.scalar_type()), patch_w, patch_b, {p[0], p[1], p[2]});
  if (opt.taps) tap(opt, "patch_embedding_out", x);
  const int64_t F = x.size(2), H = x.size(3), W = x.size(4), L = F * H * W;
  x = x.flatten(2).transpose(1, 2).to(at::kFloat).contiguous();  // [B, L, dim]

  // time embedding (float32, as upstream asserts)
  at::Tensor t = in.t.reshape({-1});
  if (t.numel() != B) fail("DiT input", "t must have one timestep per batch row");
  at::Tensor sin_emb = sinusoidal_embedding(t, cfg.freq_dim).to(at::kFloat).to(dev);
  at::Tensor e = time_emb2(at::silu(time_emb0(sin_emb.to(time_emb0.w.scalar_type())))).to(at::kFloat);
  at::Tensor e0 = time_proj(at::silu(e).to(time_proj.w.scalar_type())).to(at::kFloat).view({B, 6, cfg.dim});
  if (opt.taps) {
    tap(opt, "time_embedding_out", e);
    tap(opt, "time_projection_out", e0.view({B, 6 * cfg.dim}));
  }

  CrossContext local;
  const CrossContext* cross = opt.cross;
  if (!cross) {
    local = precompute_cross(in.context, in.clip_fea);
    cross = &local;
  }
  if (opt.taps) {
    tap(opt, "text_embedding_out", cross->text);
    if (cross->img.defined()) tap(opt, "img_emb_out", cross->img);
  }

  // RoPE angles per token: frame columns use f, then h, then w.
  const int hd = cfg.head_dim();
  const auto split = cfg.rope_split();
  const int64_t maxpos = std::max<int64_t>({F, H, W, 1});
  if (maxpos > 1024) fail("DiT input", "a token grid axis exceeds 1024 positions (RoPE table size)");
  at::Tensor table = rope_angles(static_cast<int>(maxpos), hd);  // [maxpos, hd/2] float64
  auto parts = table.split_with_sizes({split[0], split[1], split[2]}, 1);
  at::Tensor ang = at::cat({parts[0].narrow(0, 0, F).view({F, 1, 1, split[0]}).expand({F, H, W, split[0]}),
                            parts[1].narrow(0, 0, H).view({1, H, 1, split[1]}).expand({F, H, W, split[1]}),
                            parts[2].narrow(0, 0, W).view({1, 1, W, split[2]}).expand({F, H, W, split[2]})},
                           3)
                       .reshape({L, hd / 2});
  at::Tensor cos = at::cos(ang).to(at::kFloat).to(dev), sin = at::sin(ang).to(at::kFloat).to(dev);

  // Fused inference kernels: float32 CPU weights and activations, nothing to record for autograd.
  const bool fast = !opt.reference_path && !at::GradMode::is_enabled() && cpu::supported(x) &&
                    block_device().is_cpu() && block_dtype() == at::kFloat && cpu::supported(cos);

  ForwardInfo info;
  info.step = opt.step;
  info.expert = opt.expert;
  info.timestep = t[0].item<double>();
  info.roles = opt.roles.empty() ? std::vector<PassRole>(B, PassRole::Cond) : opt.roles;
  info.grid = {F, H, W};
  const int groups = fast ? parallel_row_groups(B, x.size(1), opt) : 1;
  if (groups > 1) {
    blocks_in_row_groups(x, e0, cos, sin, *cross, info, opt, groups);
  } else {
    for (int i = 0; i < cfg.num_layers; ++i) {
      x = block_forward(i, x, e0, cos, sin, *cross, info, opt, fast);
      if (opt.taps) tap(opt, "block" + std::to_string(i) + "_out", x);
    }
  }

  // head: modulation from e (not e0)
  auto hm = (head_modulation.to(at::kFloat) + e.unsqueeze(1)).chunk(2, 1);
  at::Tensor out = head(norm_modulate(x, hm[1], hm[0], cfg.eps, fast)).to(at::kFloat);
  if (opt.taps) tap(opt, "head_out", out);
  if (fast) workspace().release_if_large();

  // unpatchify: features ordered (p_t, p_h, p_w, c)
  const int64_t C = cfg.out_dim;
  out = out.view({B, F, H, W, p[0], p[1], p[2], C}).permute({0, 7, 1, 4, 2, 5, 3, 6});
  return out.reshape({B, C, F * p[0], H * p[1], W * p[2]});
}

}  // namespace focalscope
