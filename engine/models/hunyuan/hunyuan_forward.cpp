// HunyuanModel::forward (models.py:672-814): conditioning vectors, token refiner, double-stream then single-stream
// blocks over [image tokens; text tokens], final layer, unpatchify. Plain ATen ops, any dtype / device.
//
// Precision: the residual streams (img, txt, x), modulation values and norms are float32; each Linear runs in its
// weight dtype (bf16 GEMMs under a bf16 load, as upstream's autocast does). In float32 every op mirrors upstream's
// order, which is what the goldens record.
#include <algorithm>
#include <cmath>
#include <memory>

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/models/hunyuan/hunyuan_layers.h"
#include "engine/models/hunyuan/hunyuan_model.h"

namespace focalscope {

namespace {

using hunyuan::TokenParam;

struct Tapper {
  const HunyuanForwardOptions& opt;
  void operator()(const std::string& name, const at::Tensor& t) const {
    if (opt.taps) (*opt.taps)[name] = t.detach().clone();
  }
};

// TimestepEmbedder / MLPEmbedder / TextProjection / refiner MLP: l2(silu(l1(x))).
at::Tensor mlp_silu(const HunyuanMlp& m, const at::Tensor& x) { return m.l2(at::silu(m.l1(x))); }
// The DiT MLPs: l2(gelu_tanh(l1(x))).
at::Tensor mlp_gelu(const HunyuanMlp& m, const at::Tensor& x) { return m.l2(at::gelu(m.l1(x), "tanh")); }

// "B L (K H D) -> K B L H D": q, k, v [B, L, N, d], K slowest, then heads.
std::array<at::Tensor, 3> split_qkv(const at::Tensor& qkv, int64_t heads) {
  const at::Tensor s = qkv.reshape({qkv.size(0), qkv.size(1), 3, heads, -1});
  return {s.select(2, 0), s.select(2, 1), s.select(2, 2)};
}

// Upstream RMSNorm (float32 statistics, cast back, times the weight) followed by `.to(v)`.
at::Tensor qk_norm(const at::Tensor& x, const Norm& n, double eps, c10::ScalarType v_dtype) {
  return rms_norm(x, n.w, eps).to(v_dtype);
}

// Modulation Linear applied to SiLU(v), in float32, chunked in upstream order.
std::vector<at::Tensor> modulation(const Linear& l, const at::Tensor& v, int chunks, at::Tensor* whole) {
  *whole = l(at::silu(v)).to(at::kFloat);
  return whole->chunk(chunks, -1);
}

// HunyuanVideo's answers to the probe seam's questions (probe.h): no image cross-attention, so a keyword's visual
// value is its anchor weights [K, n] over the visual-context rows' values in this layer (p.img_v, conditional row);
// the text is read by the joint attention, so there is no separate text cross-attention.
class HunyuanBlockView final : public BlockView {
 public:
  at::Tensor visual_values(const at::Tensor& anchors, const BlockProbe& p) const override {
    if (!p.img_v.defined())
      fail("focal guidance", "this HunyuanVideo run marks no visual-context rows in its text (visual_rows_begin): "
                             "there is nothing to take a keyword's visual value from");
    int64_t row = 0;
    for (size_t i = 0; i < p.info.roles.size(); ++i)
      if (p.info.roles[i] == PassRole::Cond) { row = static_cast<int64_t>(i); break; }
    const at::Tensor v = p.img_v.select(0, row).to(at::kFloat);  // [n, dim]
    if (anchors.dim() != 2 || anchors.size(1) != v.size(0))
      fail("focal guidance", "HunyuanVideo anchors must be weights over the " + std::to_string(v.size(0)) +
                             " visual-context rows, got " + shape_str(anchors.sizes()));
    return at::matmul(anchors.to(v.device(), at::kFloat), v);  // [K, dim]
  }
  bool visual_values_are_static() const override { return false; }
};

struct Context {
  const HunyuanConfig& cfg;
  const Tapper& tap;
  const ForwardInfo* info = nullptr;
  ProbeListener* listener = nullptr;
  int64_t vis_begin = -1, vis_count = 0;
  int double_count = 0;
  at::Tensor vec, tr_vec;     // [B, D] float32; tr_vec = token_replace conditioning of latent frame 0
  int64_t n0 = 0;             // first_frame_token_num
  int64_t Li = 0, Lt = 0;
  at::Tensor cos, sin;        // [Li, head_dim] float32
  std::vector<int64_t> valid; // valid text tokens per sample
  const HunyuanForwardOptions* opt = nullptr;
};

// The text rows each sample's image queries may not read in `layer` (HunyuanForwardOptions::hide_text_layers): the
// conditional rows only; null when the layer hides nothing.
std::unique_ptr<std::vector<std::pair<int64_t, int64_t>>> hidden_text(const Context& c, int layer) {
  const auto& L = c.opt->hide_text_layers;
  if (std::find(L.begin(), L.end(), layer) == L.end()) return nullptr;
  auto h = std::make_unique<std::vector<std::pair<int64_t, int64_t>>>();
  for (size_t b = 0; b < c.valid.size(); ++b) {
    const bool cond = b >= c.info->roles.size() || c.info->roles[b] == PassRole::Cond;
    h->push_back(cond ? std::pair<int64_t, int64_t>{c.opt->hide_text_begin, c.opt->hide_text_end} : std::pair<int64_t, int64_t>{0, 0});
  }
  return h;
}

ProbeListener* wanting(const Context& c, int layer) {
  return c.listener && c.listener->wants(*c.info, layer) ? c.listener : nullptr;
}
ProbeListener* wanting_kv(const Context& c, int layer) {
  return c.listener && c.listener->wants_self_kv(*c.info, layer) ? c.listener : nullptr;
}

// p.text_v / p.img_v from the text rows' values tv [B, Lt, N, d].
void set_visual_values(BlockProbe& p, const at::Tensor& tv, const Context& c) {
  p.text_v = tv.reshape({tv.size(0), tv.size(1), tv.size(2) * tv.size(3)});
  p.img_v = c.vis_begin >= 0 ? p.text_v.narrow(1, c.vis_begin, c.vis_count) : at::Tensor();
}

// Hands the text rows' values (and the visual-context rows among them) to a listener; returns them, maybe replaced,
// in the [B, Lt, N, d] layout and dtype they came in.
at::Tensor probe_text_values(ProbeListener* lis, BlockProbe& p, const at::Tensor& tv, const Context& c) {
  const int64_t B = tv.size(0), Lt = tv.size(1), N = tv.size(2), d = tv.size(3);
  set_visual_values(p, tv, c);
  lis->on_cross_attn_values(p);
  if (p.text_v.dim() != 3 || p.text_v.size(0) != B || p.text_v.size(1) != Lt || p.text_v.size(2) != N * d)
    fail("probe", "a listener replaced text_v with a tensor of another shape " + shape_str(p.text_v.sizes()));
  return p.text_v.to(tv.scalar_type()).reshape({B, Lt, N, d});
}

// Self-attention K / V of the image rows (probe.h protocol 3), head-major for the listener; k, v: [B, Li, N, d].
void probe_image_kv(ProbeListener* kvl, at::Tensor& k, at::Tensor& v, const Context& c, int layer) {
  SelfKvProbe kp{*c.info, layer, k.transpose(1, 2), v.transpose(1, 2)};
  kvl->on_self_attn_kv(kp);
  k = kp.k.transpose(1, 2).to(k.scalar_type());
  v = kp.v.transpose(1, 2).to(v.scalar_type());
}

void double_block(const HunyuanDoubleBlock& b, int index, at::Tensor& img, at::Tensor& txt, const Context& c) {
  const std::string pre = "double" + std::to_string(index) + "_";
  const double eps = c.cfg.eps;
  const int64_t N = c.cfg.heads_num;
  at::Tensor im_all, tr_all, tm_all;
  const auto im = modulation(b.img.mod, c.vec, 6, &im_all);
  const auto tr = modulation(b.img.mod, c.tr_vec, 6, &tr_all);  // the same img_mod Linear on token_replace_vec
  const auto tm = modulation(b.txt.mod, c.vec, 6, &tm_all);     // text never uses token_replace
  c.tap(pre + "img_mod_out", im_all);
  c.tap(pre + "img_mod_tr_out", tr_all);
  c.tap(pre + "txt_mod_out", tm_all);
  auto I = [&](int j) { return TokenParam{im[j], tr[j], c.n0}; };
  auto T = [&](int j) { return TokenParam{tm[j], {}, 0}; };

  // The text stream first: it does not depend on the image stream, so its values (and the visual-context rows among
  // them) are known at the probe's input point, where Eq. 9 / Eq. 13 need V_vis.
  auto [tq, tk, tv] = split_qkv(b.txt.attn_qkv(hunyuan::modulate(layer_norm_noaffine(txt, eps), T(0), T(1))), N);
  tq = qk_norm(tq, b.txt.attn_q_norm, eps, tv.scalar_type());
  tk = qk_norm(tk, b.txt.attn_k_norm, eps, tv.scalar_type());

  const HunyuanBlockView view;
  ProbeListener* lis = wanting(c, index);
  std::unique_ptr<BlockProbe> p;
  if (lis) {
    p.reset(new BlockProbe{*c.info, index, view, img, {}, {}, {}});
    set_visual_values(*p, tv, c);
    lis->on_cross_attn_input(*p);
    img = p->x;
  }
  const at::Tensor img_ln = layer_norm_noaffine(img, eps);
  auto [iq, ik, iv] = split_qkv(b.img.attn_qkv(hunyuan::modulate(img_ln, I(0), I(1))), N);
  iq = hunyuan::apply_rope(qk_norm(iq, b.img.attn_q_norm, eps, iv.scalar_type()), c.cos, c.sin);
  ik = hunyuan::apply_rope(qk_norm(ik, b.img.attn_k_norm, eps, iv.scalar_type()), c.cos, c.sin);
  if (lis) {
    p->x_norm = img_ln;
    tv = probe_text_values(lis, *p, tv, c);
  }
  if (ProbeListener* kvl = wanting_kv(c, index)) probe_image_kv(kvl, ik, iv, c, index);
  const at::Tensor q = at::cat({iq, tq}, 1), k = at::cat({ik, tk}, 1), v = at::cat({iv, tv}, 1);
  c.tap(pre + "q", q);
  c.tap(pre + "k", k);
  c.tap(pre + "v", v);
  const at::Tensor attn = hunyuan::joint_attention(q, k, v, c.valid, c.Li, hidden_text(c, index).get());
  c.tap(pre + "attn_out", attn);

  img = img + hunyuan::apply_gate(b.img.attn_proj(attn.narrow(1, 0, c.Li)).to(at::kFloat), I(2));
  if (lis) {
    p->x = img;
    lis->on_cross_attn_output(*p);
    img = p->x;
  }
  img = img + hunyuan::apply_gate(
                  mlp_gelu(b.img.mlp, hunyuan::modulate(layer_norm_noaffine(img, eps), I(3), I(4))).to(at::kFloat), I(5));
  txt = txt + hunyuan::apply_gate(b.txt.attn_proj(attn.narrow(1, c.Li, c.Lt)).to(at::kFloat), T(2));
  txt = txt + hunyuan::apply_gate(
                  mlp_gelu(b.txt.mlp, hunyuan::modulate(layer_norm_noaffine(txt, eps), T(3), T(4))).to(at::kFloat), T(5));
  c.tap(pre + "img_out", img);
  c.tap(pre + "txt_out", txt);
}

// x = [image tokens; text tokens]; the token_replace values cover the first n0 tokens (latent frame 0).
at::Tensor single_block(const HunyuanSingleBlock& b, int index, at::Tensor x, const Context& c) {
  const std::string pre = "single" + std::to_string(index) + "_";
  const double eps = c.cfg.eps;
  const int64_t D = c.cfg.hidden_size, M = c.cfg.mlp_hidden(), N = c.cfg.heads_num;
  at::Tensor m_all, tr_all;
  const auto m = modulation(b.modulation, c.vec, 3, &m_all);
  const auto tr = modulation(b.modulation, c.tr_vec, 3, &tr_all);
  c.tap(pre + "mod_out", m_all);
  c.tap(pre + "mod_tr_out", tr_all);
  auto P = [&](int j) { return TokenParam{m[j], tr[j], c.n0}; };

  const int layer = c.double_count + index;
  const HunyuanBlockView view;
  ProbeListener* lis = wanting(c, layer);
  std::unique_ptr<BlockProbe> p;
  if (lis) {  // the listener sees and may replace the image rows; the text rows pass unchanged
    p.reset(new BlockProbe{*c.info, layer, view, x.narrow(1, 0, c.Li), {}, {}, {}});
    if (c.vis_begin >= 0) {
      // The text rows' values do not depend on the image rows (per-token norm and projection): computed here from
      // linear1's v columns so V_vis exists at the input point; the values point below hands the forward's own.
      const at::Tensor tx = hunyuan::modulate(layer_norm_noaffine(x.narrow(1, c.Li, c.Lt), eps), TokenParam{m[0], {}, 0},
                                              TokenParam{m[1], {}, 0});
      const at::Tensor tv = at::linear(tx.to(b.linear1.w.scalar_type()), b.linear1.w.narrow(0, 2 * D, D),
                                       b.linear1.b.defined() ? b.linear1.b.narrow(0, 2 * D, D) : at::Tensor());
      set_visual_values(*p, tv.view({tv.size(0), tv.size(1), N, -1}), c);
    }
    lis->on_cross_attn_input(*p);
    x = at::cat({p->x, x.narrow(1, c.Li, c.Lt)}, 1);
  }
  const at::Tensor x_ln = layer_norm_noaffine(x, eps);
  const at::Tensor y = b.linear1(hunyuan::modulate(x_ln, P(0), P(1)));
  auto [q, k, v] = split_qkv(y.narrow(-1, 0, 3 * D), N);
  const at::Tensor mlp = y.narrow(-1, 3 * D, M);
  q = qk_norm(q, b.q_norm, eps, v.scalar_type());
  k = qk_norm(k, b.k_norm, eps, v.scalar_type());
  // RoPE on the image rows only.
  q = at::cat({hunyuan::apply_rope(q.narrow(1, 0, c.Li), c.cos, c.sin), q.narrow(1, c.Li, c.Lt)}, 1);
  k = at::cat({hunyuan::apply_rope(k.narrow(1, 0, c.Li), c.cos, c.sin), k.narrow(1, c.Li, c.Lt)}, 1);
  if (lis) {
    p->x_norm = x_ln.narrow(1, 0, c.Li);
    v = at::cat({v.narrow(1, 0, c.Li), probe_text_values(lis, *p, v.narrow(1, c.Li, c.Lt), c)}, 1);
  }
  if (ProbeListener* kvl = wanting_kv(c, layer)) {
    at::Tensor ki = k.narrow(1, 0, c.Li), vi = v.narrow(1, 0, c.Li);
    probe_image_kv(kvl, ki, vi, c, layer);
    k = at::cat({ki, k.narrow(1, c.Li, c.Lt)}, 1);
    v = at::cat({vi, v.narrow(1, c.Li, c.Lt)}, 1);
  }
  c.tap(pre + "q", q);
  c.tap(pre + "k", k);
  c.tap(pre + "v", v);
  const at::Tensor attn = hunyuan::joint_attention(q, k, v, c.valid, c.Li, hidden_text(c, layer).get());
  c.tap(pre + "attn_out", attn);
  // One projection of [attention | GELU(mlp)]: no separate attention output projection.
  const at::Tensor act = at::gelu(mlp, "tanh");
  const at::Tensor out = b.linear2(at::cat({attn.to(act.scalar_type()), act}, 2)).to(at::kFloat);
  at::Tensor r = x + hunyuan::apply_gate(out, P(2));
  if (lis) {  // the single block's attention and MLP share one residual add: the output point is after it
    p->x = r.narrow(1, 0, c.Li);
    lis->on_cross_attn_output(*p);
    r = at::cat({p->x, r.narrow(1, c.Li, c.Lt)}, 1);
  }
  c.tap(pre + "out", r);
  return r;
}

void check_inputs(const HunyuanConfig& cfg, const HunyuanInputs& in) {
  const char* where = "HunyuanVideo DiT input";
  const auto& p = cfg.patch_size;
  if (!in.x.defined() || in.x.dim() != 5 || in.x.size(1) != cfg.in_channels)
    fail(where, "x must be [B, " + std::to_string(cfg.in_channels) + ", T, H, W], got " +
                    (in.x.defined() ? shape_str(in.x.sizes()) : std::string("nothing")));
  for (int i = 0; i < 3; ++i)
    if (in.x.size(2 + i) % p[i] != 0) fail(where, "latent size " + shape_str(in.x.sizes()) + " is not divisible by the patch size");
  const int64_t B = in.x.size(0);
  if (!in.text_states.defined() || in.text_states.dim() != 3 || in.text_states.size(0) != B ||
      in.text_states.size(2) != cfg.text_states_dim || in.text_states.size(1) < 1)
    fail(where, "text_states must be [" + std::to_string(B) + ", Lt, " + std::to_string(cfg.text_states_dim) + "], got " +
                    (in.text_states.defined() ? shape_str(in.text_states.sizes()) : std::string("nothing")));
  const int64_t Lt = in.text_states.size(1);
  if (!in.text_mask.defined() || in.text_mask.dim() != 2 || in.text_mask.size(0) != B || in.text_mask.size(1) != Lt)
    fail(where, "text_mask must be [" + std::to_string(B) + ", " + std::to_string(Lt) + "]");
  if (!in.text_states_2.defined() || in.text_states_2.dim() != 2 || in.text_states_2.size(0) != B ||
      in.text_states_2.size(1) != cfg.text_states_dim_2)
    fail(where, "text_states_2 must be [" + std::to_string(B) + ", " + std::to_string(cfg.text_states_dim_2) + "]");
  if (!in.t.defined() || (in.t.numel() != B && in.t.numel() != 1)) fail(where, "t must have one timestep per batch row");
  if (cfg.guidance_embed && (!in.guidance.defined() || (in.guidance.numel() != B && in.guidance.numel() != 1)))
    fail(where, "this model embeds the guidance strength: guidance (scale * 1000) must be given per batch row");
}

}  // namespace

at::Tensor HunyuanModel::token_refiner(const at::Tensor& text_states, const at::Tensor& t, const at::Tensor& mask,
                                       const HunyuanForwardOptions& opt) const {
  const Tapper tap{opt};
  const double eps = cfg.eps;
  const at::Tensor te = mlp_silu(txt_t_embedder, hunyuan::timestep_sinusoid(t, cfg.freq_dim)).to(at::kFloat);
  // Masked mean of the raw text features (the context-aware representation).
  const at::Tensor xs = text_states.to(at::kFloat);
  at::Tensor pooled;
  if (mask.defined()) {
    const at::Tensor mf = mask.to(at::kFloat).unsqueeze(-1);
    pooled = (xs * mf).sum(1) / mf.sum(1);
  } else {
    pooled = xs.mean(1);
  }
  const at::Tensor ce = mlp_silu(txt_c_embedder, pooled).to(at::kFloat);
  tap("refiner_t_embedder_out", te);
  tap("refiner_c_embedder_out", ce);
  const at::Tensor c = te + ce;
  at::Tensor x = txt_input_embedder(text_states).to(at::kFloat);
  tap("refiner_input_embedder_out", x);
  for (size_t i = 0; i < refiner.size(); ++i) {
    const auto& b = refiner[i];
    const auto g = b.adaLN(at::silu(c)).to(at::kFloat).chunk(2, -1);  // gate_msa, gate_mlp (no shift / scale)
    auto [q, k, v] = split_qkv(b.self_attn_qkv(layer_norm_affine(x, b.norm1, eps)), cfg.heads_num);
    const at::Tensor a = hunyuan::refiner_attention(q, k, v, mask);
    x = x + b.self_attn_proj(a).to(at::kFloat) * g[0].unsqueeze(1);
    x = x + mlp_silu(b.mlp, layer_norm_affine(x, b.norm2, eps)).to(at::kFloat) * g[1].unsqueeze(1);
    tap("refiner_block" + std::to_string(i) + "_out", x);
  }
  return x;
}

at::Tensor HunyuanModel::forward(const HunyuanInputs& in, const HunyuanForwardOptions& opt) const {
  check_inputs(cfg, in);
  const Tapper tap{opt};
  const c10::Device dev = device();
  const auto& p = cfg.patch_size;
  const int64_t B = in.x.size(0);
  const int64_t tt = in.x.size(2) / p[0], th = in.x.size(3) / p[1], tw = in.x.size(4) / p[2];
  const int64_t Li = tt * th * tw, Lt = in.text_states.size(1);
  const auto f32 = [&](const at::Tensor& t) { return t.to(dev, at::kFloat).reshape({-1}).expand({B}); };

  // Conditioning vectors. token_replace_vec = time_in(0) + vector_in(clip): no guidance term.
  const at::Tensor t = f32(in.t);
  const at::Tensor t_sin = hunyuan::timestep_sinusoid(t, cfg.freq_dim);
  const at::Tensor time_out = mlp_silu(time_in, t_sin).to(at::kFloat);
  const at::Tensor time_zero = mlp_silu(time_in, hunyuan::timestep_sinusoid(at::zeros_like(t), cfg.freq_dim)).to(at::kFloat);
  const at::Tensor vec2 = mlp_silu(vector_in, in.text_states_2.to(dev)).to(at::kFloat);
  tap("t_sinusoid", t_sin);
  tap("time_in_out", time_out);
  tap("time_in_zero_out", time_zero);
  tap("vector_in_out", vec2);
  Context c{cfg, tap};
  ForwardInfo info;
  info.step = opt.step;
  info.timestep = t[0].item<double>();
  info.roles = opt.roles.empty() ? std::vector<PassRole>(static_cast<size_t>(B), PassRole::Cond) : opt.roles;
  info.grid = {tt, th, tw};
  if (static_cast<int64_t>(info.roles.size()) != B) fail("HunyuanVideo DiT input", "roles must name every batch row");
  c.info = &info;
  c.listener = opt.listener;
  c.opt = &opt;
  c.double_count = static_cast<int>(double_blocks.size());
  for (int l : opt.hide_text_layers)
    if (l < 0 || l >= static_cast<int>(double_blocks.size() + single_blocks.size()))
      fail("HunyuanVideo DiT input", "hide_text_layers names layer " + std::to_string(l) + ", which does not exist");
  if (opt.visual_rows_begin >= 0) {
    if (opt.visual_rows_count < 1 || opt.visual_rows_begin + opt.visual_rows_count > Lt)
      fail("HunyuanVideo DiT input", "visual rows [" + std::to_string(opt.visual_rows_begin) + ", +" +
                                         std::to_string(opt.visual_rows_count) + ") are not inside the " +
                                         std::to_string(Lt) + " text rows");
    c.vis_begin = opt.visual_rows_begin;
    c.vis_count = opt.visual_rows_count;
  }
  c.vec = time_out + vec2;
  c.tr_vec = time_zero + vec2;
  if (cfg.guidance_embed) {
    const at::Tensor g_sin = hunyuan::timestep_sinusoid(f32(in.guidance), cfg.freq_dim);
    const at::Tensor g_out = mlp_silu(guidance_in, g_sin).to(at::kFloat);
    tap("guidance_sinusoid", g_sin);
    tap("guidance_in_out", g_out);
    c.vec = c.vec + g_out;
  }
  tap("vec", c.vec);
  tap("token_replace_vec", c.tr_vec);

  // Image tokens (row-major f, h, w) and refined text tokens.
  at::Tensor img = at::conv3d(in.x.to(dev, img_in_w.scalar_type()), img_in_w, img_in_b, {p[0], p[1], p[2]});
  img = img.flatten(2).transpose(1, 2).to(at::kFloat);
  tap("img_in_out", img);
  const at::Tensor mask = in.text_mask.to(dev);
  at::Tensor txt = token_refiner(in.text_states.to(dev), t, cfg.use_attention_mask ? mask : at::Tensor(), opt);
  tap("txt_in_out", txt);

  // Varlen segments: only the number of valid text tokens counts (the mask is a prefix of ones).
  const at::Tensor valid_t = in.text_mask.to(at::kCPU).to(at::kLong).sum(1).contiguous();
  c.valid.assign(valid_t.data_ptr<int64_t>(), valid_t.data_ptr<int64_t>() + B);
  tap("cu_seqlens", hunyuan::cu_seqlens(c.valid, Li, Lt));
  c.n0 = th * tw;
  c.Li = Li;
  c.Lt = Lt;
  if (in.freqs_cos.defined() != in.freqs_sin.defined()) fail("HunyuanVideo DiT input", "give both freqs_cos and freqs_sin or neither");
  if (in.freqs_cos.defined()) {
    for (const at::Tensor* f : {&in.freqs_cos, &in.freqs_sin})
      if (f->dim() != 2 || f->size(0) != Li || f->size(1) != cfg.head_dim())
        fail("HunyuanVideo DiT input", "RoPE tables must be [" + std::to_string(Li) + ", " + std::to_string(cfg.head_dim()) +
                                           "], got " + shape_str(f->sizes()));
    c.cos = in.freqs_cos.to(dev, at::kFloat);
    c.sin = in.freqs_sin.to(dev, at::kFloat);
  } else {
    auto [cs, sn] = hunyuan::rope_tables(cfg.rope_dim_list, {tt, th, tw}, cfg.rope_theta, cfg.rope_theta_rescale_factor);
    c.cos = cs.to(dev);
    c.sin = sn.to(dev);
  }

  for (size_t i = 0; i < double_blocks.size(); ++i) double_block(double_blocks[i], static_cast<int>(i), img, txt, c);
  at::Tensor x = at::cat({img, txt}, 1);
  for (size_t i = 0; i < single_blocks.size(); ++i) x = single_block(single_blocks[i], static_cast<int>(i), x, c);

  // Final layer on the image tokens, always with vec (no token_replace variant): (shift, scale), shift first.
  at::Tensor fm_all;
  const auto fm = modulation(final_mod, c.vec, 2, &fm_all);
  tap("final_layer_mod_out", fm_all);
  const at::Tensor h = layer_norm_noaffine(x.narrow(1, 0, Li), cfg.eps) * (1 + fm[1].unsqueeze(1)) + fm[0].unsqueeze(1);
  at::Tensor out = final_linear(h).to(at::kFloat);
  tap("final_layer_out", out);

  // Unpatchify: a token's features are ordered (c, pt, ph, pw), c slowest.
  const int64_t C = cfg.out_channels;
  out = out.view({B, tt, th, tw, C, p[0], p[1], p[2]}).permute({0, 4, 1, 5, 2, 6, 3, 7});
  return out.reshape({B, C, tt * p[0], th * p[1], tw * p[2]});
}

}  // namespace focalscope
