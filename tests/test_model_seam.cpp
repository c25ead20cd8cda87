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
#include <functional>
#include <map>
#include <set>

#include "engine/capture/similarity_capture.h"
#include "engine/core/error.h"
#include "engine/core/fixture.h"
#include "engine/models/common/layers.h"
#include "engine/models/wan/wan_model.h"
#include "engine/guidance/focal_guidance.h"
#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/models/hunyuan/hunyuan_sampler.h"
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
  const at::Tensor anchors = hunyuan_visual_anchor_weights({at::rand({4, 4})}, 3, 1);
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
  const at::Tensor anchors = hunyuan_visual_anchor_weights({sim}, 3, 1);  // [1, 9]
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
  const at::Tensor anchors = hunyuan_visual_anchor_weights({at::rand({3, 3})}, 3, 1);
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
  FocalGuidance fg(cfg, s.layers, {}, hunyuan_visual_anchor_weights({at::rand({3, 3})}, 3, 1), plan);
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
  EXPECT_THROW(hunyuan_visual_anchor_weights({at::rand({3, 3})}, 5, 4), Error);  // 25 patches: not every 4th
  EXPECT_EQ(hunyuan_visual_anchor_weights({at::rand({16, 16})}).sizes(), (std::vector<int64_t>{1, 144}));  // the release's crop
  // Upstream keeps raster rows 0, 4, 8, ... of the 24x24 patches: patch (0, 4) is kept row 1; patch (0, 1) is dropped.
  at::Tensor sim = -at::ones({24, 24});
  sim[0][4] = 1;
  const at::Tensor w = hunyuan_visual_anchor_weights({sim})[0];
  EXPECT_EQ(w[1].item<float>(), 1.0f);
  EXPECT_EQ(w.sum().item<float>(), 1.0f);
  sim[0][4] = -1;
  sim[0][1] = 1;
  EXPECT_TRUE(at::allclose(hunyuan_visual_anchor_weights({sim})[0], at::full({144}, 1.0 / 144)));  // nothing kept: uniform
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

TEST(ModelSeam, HunyuanRandomModelHasTheCheckpointLayout) {
  REQUIRE_FIXTURE();
  auto& s = seam();
  // bench-step and layout fixtures build random models through the loader's own module walk: the names, shapes and
  // dtypes are the checkpoint's, so the loader reads a random model's parameters back unchanged.
  at::manual_seed(3);
  const HunyuanModel r = HunyuanModel::random(s.model.cfg);
  const NamedTensors want = s.model.named_parameters(), got = r.named_parameters();
  ASSERT_EQ(got.size(), want.size());
  TensorSet set;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second.sizes(), want[i].second.sizes()) << got[i].first;
    EXPECT_EQ(got[i].second.scalar_type(), want[i].second.scalar_type()) << got[i].first;
    set.add(got[i].first, got[i].second, "random");
  }
  const HunyuanModel back = HunyuanModel::load(set, s.model.cfg);
  EXPECT_TRUE(at::equal(back.forward(s.in), r.forward(s.in)));
  long long n = 0;
  for (const auto& [name, t] : got) n += t.numel();
  EXPECT_EQ(n, s.model.cfg.num_params());
}

