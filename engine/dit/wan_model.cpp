#include "engine/dit/wan_model.h"

#include <cmath>

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/dit/attention.h"

namespace focalscope {

namespace {
at::Tensor gelu_tanh(const at::Tensor& x) { return at::gelu(x, "tanh"); }
void tap(const ForwardOptions& o, const std::string& name, const at::Tensor& t) {
  if (o.taps) (*o.taps)[name] = t.detach().clone();
}
}  // namespace

// ---- load / init ------------------------------------------------------------------
WanModel WanModel::load(const TensorSet& weights, WanConfig cfg, c10::ScalarType dtype, c10::Device device) {
  WeightLoader L(weights, "DiT", dtype, device);
  // Dimensions diffusers does not store in config.json are read off the tensors.
  if (L.has("text_embedding.0.weight")) cfg.text_dim = static_cast<int>(L.shape_of("text_embedding.0.weight").at(1));
  if (cfg.is_i2v() && L.has("img_emb.proj.0.weight")) cfg.clip_dim = static_cast<int>(L.shape_of("img_emb.proj.0.weight").at(0));
  if (cfg.is_i2v() != L.has("blocks.0.cross_attn.k_img.weight"))
    fail(weights.origin, std::string("config says model_type '") + cfg.model_type + "' but the checkpoint " +
                             (cfg.is_i2v() ? "has no" : "has") + " image cross-attention (blocks.0.cross_attn.k_img)");
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
  if (cfg.is_i2v()) {
    m.img_norm0.load(L, "img_emb.proj.0", cfg.clip_dim, true);
    m.img_lin1.load(L, "img_emb.proj.1", cfg.clip_dim, cfg.clip_dim);
    m.img_lin3.load(L, "img_emb.proj.3", cfg.clip_dim, d);
    m.img_norm4.load(L, "img_emb.proj.4", d, true);
  }
  m.blocks.resize(cfg.num_layers);
  for (int i = 0; i < cfg.num_layers; ++i) {
    auto& b = m.blocks[i];
    const std::string pre = "blocks." + std::to_string(i) + ".";
    b.modulation = L.take(pre + "modulation", {1, 6, d});
    b.sa_q.load(L, pre + "self_attn.q", d, d);
    b.sa_k.load(L, pre + "self_attn.k", d, d);
    b.sa_v.load(L, pre + "self_attn.v", d, d);
    b.sa_o.load(L, pre + "self_attn.o", d, d);
    b.sa_norm_q.load(L, pre + "self_attn.norm_q", d, false);
    b.sa_norm_k.load(L, pre + "self_attn.norm_k", d, false);
    b.norm3.load(L, pre + "norm3", d, true);
    b.ca_q.load(L, pre + "cross_attn.q", d, d);
    b.ca_k.load(L, pre + "cross_attn.k", d, d);
    b.ca_v.load(L, pre + "cross_attn.v", d, d);
    b.ca_o.load(L, pre + "cross_attn.o", d, d);
    b.ca_norm_q.load(L, pre + "cross_attn.norm_q", d, false);
    b.ca_norm_k.load(L, pre + "cross_attn.norm_k", d, false);
    if (cfg.is_i2v()) {
      b.ca_k_img.load(L, pre + "cross_attn.k_img", d, d);
      b.ca_v_img.load(L, pre + "cross_attn.v_img", d, d);
      b.ca_norm_k_img.load(L, pre + "cross_attn.norm_k_img", d, false);
    }
    b.ffn0.load(L, pre + "ffn.0", d, f);
    b.ffn2.load(L, pre + "ffn.2", f, d);
  }
  L.finish();
  return m;
}

WanModel WanModel::init(const WanConfig& cfg, uint64_t seed) {
  cfg.validate();
  at::manual_seed(seed);
  WanModel m;
  m.cfg = cfg;
  const int64_t d = cfg.dim, f = cfg.ffn_dim;
  const auto& p = cfg.patch_size;
  auto xavier = [](int64_t in, int64_t out) { return std::sqrt(2.0 / double(in + out)); };
  const int64_t patch_in = int64_t(cfg.in_dim) * p[0] * p[1] * p[2];
  m.patch_w = at::randn({d, cfg.in_dim, p[0], p[1], p[2]}) * xavier(patch_in, d);
  m.patch_b = at::zeros({d});
  m.text_emb0.init(cfg.text_dim, d, true, 0.02);
  m.text_emb2.init(d, d, true, 0.02);
  m.time_emb0.init(cfg.freq_dim, d, true, 0.02);
  m.time_emb2.init(d, d, true, 0.02);
  m.time_proj.init(d, 6 * d, true, xavier(d, 6 * d));
  m.head_modulation = at::randn({1, 2, d}) / std::sqrt(double(d));
  m.head.init(d, int64_t(cfg.out_dim) * p[0] * p[1] * p[2], true, 0.0);  // zero-init head (upstream)
  if (cfg.is_i2v()) {
    m.img_norm0.init(cfg.clip_dim, true);
    m.img_lin1.init(cfg.clip_dim, cfg.clip_dim, true, xavier(cfg.clip_dim, cfg.clip_dim));
    m.img_lin3.init(cfg.clip_dim, d, true, xavier(cfg.clip_dim, d));
    m.img_norm4.init(d, true);
  }
  m.blocks.resize(cfg.num_layers);
  for (auto& b : m.blocks) {
    b.modulation = at::randn({1, 6, d}) / std::sqrt(double(d));
    for (Linear* l : {&b.sa_q, &b.sa_k, &b.sa_v, &b.sa_o, &b.ca_q, &b.ca_k, &b.ca_v, &b.ca_o}) l->init(d, d, true, xavier(d, d));
    b.sa_norm_q.init(d, false);
    b.sa_norm_k.init(d, false);
    b.norm3.init(d, true);
    b.ca_norm_q.init(d, false);
    b.ca_norm_k.init(d, false);
    if (cfg.is_i2v()) {
      b.ca_k_img.init(d, d, true, xavier(d, d));
      b.ca_v_img.init(d, d, true, xavier(d, d));
      b.ca_norm_k_img.init(d, false);
    }
    b.ffn0.init(d, f, true, xavier(d, f));
    b.ffn2.init(f, d, true, xavier(f, d));
  }
  return m;
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
    if (cfg.is_i2v()) {
      b.ca_k_img.collect(pre + "cross_attn.k_img", out);
      b.ca_v_img.collect(pre + "cross_attn.v_img", out);
      b.ca_norm_k_img.collect(pre + "cross_attn.norm_k_img", out);
    }
    b.ffn0.collect(pre + "ffn.0", out);
    b.ffn2.collect(pre + "ffn.2", out);
  }
  out.emplace_back("head.modulation", head_modulation);
  head.collect("head.head", out);
  if (cfg.is_i2v()) {
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

CrossContext WanModel::precompute_cross(const at::Tensor& context, const at::Tensor& clip_fea) const {
  CrossContext cc;
  at::Tensor ctx = pad_context(context).to(text_emb0.w.device(), text_emb0.w.scalar_type());
  cc.text = text_emb2(gelu_tanh(text_emb0(ctx)));
  if (cfg.is_i2v()) {
    if (!clip_fea.defined() || clip_fea.dim() != 3 || clip_fea.size(2) != cfg.clip_dim)
      fail("CLIP features", "expected [B, tokens, " + std::to_string(cfg.clip_dim) + "], got " +
                                (clip_fea.defined() ? shape_str(clip_fea.sizes()) : std::string("nothing")));
    at::Tensor c = clip_fea.to(img_lin1.w.device());
    at::Tensor h = at::layer_norm(c.to(at::kFloat), {cfg.clip_dim}, img_norm0.w, img_norm0.b, 1e-5);
    h = img_lin3(at::gelu(img_lin1(h.to(img_lin1.w.scalar_type()))));
    cc.img = at::layer_norm(h.to(at::kFloat), {cfg.dim}, img_norm4.w, img_norm4.b, 1e-5);
  }
  cc.layers.resize(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto& b = blocks[i];
    auto& l = cc.layers[i];
    l.k = rms_norm(b.ca_k(cc.text), b.ca_norm_k.w, cfg.eps);
    l.v = b.ca_v(cc.text);
    if (cfg.is_i2v()) {
      l.k_img = rms_norm(b.ca_k_img(cc.img), b.ca_norm_k_img.w, cfg.eps);
      l.v_img = b.ca_v_img(cc.img);
    }
  }
  return cc;
}

// ---- forward ---------------------------------------------------------------------------------
at::Tensor WanModel::block_forward(int layer, at::Tensor x, const at::Tensor& e0, const at::Tensor& cos,
                                   const at::Tensor& sin, const CrossContext& cross, const ForwardInfo& info,
                                   const ForwardOptions& opt) const {
  const auto& b = blocks[layer];
  const int64_t B = x.size(0), L = x.size(1), N = cfg.num_heads, hd = cfg.head_dim();
  const bool t0 = opt.taps && layer == 0;
  auto m = (b.modulation.to(at::kFloat) + e0).chunk(6, 1);  // each [B, 1, dim]

  // self-attention
  at::Tensor h = layer_norm_noaffine(x, cfg.eps) * (1 + m[1]) + m[0];
  at::Tensor q = rms_norm(b.sa_q(h), b.sa_norm_q.w, cfg.eps).view({B, L, N, hd});
  at::Tensor k = rms_norm(b.sa_k(h), b.sa_norm_k.w, cfg.eps).view({B, L, N, hd});
  at::Tensor v = b.sa_v(h).view({B, L, N, hd});
  at::Tensor y = b.sa_o(attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v));
  if (t0) tap(opt, "block0_self_attn_out", y);
  x = x + y.to(at::kFloat) * m[2];

  // cross-attention (text + image), with the probe points
  const auto& cl = cross.layers[layer];
  ProbeListener* lis = (opt.listener && opt.listener->wants(info, layer)) ? opt.listener : nullptr;
  at::Tensor xn, ca;
  if (!lis) {
    xn = layer_norm_affine(x, b.norm3, cfg.eps);
    at::Tensor cq = rms_norm(b.ca_q(xn), b.ca_norm_q.w, cfg.eps).view({B, L, N, hd});
    auto heads = [&](const at::Tensor& t) { return t.expand({B, t.size(1), t.size(2)}).reshape({B, t.size(1), N, hd}); };
    at::Tensor o = attention(cq, heads(cl.k), heads(cl.v));
    if (cfg.is_i2v()) o = o + attention(cq, heads(cl.k_img), heads(cl.v_img));
    ca = b.ca_o(o);
  } else {
    BlockProbe p{info, layer, cfg, b, x, {}, {}, {}};
    lis->on_cross_attn_input(p);
    x = p.x;
    p.x_norm = layer_norm_affine(x, b.norm3, cfg.eps);
    xn = p.x_norm;
    p.text_v = cl.v.expand({B, cl.v.size(1), cl.v.size(2)});
    if (cfg.is_i2v()) p.img_v = cl.v_img.expand({B, cl.v_img.size(1), cl.v_img.size(2)});
    lis->on_cross_attn_values(p);
    at::Tensor cq = rms_norm(b.ca_q(xn), b.ca_norm_q.w, cfg.eps).view({B, L, N, hd});
    auto heads = [&](const at::Tensor& t) { return t.expand({B, t.size(1), t.size(2)}).reshape({B, t.size(1), N, hd}); };
    at::Tensor o = attention(cq, heads(cl.k), heads(p.text_v));
    if (cfg.is_i2v()) o = o + attention(cq, heads(cl.k_img), heads(p.img_v));
    ca = b.ca_o(o);
    x = x + ca.to(at::kFloat);
    p.x = x;
    lis->on_cross_attn_output(p);
    x = p.x;
  }
  if (t0) {
    tap(opt, "block0_norm3_out", xn);
    tap(opt, "block0_cross_attn_out", ca);
  }
  if (!lis) x = x + ca.to(at::kFloat);

  // feed-forward
  h = layer_norm_noaffine(x, cfg.eps) * (1 + m[4]) + m[3];
  y = b.ffn2(gelu_tanh(b.ffn0(h)));
  if (t0) tap(opt, "block0_ffn_out", y);
  return x + y.to(at::kFloat) * m[5];
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

  ForwardInfo info;
  info.step = opt.step;
  info.timestep = t[0].item<double>();
  info.roles = opt.roles.empty() ? std::vector<PassRole>(B, PassRole::Cond) : opt.roles;
  info.grid = {F, H, W};
  for (int i = 0; i < cfg.num_layers; ++i) {
    x = block_forward(i, x, e0, cos, sin, *cross, info, opt);
    if (opt.taps) tap(opt, "block" + std::to_string(i) + "_out", x);
  }

  // head: modulation from e (not e0)
  auto hm = (head_modulation.to(at::kFloat) + e.unsqueeze(1)).chunk(2, 1);
  at::Tensor out = head(layer_norm_noaffine(x, cfg.eps) * (1 + hm[1]) + hm[0]).to(at::kFloat);
  if (opt.taps) tap(opt, "head_out", out);

  // unpatchify: features ordered (p_t, p_h, p_w, c)
  const int64_t C = cfg.out_dim;
  out = out.view({B, F, H, W, p[0], p[1], p[2], C}).permute({0, 7, 1, 4, 2, 5, 3, 6});
  return out.reshape({B, C, F * p[0], H * p[1], W * p[2]});
}

}  // namespace focalscope
