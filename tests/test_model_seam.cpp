// The analysis seam on the second architecture (issue 25 item 3): similarity capture (Eq. 10), FSG value fusion
// (Eq. 8), the Attention Cache injection (Eq. 11-13) and the off path, written once against probe.h, run unchanged on
// the tiny HunyuanVideo MMDiT (2 double + 2 single blocks, upstream weights of the reference fixture) with synthetic
// text states, explicit keyword rows and explicit visual-context rows. Each expectation is recomputed here from the
// forward's own recorded intermediates (taps), not from the listeners under test.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <filesystem>

#include "engine/capture/similarity_capture.h"
#include "engine/core/error.h"
#include "engine/core/fixture.h"
#include "engine/dit/layers.h"
#include "engine/guidance/focal_guidance.h"
#include "engine/hunyuan/hunyuan_model.h"
#include "engine/hunyuan/hunyuan_sampler.h"
#include "engine/pipeline/hallucination.h"
#include "tests/fixture_check.h"

using namespace focalscope;

namespace {

constexpr int64_t kVisBegin = 2, kVisCount = 9;  // a 3x3 grid of "image tokens" inside the text
const std::vector<int64_t> kKeyRows0 = {13}, kKeyRows1 = {15, 16};

struct Seam {
  HunyuanModel model;
  HunyuanInputs in;
  int layers = 0;
  std::array<int64_t, 3> grid{};
};

Seam& seam() {
  static Seam* s = [] {
    const std::string dir = focalscope::testing::shared_fixture("hunyuan_reference") + "/hunyuan_dit_i2v_tiny";
    auto* r = new Seam;
    if (!std::filesystem::exists(dir + "/config.json")) return r;
    const Fixture f = load_fixture(dir);
    r->model = HunyuanModel::load(f.weights, HunyuanConfig::from_json(f.config));
    const HunyuanConfig& c = r->model.cfg;
    at::manual_seed(7);
    // A CFG pair: row 0 conditional, row 1 unconditional; different text states, one latent.
    const int64_t Lt = 20;
    r->in.x = at::randn({1, c.in_channels, 3, 8, 12}).repeat({2, 1, 1, 1, 1});
    r->in.t = at::full({2}, 600.0);
    r->in.text_states = at::randn({2, Lt, c.text_states_dim});
    r->in.text_mask = at::ones({2, Lt}, at::kLong);
    r->in.text_states_2 = at::randn({2, c.text_states_dim_2});
    r->in.guidance = at::full({2}, 3500.0);
    r->layers = static_cast<int>(r->model.double_blocks.size() + r->model.single_blocks.size());
    r->grid = {3, 8 / c.patch_size[1], 12 / c.patch_size[2]};
    return r;
  }();
  return *s;
}

#define REQUIRE_FIXTURE()                                                                  \
  if (seam().layers == 0) GTEST_SKIP() << "hunyuan_dit_i2v_tiny fixture not found";        \
  c10::InferenceMode guard

HunyuanForwardOptions options(ProbeListener* l, std::map<std::string, at::Tensor>* taps = nullptr) {
  HunyuanForwardOptions o;
  o.listener = l;
  o.taps = taps;
  o.step = 0;
  o.roles = {PassRole::Cond, PassRole::Uncond};
  o.visual_rows_begin = kVisBegin;
  o.visual_rows_count = kVisCount;
  return o;
}

// Wants everything, touches nothing.
struct Watcher : ProbeListener {
  bool wants(const ForwardInfo&, int) const override { return true; }
  bool wants_self_kv(const ForwardInfo&, int) const override { return true; }
  std::vector<int> seen;
  void on_cross_attn_input(BlockProbe& p) override { seen.push_back(p.layer); }
};

// Records what it sees in one layer (placed before and after the listener under test in a chain).
struct Recorder : ProbeListener {
  int layer;
  explicit Recorder(int l) : layer(l) {}
  at::Tensor x_in, text_v, img_v;
  bool wants(const ForwardInfo&, int l) const override { return l == layer; }
  void on_cross_attn_input(BlockProbe& p) override { x_in = p.x.clone(); }
  void on_cross_attn_values(BlockProbe& p) override {
    text_v = p.text_v.clone();
    if (p.img_v.defined()) img_v = p.img_v.clone();
  }
};

at::Tensor unit(const at::Tensor& t) { return t / t.norm(2, {-1}, true).clamp_min(1e-12); }

// Eq. 10 from the forward's taps: the stream entering `layer` (double: img; single: the image rows), LayerNorm'd,
// against the mean of the keyword rows' values of the joint attention, conditional row.
at::Tensor expected_map(const std::map<std::string, at::Tensor>& taps, int layer, int doubles, int64_t Li,
                        const std::vector<int64_t>& rows, double eps) {
  std::string stream, v;
  if (layer == 0) stream = "img_in_out";
  else if (layer < doubles) stream = "double" + std::to_string(layer - 1) + "_img_out";
  else if (layer == doubles) stream = "double" + std::to_string(doubles - 1) + "_img_out";
  else stream = "single" + std::to_string(layer - doubles - 1) + "_out";
  v = layer < doubles ? "double" + std::to_string(layer) + "_v" : "single" + std::to_string(layer - doubles) + "_v";
  const at::Tensor x = taps.at(stream)[0].narrow(0, 0, Li);                 // [Li, D]
  const at::Tensor z = at::layer_norm(x, {x.size(-1)}, {}, {}, eps);
  const at::Tensor vv = taps.at(v)[0];                                      // [L, N, d]
  at::Tensor vk = at::zeros({vv.size(1) * vv.size(2)});
  for (int64_t r : rows) vk += vv[Li + r].reshape({-1});
  vk /= double(rows.size());
  return at::matmul(unit(z), unit(vk));  // [Li]
}

}  // namespace

TEST(ModelSeam, HunyuanLayersAreDoubleThenSingleAndOffIsBitForBit) {
  REQUIRE_FIXTURE();
  auto& s = seam();
  const at::Tensor plain = s.model.forward(s.in, options(nullptr));
  Watcher w;
  const at::Tensor watched = s.model.forward(s.in, options(&w));
  EXPECT_TRUE(at::equal(plain, watched)) << "a listener that changes nothing must leave the output bit for bit";
  EXPECT_EQ(w.seen, (std::vector<int>{0, 1, 2, 3}));
  // FSG + AC switched off (and on with every strength 0): nothing changes either.
  GuidanceConfig off;
  off.weak_layers = {2};
  FsgPlan plan;
  plan.keywords.push_back({"red", kKeyRows0, 1.0, {}, {}, at::zeros({s.grid[1], s.grid[2]})});
  const at::Tensor anchors = hunyuan_visual_anchor_weights({at::rand({4, 4})}, kVisCount);
  FocalGuidance fg_off(off, s.layers, {}, anchors, plan);
  EXPECT_TRUE(at::equal(plain, s.model.forward(s.in, options(&fg_off))));
  GuidanceConfig zero = off;
  zero.fsg = zero.ac = true;
  zero.lambda_txt = zero.lambda_lat = zero.lambda_cache = 0;
  FocalGuidance fg_zero(zero, s.layers, {}, anchors, plan);
  EXPECT_TRUE(at::equal(plain, s.model.forward(s.in, options(&fg_zero))));
}

TEST(ModelSeam, CaptureMapsAreEq10OnTheJointAttention) {
  REQUIRE_FIXTURE();
  auto& s = seam();
  CaptureSelection sel;
  sel.steps = {0};
  sel.layers = {0, 1, 2, 3};
  const CaptureLayout layout = make_capture_layout(sel, s.layers, 1, 2, s.grid);
  SimilarityCapture cap({{"red", kKeyRows0}, {"ball", kKeyRows1}}, layout);
  std::map<std::string, at::Tensor> taps;
  const at::Tensor out = s.model.forward(s.in, options(&cap, &taps));
  cap.finish();
  EXPECT_TRUE(at::equal(out, s.model.forward(s.in, options(nullptr)))) << "capture is read-only";
  const int64_t Li = layout.map_elems();
  const int doubles = static_cast<int>(s.model.double_blocks.size());
  for (int layer = 0; layer < s.layers; ++layer)
    for (int k = 0; k < 2; ++k) {
      const at::Tensor want = expected_map(taps, layer, doubles, Li, k == 0 ? kKeyRows0 : kKeyRows1, s.model.cfg.eps);
      const std::vector<float> got = cap.map(0, 0, layer, k);
      ASSERT_EQ(static_cast<int64_t>(got.size()), Li);
      const at::Tensor g = at::tensor(got);
      EXPECT_LT((g - want).abs().max().item<double>(), 2e-3) << "layer " << layer << " keyword " << k;
      EXPECT_GT(want.abs().max().item<double>(), 0.05) << "a degenerate map would prove nothing";
    }
}

TEST(ModelSeam, FsgFusesTheVisualAnchorIntoTheKeywordValueRows) {
  REQUIRE_FIXTURE();
  auto& s = seam();
  const int weak = 2;  // the first single-stream block
  GuidanceConfig cfg;
  cfg.fsg = true;
  cfg.lambda_txt = 0.5;
  cfg.lambda_lat = 0;
  cfg.weak_layers = {weak};
  FsgPlan plan;
  plan.keywords.push_back({"red", kKeyRows0, 1.0, {}, {}, at::zeros({s.grid[1], s.grid[2]})});
  const at::Tensor sim = at::rand({6, 6});
  const at::Tensor anchors = hunyuan_visual_anchor_weights({sim}, kVisCount);  // [1, 9]
  EXPECT_NEAR(anchors.sum().item<double>(), 1.0, 1e-6);
  FocalGuidance fg(cfg, s.layers, {}, anchors, plan);
  Recorder before(weak), after(weak);
  ProbeChain chain;
  chain.add(&before);
  chain.add(&fg);
  chain.add(&after);
  const at::Tensor guided = s.model.forward(s.in, options(&chain));
  EXPECT_FALSE(at::equal(guided, s.model.forward(s.in, options(nullptr))));
  ASSERT_TRUE(before.img_v.defined());
  EXPECT_TRUE(at::equal(before.img_v, before.text_v.narrow(1, kVisBegin, kVisCount)));
  const at::Tensor vvis = at::matmul(anchors, before.img_v[0]);  // [1, D]: weighted visual-context values, cond row
  const at::Tensor delta = after.text_v - before.text_v;
  EXPECT_LT((delta[0][kKeyRows0[0]] - 0.5 * vvis[0]).abs().max().item<double>(), 1e-5);
  at::Tensor others = delta[0].clone();
  others[kKeyRows0[0]].zero_();
  EXPECT_EQ(others.abs().max().item<double>(), 0.0) << "only the keyword's rows move";
  EXPECT_EQ(delta[1].abs().max().item<double>(), 0.0) << "the unconditional row is left alone";
  EXPECT_EQ(fg.stats().weak.at(0).fsg_applications, 1);
}

TEST(ModelSeam, AttentionCacheInjectsEarlierLayersMapsIntoTheWeakLayer) {
  REQUIRE_FIXTURE();
  auto& s = seam();
  const int weak = 3;  // the last single block: layers 0-2 feed the cache of this step
  GuidanceConfig cfg;
  cfg.ac = true;
  cfg.lambda_cache = 0.5;
  cfg.tau_cache = -1;  // keep every value (a cosine is > -1): the test checks the arithmetic, not the threshold
  cfg.tau_cache_given = true;
  cfg.weak_layers = {weak};
  FsgPlan plan;
  plan.keywords.push_back({"red", kKeyRows0, 1.0, {}, {}, at::zeros({s.grid[1], s.grid[2]})});
  const at::Tensor anchors = hunyuan_visual_anchor_weights({at::rand({3, 3})}, kVisCount);
  FocalGuidance fg(cfg, s.layers, {}, anchors, plan);
  Recorder before(weak), after(weak);
  ProbeChain chain;
  chain.add(&before);
  chain.add(&fg);
  chain.add(&after);
  std::map<std::string, at::Tensor> taps;
  s.model.forward(s.in, options(&chain, &taps));
  const int64_t Li = before.x_in.size(1);
  const int doubles = static_cast<int>(s.model.double_blocks.size());
  at::Tensor A = at::zeros({Li});
  for (int l = 0; l < weak; ++l) A += expected_map(taps, l, doubles, Li, kKeyRows0, s.model.cfg.eps);
  A /= double(weak);  // Eq. 11, alpha_l = 1 / (number of responsive layers)
  const at::Tensor vvis = at::matmul(anchors, before.img_v[0])[0];  // [D]
  const at::Tensor want = 0.5 * A.unsqueeze(1) * vvis.unsqueeze(0);  // Eq. 13 on every image token
  const at::Tensor delta = after.x_in - before.x_in;
  EXPECT_LT((delta[0] - want).abs().max().item<double>(), 1e-4);
  EXPECT_EQ(delta[1].abs().max().item<double>(), 0.0);
  EXPECT_EQ(fg.stats().weak.at(0).ac_applications, 1);
  EXPECT_EQ(fg.stats().weak.at(0).ac_tokens_touched, Li);
}