// ---- the same analyses on both architectures, through nothing but the seam ----------------------------------------
//
// Each architecture is a forward with listeners attached plus the anchors its BlockView reads. The expectations are
// computed from what the probe hands out (recorded by a listener placed before the one under test), so these tests
// say that capture, FSG and AC are one implementation on both models; the Hunyuan tests above and the Wan suites
// (test_capture, test_guidance) say that what each model hands out is the right quantity.
namespace {

struct Arch {
  std::string name;
  int layers = 0;
  std::array<int64_t, 3> grid{};
  std::vector<int64_t> key_rows;
  at::Tensor anchors;  // one keyword, in the form the architecture's BlockView reads
  std::function<at::Tensor(ProbeListener*)> forward;
};

Arch wan_arch() {
  static const Fixture* f = [] {
    const std::string dir = focalscope::testing::shared_fixture("wan_reference") + "/wan_dit_i2v_tiny";
    return std::filesystem::exists(dir + "/config.json") ? new Fixture(load_fixture(dir)) : nullptr;
  }();
  Arch a;
  a.name = "wan";
  if (!f) return a;
  static const WanModel model = WanModel::load(f->weights, WanConfig::from_json(f->config["constructor_args"]));
  static DitInputs in = [] {
    DitInputs d;
    d.x = f->in("x").unsqueeze(0);
    d.t = f->in("t1");
    d.context = f->in("context");
    d.y = f->in("y").unsqueeze(0);
    d.clip_fea = f->in("clip_fea");
    return d;
  }();
  a.layers = model.cfg.num_layers;
  a.grid = {in.x.size(2), in.x.size(3) / model.cfg.patch_size[1], in.x.size(4) / model.cfg.patch_size[2]};
  a.key_rows = {2, 4};
  at::manual_seed(21);
  a.anchors = at::randn({1, model.cfg.dim});  // an img_emb output
  a.forward = [](ProbeListener* l) {
    ForwardOptions o;
    o.step = 0;
    o.listener = l;
    return model.forward(in, o);
  };
  return a;
}

Arch hunyuan_arch() {
  Arch a;
  a.name = "hunyuan";
  if (seam().layers == 0) return a;
  a.layers = seam().layers;
  a.grid = seam().grid;
  a.key_rows = kKeyRows1;
  at::manual_seed(22);
  a.anchors = hunyuan_visual_anchor_weights({at::rand({5, 5})}, 3, 1);
  a.forward = [](ProbeListener* l) { return seam().model.forward(seam().in, options(l)); };
  return a;
}

// Records, per layer, what the probe hands out (row 0, the conditional row on both models here), and V_vis of the
// anchors as the block view computes it at the values point.
struct SeamRecorder : ProbeListener {
  at::Tensor anchors;
  std::map<int, at::Tensor> x_in, x_norm, text_v, vvis;
  std::set<int> layers;  // empty = every layer
  bool wants(const ForwardInfo&, int l) const override { return layers.empty() || layers.count(l); }
  void on_cross_attn_input(BlockProbe& p) override { x_in[p.layer] = p.x[0].clone(); }
  void on_cross_attn_values(BlockProbe& p) override {
    x_norm[p.layer] = p.x_norm[0].to(at::kFloat).clone();
    text_v[p.layer] = p.text_v[0].to(at::kFloat).clone();
    if (anchors.defined()) vvis[p.layer] = p.view.visual_values(anchors, p).clone();
  }
};

at::Tensor keyword_map(const SeamRecorder& r, int layer, const std::vector<int64_t>& rows) {
  at::Tensor vk = at::zeros({r.text_v.at(layer).size(1)});
  for (int64_t row : rows) vk += r.text_v.at(layer)[row];
  vk /= double(rows.size());
  return at::matmul(unit(r.x_norm.at(layer)), unit(vk));
}

FsgPlan one_keyword(const Arch& a) {
  FsgPlan plan;
  plan.keywords.push_back({"kw", a.key_rows, 1.0, {}, {}, at::zeros({a.grid[1], a.grid[2]})});
  return plan;
}

class EveryArchitecture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    arch = GetParam() == "wan" ? wan_arch() : hunyuan_arch();
    if (arch.layers == 0) GTEST_SKIP() << arch.name << " fixture not found";
  }
  Arch arch;
  c10::InferenceMode guard;
};

}  // namespace

TEST_P(EveryArchitecture, OffIsBitForBit) {
  const at::Tensor plain = arch.forward(nullptr);
  Watcher w;
  EXPECT_TRUE(at::equal(plain, arch.forward(&w)));
  GuidanceConfig off;
  off.weak_layers = {arch.layers / 2};
  FocalGuidance fg_off(off, arch.layers, {}, arch.anchors, one_keyword(arch));
  EXPECT_TRUE(at::equal(plain, arch.forward(&fg_off)));
  GuidanceConfig zero = off;
  zero.fsg = zero.ac = true;
  zero.lambda_txt = zero.lambda_lat = zero.lambda_cache = 0;
  FocalGuidance fg_zero(zero, arch.layers, {}, arch.anchors, one_keyword(arch));
  EXPECT_TRUE(at::equal(plain, arch.forward(&fg_zero)));
}

