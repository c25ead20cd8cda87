#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/models/wan/conditioning.h"
#include "engine/models/wan/dit_fixture.h"
#include "engine/models/wan/wan_model.h"
#include "tests/fixture_check.h"

using namespace focalscope;
using focalscope::testing::fixtures_root;

namespace {
std::string dit_dir() { return fixtures_root() + "/wan_dit_i2v_tiny"; }
}

TEST(WanDiT, FixtureParity) {
  Fixture f = load_fixture(dit_dir());
  FixtureResult r = run_dit_fixture(f);
  double worst = focalscope::testing::check_fixture(f, r);
  EXPECT_LT(worst, 1e-4);
}

TEST(WanDiT, MissingAndMisshapedWeightsAreNamed) {
  Fixture f = load_fixture(dit_dir());
  WanConfig cfg = WanConfig::from_json(f.config["constructor_args"]);
  // drop one tensor
  TensorSet missing;
  missing.origin = "test.safetensors";
  for (const auto& n : f.weights.names())
    if (n != "blocks.1.ffn.0.bias") missing.add(n, f.weights.get(n), "test.safetensors");
  try {
    WanModel::load(missing, cfg);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.1.ffn.0.bias"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  // wrong shape
  TensorSet bad;
  bad.origin = "bad.safetensors";
  for (const auto& n : f.weights.names())
    bad.add(n, n == "blocks.2.self_attn.q.weight" ? at::zeros({96, 95}) : f.weights.get(n), "bad.safetensors");
  try {
    WanModel::load(bad, cfg);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.2.self_attn.q.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[96,95]"), std::string::npos) << e.what();
  }
  // unexpected extra tensor
  TensorSet extra;
  extra.origin = "extra.safetensors";
  for (const auto& n : f.weights.names()) extra.add(n, f.weights.get(n), "extra.safetensors");
  extra.add("blocks.3.modulation", at::zeros({1, 6, 96}), "extra.safetensors");
  EXPECT_THROW(WanModel::load(extra, cfg), Error);
}

TEST(WanDiT, RandomInitRoundTripsThroughNamedParameters) {
  WanConfig cfg;
  cfg.dim = 32; cfg.num_heads = 2; cfg.num_layers = 2; cfg.ffn_dim = 64; cfg.text_dim = 16; cfg.text_len = 8;
  cfg.clip_dim = 24; cfg.freq_dim = 32;
  WanModel m = WanModel::init(cfg, 7);
  TensorSet set;
  set.origin = "mem";
  for (const auto& [n, t] : m.named_parameters()) set.add(n, t, "mem");
  WanModel m2 = WanModel::load(set, cfg);
  EXPECT_EQ(m2.cfg.clip_dim, 24);
  EXPECT_EQ(static_cast<long long>(set.size()), static_cast<long long>(m.named_parameters().size()));
  long long n = 0;
  for (const auto& [name, t] : m.named_parameters()) n += t.numel();
  EXPECT_EQ(n, cfg.num_params());
}

TEST(WanDiT, ConfigOf14BHasUpstreamParameterCount) {
  // ARCHITECTURE.md: 16.39 B for the i2v DiT.
  EXPECT_NEAR(WanConfig::wan_i2v_14b().num_params() / 1e9, 16.39, 0.01);
}

TEST(WanDiT, MaskMarksOnlyFirstLatentFrame) {
  at::Tensor m = i2v_mask(3, 2, 2);
  EXPECT_EQ(m.sizes(), (std::vector<int64_t>{4, 3, 2, 2}));
  EXPECT_EQ(m.select(1, 0).sum().item<double>(), 16.0);
  EXPECT_EQ(m.sum().item<double>(), 16.0);
}

TEST(WanDiT, BadInputsAreErrors) {
  Fixture f = load_fixture(dit_dir());
  WanModel m = WanModel::load(f.weights, WanConfig::from_json(f.config["constructor_args"]));
  DitInputs in;
  in.x = at::zeros({1, 16, 3, 7, 8});  // H not divisible by patch 2
  in.t = at::full({1}, 500.0);
  in.context = at::zeros({4, 32});
  in.clip_fea = at::zeros({1, 257, 1280});
  in.y = at::zeros({1, 20, 3, 7, 8});
  EXPECT_THROW(m.forward(in), Error);
  in.x = at::zeros({1, 16, 3, 8, 8});
  in.y = at::zeros({1, 19, 3, 8, 8});
  EXPECT_THROW(m.forward(in), Error);
  in.y = at::zeros({1, 20, 3, 8, 8});
  in.context = at::zeros({600, 32});  // longer than text_len
  EXPECT_THROW(m.forward(in), Error);
}

// ---- fused inference path (engine/models/common/cpu_kernels.h) vs the straightforward ATen path -----------------------------
#include <c10/core/InferenceMode.h>

#include "engine/models/common/attention.h"
#include "engine/models/common/cpu_kernels.h"

namespace {

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item<double>();
}

// A small i2v model whose sizes exercise the kernels' partial-vector tails (width 48, head_dim 12, 7 CLIP tokens).
struct SmallDit {
  WanModel m;
  DitInputs in;
  SmallDit() {
    WanConfig cfg;
    cfg.dim = 48; cfg.num_heads = 4; cfg.num_layers = 2; cfg.ffn_dim = 80; cfg.text_dim = 16; cfg.text_len = 8;
    cfg.clip_dim = 24; cfg.freq_dim = 32;
    m = WanModel::init(cfg, 11);
    m.head.w = at::randn_like(m.head.w) * 0.05;  // upstream zero-inits the head: make the output depend on every op
    at::manual_seed(5);
    in.x = at::randn({2, 16, 2, 4, 6});
    in.y = at::randn({2, 20, 2, 4, 6});
    in.t = at::tensor({700.0, 300.0});
    in.context = at::cat({at::randn({2, 5, 16}), at::zeros({2, 3, 16})}, 1);
    in.clip_fea = at::randn({2, 7, 24});
  }
  at::Tensor fast(const ForwardOptions& opt = {}) {
    c10::InferenceMode guard;
    return m.forward(in, opt);
  }
};

// Replaces x and the text values, as latent injection (Eq. 9) and value fusion (Eq. 8) do.
class SteeringListener : public ProbeListener {
 public:
  bool wants(const ForwardInfo&, int layer) const override { return layer == 1; }
  // A strided replacement (transposed storage), as a listener is free to hand back.
  void on_cross_attn_input(BlockProbe& p) override { p.x = (p.x * 0.9 + 0.05).transpose(1, 2).contiguous().transpose(1, 2); }
  void on_cross_attn_values(BlockProbe& p) override { p.text_v = p.text_v * 1.5 + 0.1; }
};

}  // namespace

TEST(WanDiT, FastInferencePathMatchesAutogradPath) {
  SmallDit d;
  // Like the trainer (AdamW): every named parameter, q/k/v views of the packed projection included, is a leaf.
  NamedTensors params = d.m.named_parameters();
  for (auto& [name, p] : params) p.requires_grad_(true);
  at::Tensor ref = d.m.forward(d.in);  // grad mode on: the straightforward path, recorded by autograd
  ASSERT_TRUE(ref.requires_grad());
  (ref * at::randn_like(ref)).sum().backward();
  for (const auto& [name, p] : params) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>()) << name;
  }
  EXPECT_GT(d.m.blocks[1].sa_k.w.grad().abs().sum().item<double>(), 0.0);

  EXPECT_LT(max_rel(d.fast(), ref.detach()), 1e-5);
  {
    // Without autograd but outside InferenceMode (an EMA evaluation in the trainer) the fast path runs too, after
    // InferenceMode runs have left their reusable buffers behind.
    at::NoGradGuard no_grad;
    EXPECT_LT(max_rel(d.m.forward(d.in), ref.detach()), 1e-5);
  }
  ForwardOptions reference;
  reference.reference_path = true;
  EXPECT_LT(max_rel(d.fast(reference), ref.detach()), 1e-6);

  // An optimizer step updates the q/k/v views in place: the packed projection the fast path uses must see it.
  {
    at::NoGradGuard no_grad;
    for (auto& [name, p] : params) p.add_(p.grad(), -0.05);
  }
  ASSERT_TRUE(d.m.blocks[0].sa_qkv.intact({&d.m.blocks[0].sa_q, &d.m.blocks[0].sa_k, &d.m.blocks[0].sa_v}));
  at::Tensor ref2 = d.m.forward(d.in).detach();
  EXPECT_GT(max_rel(ref2, ref.detach()), 1e-3);  // the step changed something
  EXPECT_LT(max_rel(d.fast(), ref2), 1e-5);

  // Assigning a new tensor to one part unpacks it: the fast path falls back to separate projections.
  d.m.blocks[0].sa_k.w = d.m.blocks[0].sa_k.w.detach().clone() * 1.1;
  EXPECT_FALSE(d.m.blocks[0].sa_qkv.intact({&d.m.blocks[0].sa_q, &d.m.blocks[0].sa_k, &d.m.blocks[0].sa_v}));
  EXPECT_LT(max_rel(d.fast(), d.m.forward(d.in).detach()), 1e-5);
  d.m.pack_projections();
  EXPECT_TRUE(d.m.blocks[0].sa_qkv.intact({&d.m.blocks[0].sa_q, &d.m.blocks[0].sa_k, &d.m.blocks[0].sa_v}));
  EXPECT_LT(max_rel(d.fast(), d.m.forward(d.in).detach()), 1e-5);
}

TEST(WanDiT, FastInferencePathKeepsProbeSemantics) {
  SmallDit d;
  SteeringListener steer;
  ForwardOptions opt;
  opt.listener = &steer;
  ForwardOptions ref_opt = opt;
  ref_opt.reference_path = true;
  const at::Tensor plain = d.fast();
  const at::Tensor fast = d.fast(opt), ref = d.fast(ref_opt);
  EXPECT_GT(max_rel(fast, plain), 1e-3);  // the listener took effect
  EXPECT_LT(max_rel(fast, ref), 1e-5);
}

TEST(WanDiT, CpuKernelsMatchAten) {
  c10::InferenceMode guard;
  at::manual_seed(3);
  for (int64_t cols : {1, 7, 16, 33, 65, 256}) {
    at::Tensor s = at::randn({3, 5, cols}) * 4;
    at::Tensor a = s.clone();
    cpu::softmax_lastdim_(a);
    EXPECT_LT((a - at::softmax(s, -1)).abs().max().item<double>(), 1e-6) << cols;
    // Rows padded to the kernel's vector width with scratch padding (the attention score buffers): the same
    // values. Without the scratch promise the padding is left alone.
    for (bool scratch : {true, false}) {
      at::Tensor buf = at::full({15, cpu::padded_row_stride(cols)}, std::nan(""));
      at::Tensor p = buf.narrow(1, 0, cols);
      p.copy_(s.view({15, cols}));
      cpu::softmax_lastdim_(p, scratch);
      EXPECT_LT((p - at::softmax(s, -1).view({15, cols})).abs().max().item<double>(), 1e-6) << cols;
      if (!scratch && buf.size(1) > cols) EXPECT_TRUE(at::isnan(buf.narrow(1, cols, buf.size(1) - cols)).all().item<bool>());
    }
  }
  at::Tensor g = at::randn({1001}) * 6;
  g.narrow(0, 0, 4).copy_(at::tensor({-200.f, -30.f, 30.f, 200.f}));
  at::Tensor gf = g.clone();
  cpu::gelu_tanh_(gf);
  EXPECT_LT((gf - at::gelu(g, "tanh")).abs().max().item<double>(), 2e-6);

  const int64_t B = 2, L = 9, D = 24, N = 2;
  at::Tensor x = at::randn({B, L, D}), sc = at::randn({B, 1, D}), sh = at::randn({B, 1, D});
  EXPECT_LT((cpu::layer_norm_scale_shift(x, 1 + sc, sh, 1e-6) - (layer_norm_noaffine(x, 1e-6) * (1 + sc) + sh)).abs().max().item<double>(), 1e-5);
  at::Tensor w = at::randn({D}), wide = at::randn({B, L, 3 * D});
  at::Tensor ang = at::rand({L, D / N / 2}) * 6;
  at::Tensor c = at::cos(ang), sn = at::sin(ang);
  at::Tensor xs = wide.narrow(2, D, D);  // a column slice, as from the packed q/k/v GEMM
  at::Tensor want = apply_rope(rms_norm(xs, w, 1e-6).view({B, L, N, D / N}), c, sn).transpose(1, 2) * 0.3;
  EXPECT_LT((cpu::rms_norm_rope_heads(xs, w, 1e-6, N, c, sn, 0.3) - want).abs().max().item<double>(), 1e-5);
}

TEST(WanDiT, AttentionIntoTilesLargeScoreBlocks) {
  c10::InferenceMode guard;
  at::manual_seed(4);
  // Score blocks above the 8 MB budget: tiled over queries (first case) and over heads (second case).
  for (auto [L, S, N, d] : {std::array<int64_t, 4>{1100, 1100, 2, 16}, std::array<int64_t, 4>{64, 9000, 4, 8}}) {
    at::Tensor q = at::randn({1, L, N, d}), k = at::randn({1, S, N, d}), v = at::randn({1, S, N, d});
    at::Tensor want = attention(q, k, v);
    at::Tensor out = at::empty({1, L, N * d});
    attention_into((q / std::sqrt(double(d))).transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                   out.view({1, L, N, d}).transpose(1, 2), false);
    EXPECT_LT((out - want).abs().max().item<double>(), 1e-5) << L << " " << S;
  }
}

TEST(WanDiT, RowsOnSeparateCoresGiveTheSameBits) {
  // Wide enough (tokens x dim^2 >= 2e6) that, on a machine with several OpenBLAS threads, a batch-2 fast forward
  // without listeners runs its two rows on separate cores; a listener keeps them together. Same bits either way
  // (a read-only listener must not change the output), and the same values as the autograd path.
  WanConfig cfg;
  cfg.dim = 128; cfg.num_heads = 4; cfg.num_layers = 2; cfg.ffn_dim = 256; cfg.text_dim = 16; cfg.text_len = 8;
  cfg.clip_dim = 24; cfg.freq_dim = 32;
  WanModel m = WanModel::init(cfg, 21);
  m.head.w = at::randn_like(m.head.w) * 0.05;
  at::manual_seed(6);
  DitInputs in;
  in.x = at::randn({2, 16, 2, 16, 16});  // 128 tokens per row
  in.y = at::randn({1, 20, 2, 16, 16}).expand({2, 20, 2, 16, 16});
  in.t = at::tensor({800.0, 800.0});
  in.context = at::randn({2, 8, 16});
  in.clip_fea = at::randn({1, 7, 24});
  class Nothing : public ProbeListener {
   public:
    bool wants(const ForwardInfo&, int) const override { return false; }
  } nothing;
  ForwardOptions together;
  together.listener = &nothing;
  at::Tensor split, joined;
  {
    c10::InferenceMode guard;
    split = m.forward(in);
    joined = m.forward(in, together);
  }
  EXPECT_TRUE(at::equal(split, joined)) << (split - joined).abs().max().item<double>();
  EXPECT_LT(max_rel(split, m.forward(in).detach()), 1e-5);
}