TEST(ModelSeam, HunyuanRefusesFsgWithoutVisualRowsAndTextResponse) {
  REQUIRE_FIXTURE();
  auto& s = seam();
  GuidanceConfig cfg;
  cfg.fsg = true;
  cfg.weak_layers = {1};
  FsgPlan plan;
  plan.keywords.push_back({"red", kKeyRows0, 1.0, {}, {}, at::zeros({s.grid[1], s.grid[2]})});
  FocalGuidance fg(cfg, s.layers, {}, hunyuan_visual_anchor_weights({at::rand({3, 3})}, kVisCount), plan);
  HunyuanForwardOptions o = options(&fg);
  o.visual_rows_begin = -1;
  try {
    s.model.forward(s.in, o);
    FAIL() << "FSG without visual-context rows must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("visual-context rows"), std::string::npos) << e.what();
  }
  o = options(nullptr);
  o.visual_rows_begin = 15;  // 15 + 9 > 20 text rows
  EXPECT_THROW(s.model.forward(s.in, o), Error);
  EXPECT_THROW(hunyuan_visual_anchor_weights({at::rand({3, 3})}, 10), Error);  // not a square grid
}

TEST(ModelSeam, HunyuanSamplerFeedsTheHallucinationMetricAndListenersPerStep) {
  REQUIRE_FIXTURE();
  auto& s = seam();
  const HunyuanConfig& c = s.model.cfg;
  at::manual_seed(11);
  const at::Tensor noise = at::randn({1, c.in_channels, 3, 8, 12});
  const at::Tensor img = at::randn({1, c.in_channels, 1, 8, 12});
  HunyuanText text{s.in.text_states.narrow(0, 0, 1), s.in.text_mask.narrow(0, 0, 1), s.in.text_states_2.narrow(0, 0, 1)};
  HunyuanText neg{s.in.text_states.narrow(0, 1, 1), s.in.text_mask.narrow(0, 1, 1), s.in.text_states_2.narrow(0, 1, 1)};
  HunyuanSampleOptions o;
  o.steps = 6;
  o.cfg_scale = 2.0;  // a [Uncond, Cond] batch: the capture reads the conditional row
  o.visual_rows_begin = kVisBegin;
  o.visual_rows_count = kVisCount;
  const at::Tensor plain = sample_hunyuan_i2v(s.model, noise, img, text, &neg, o);

  HallucinationTracker tracker(3);
  at::Tensor last_x0;
  o.on_x0_pred = [&](int, const at::Tensor& x0) {
    tracker.add(x0[0]);
    last_x0 = x0;
  };
  CaptureSelection sel;
  sel.steps = {0, 5};
  sel.layers = {0, 3};
  SimilarityCapture cap({{"red", kKeyRows0}}, make_capture_layout(sel, s.layers, o.steps, 1, s.grid));
  o.listener = &cap;
  const at::Tensor seen = sample_hunyuan_i2v(s.model, noise, img, text, &neg, o);
  cap.finish();
  EXPECT_TRUE(at::equal(plain, seen)) << "the metric and the capture are read-only";
  // The last step goes to sigma 0: its data prediction is the sampler's result.
  EXPECT_LT((last_x0 - seen).abs().max().item<double>(), 1e-5);
  const auto& tr = tracker.trace();
  ASSERT_EQ(tr.global.size(), 6u);
  EXPECT_TRUE(std::isnan(tr.global[0]));
  for (size_t k = 1; k < tr.global.size(); ++k) EXPECT_TRUE(std::isfinite(tr.global[k]) && tr.global[k] > 0) << k;
  EXPECT_EQ(cap.ready_steps(), 2);
  for (int step = 0; step < 2; ++step)
    for (int layer = 0; layer < 2; ++layer) {
      ASSERT_TRUE(cap.filled(step, 0, layer));
      const at::Tensor m = at::tensor(cap.map(step, 0, layer, 0));
      EXPECT_GT(m.abs().max().item<double>(), 0.05);
    }
}