TEST_P(EveryArchitecture, CaptureIsEq10OnWhatTheProbeHandsOut) {
  CaptureSelection sel;
  sel.steps = {0};
  for (int l = 0; l < arch.layers; ++l) sel.layers.push_back(l);
  SimilarityCapture cap({{"kw", arch.key_rows}}, make_capture_layout(sel, arch.layers, 1, 1, arch.grid));
  SeamRecorder rec;
  ProbeChain chain;
  chain.add(&rec);
  chain.add(&cap);
  arch.forward(&chain);
  cap.finish();
  for (int l = 0; l < arch.layers; ++l) {
    const at::Tensor want = keyword_map(rec, l, arch.key_rows);
    EXPECT_LT((at::tensor(cap.map(0, 0, l, 0)) - want).abs().max().item<double>(), 2e-3) << arch.name << " layer " << l;
  }
}

TEST_P(EveryArchitecture, FsgValueFusionIsEq8OnTheKeywordRows) {
  const int weak = arch.layers / 2;
  GuidanceConfig cfg;
  cfg.fsg = true;
  cfg.lambda_txt = 0.7;
  cfg.lambda_lat = 0;
  cfg.weak_layers = {weak};
  FocalGuidance fg(cfg, arch.layers, {}, arch.anchors, one_keyword(arch));
  SeamRecorder before, after;
  before.anchors = arch.anchors;
  before.layers = after.layers = {weak};
  ProbeChain chain;
  chain.add(&before);
  chain.add(&fg);
  chain.add(&after);
  arch.forward(&chain);
  const at::Tensor delta = after.text_v.at(weak) - before.text_v.at(weak);
  at::Tensor want = at::zeros_like(delta);
  for (int64_t r : arch.key_rows) want[r] = 0.7 * before.vvis.at(weak)[0];
  EXPECT_LT((delta - want).abs().max().item<double>(), 1e-5) << arch.name;
  EXPECT_GT(want.abs().max().item<double>(), 1e-3);
}

TEST_P(EveryArchitecture, AttentionCacheIsEq13FromTheEarlierLayersMaps) {
  const int weak = arch.layers - 1;
  GuidanceConfig cfg;
  cfg.ac = true;
  cfg.lambda_cache = 0.4;
  cfg.tau_cache = -1;  // keep every value: the arithmetic is under test
  cfg.tau_cache_given = true;
  cfg.weak_layers = {weak};
  FocalGuidance fg(cfg, arch.layers, {}, arch.anchors, one_keyword(arch));
  SeamRecorder before, after;
  before.anchors = arch.anchors;
  after.layers = {weak};
  ProbeChain chain;
  chain.add(&before);
  chain.add(&fg);
  chain.add(&after);
  arch.forward(&chain);
  at::Tensor A = at::zeros({before.x_norm.at(0).size(0)});
  for (int l = 0; l < weak; ++l) A += keyword_map(before, l, arch.key_rows);
  A /= double(weak);
  // V_vis as the view computes it at the input point (Wan: static; HunyuanVideo: the same rows' values).
  const at::Tensor want = 0.4 * A.unsqueeze(1) * before.vvis.at(weak)[0].unsqueeze(0);
  EXPECT_LT((after.x_in.at(weak) - before.x_in.at(weak) - want).abs().max().item<double>(), 1e-4) << arch.name;
  EXPECT_EQ(fg.stats().weak.at(0).ac_applications, 1);
}

INSTANTIATE_TEST_SUITE_P(Seam, EveryArchitecture, ::testing::Values("wan", "hunyuan"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });
