// Focal Guidance: every equation on small tensors with hand-worked values, plus zero-shot runs on the tiny
// Wan-layout model (off == baseline bit for bit; guidance changes exactly the rows / layers it should).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/guidance/fg_equations.h"
#include "engine/guidance/focal_guidance.h"
#include "engine/guidance/guided_generate.h"
#include "tests/layout_bundle.h"

using namespace focalscope;

namespace {
at::Tensor T(std::vector<float> v, std::vector<int64_t> shape) {
  return at::tensor(v, at::TensorOptions().dtype(at::kFloat)).view(shape).clone();
}
void expect_near(const at::Tensor& a, const at::Tensor& b, double tol = 1e-6) {
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_LE((a - b).abs().max().item<double>(), tol) << a << "\nvs\n" << b;
}
}  // namespace

TEST(FgEquations, Eq6WordPatchSimilarityAndSign) {
  // words: "red" = (1,0), "moves" = (0,1); patches: (2,0) (0,3) (1,1)
  at::Tensor S = fg::word_patch_similarity(T({1, 0, 0, 1}, {2, 2}), T({2, 0, 0, 3, 1, 1}, {3, 2}), +1);
  const float r = 1.0f / std::sqrt(2.0f);
  expect_near(S, T({1, 0, r, 0, 1, r}, {2, 3}));
  expect_near(fg::word_patch_similarity(T({1, 0, 0, 1}, {2, 2}), T({2, 0, 0, 3, 1, 1}, {3, 2}), -1), -S);
}

TEST(FgEquations, AnchorIsSimilarityWeightedMeanOfPatches) {
  // S = (0.5, -0.2, 1.5): weights (0.25, 0, 0.75); tokens (4,0), (100,100), (0,8) -> (1, 6)
  expect_near(fg::visual_anchor(T({0.5f, -0.2f, 1.5f}, {3}), T({4, 0, 100, 100, 0, 8}, {3, 2})), T({1, 6}, {2}));
  // nothing positive -> plain mean
  expect_near(fg::visual_anchor(T({-1, -1}, {2}), T({2, 0, 0, 2}, {2, 2})), T({1, 1}, {2}));
}

TEST(FgEquations, RegionWeightsNormaliseAndThreshold) {
  // 2x2 map, same grid: min 0, max 4 -> normalised (0, .25, .5, 1); tau .3 keeps .5 and 1
  expect_near(fg::region_weights(T({0, 1, 2, 4}, {2, 2}), 2, 2, 0.3), T({0, 0, 0.5, 1}, {2, 2}));
  // constant map -> all ones (the whole frame), above any tau < 1
  expect_near(fg::region_weights(T({3, 3, 3, 3}, {2, 2}), 2, 2, 0.5), T({1, 1, 1, 1}, {2, 2}));
}

TEST(FgEquations, Eq8ValueFusionTouchesOnlyKeywordRowsOfGuidedBatchRows) {
  at::Tensor tv = at::zeros({2, 3, 2});  // B=2 (cond, uncond), 3 text rows, dim 2
  at::Tensor vvis = T({1, 2, 10, 20}, {2, 2});  // two keywords
  at::Tensor out = fg::fuse_text_values(tv, {0}, {{1}, {1, 2}}, vvis, 0.5);
  // row 1 gets 0.5*(1,2) + 0.5*(10,20) = (5.5, 11); row 2 gets 0.5*(10,20) = (5, 10); uncond untouched
  expect_near(out[0], T({0, 0, 5.5f, 11, 5, 10}, {3, 2}));
  expect_near(out[1], at::zeros({3, 2}));
  EXPECT_TRUE(at::equal(fg::fuse_text_values(tv, {0}, {{1}}, vvis, 0.0), tv));
}

TEST(FgEquations, Eq9And13WeightedInjection) {
  at::Tensor x = at::ones({1, 4, 2});
  // K=1, weights on the first 2 tokens (the reference frame): (1, 0.5); V_vis = (2, 4); lambda 0.5
  at::Tensor out = fg::inject_weighted(x, {0}, T({1, 0.5f}, {1, 2}), T({2, 4}, {1, 2}), 0.5);
  expect_near(out[0], T({2, 3, 1.5f, 2, 1, 1, 1, 1}, {4, 2}));
  // two keywords over all 4 tokens: sum_k A[k,u] V_k
  at::Tensor A = T({1, 0, 0, 0, 0, 1, 0, 0}, {2, 4});
  at::Tensor out2 = fg::inject_weighted(at::zeros({1, 4, 2}), {0}, A, T({1, 0, 0, 1}, {2, 2}), 2.0);
  expect_near(out2[0], T({2, 0, 0, 2, 0, 0, 0, 0}, {4, 2}));
}

TEST(FgEquations, Eq10CosineAndEq12Threshold) {
  at::Tensor a = fg::keyword_cosine(T({3, 4}, {1, 2}), T({3, 4, -4, 3, 6, 8}, {3, 2}));
  expect_near(a, T({1, 0, 1}, {1, 3}));
  expect_near(fg::threshold_cache(T({0.1f, 0.5f, 0.3f}, {3}), 0.3), T({0, 0.5f, 0}, {3}));
}

namespace {
struct LayoutRun {
  std::unique_ptr<ModelBundle> m = focalscope::testing::runnable_layout_bundle();
  GenerateRequest req() const {
    GenerateRequest r;
    r.image = at::linspace(-1, 1, 3 * 32 * 32).view({3, 32, 32});
    r.prompt = "A cat walks on the grass";
    r.steps = 2;
    r.frames = 5;
    r.max_area = 32 * 32;
    r.seed = 5;
    return r;
  }
};
GuidanceConfig fg_cfg() {
  GuidanceConfig g;
  g.set_mode("fg");
  g.keywords = {"cat"};  // the layout model has no CLIP text tower: keywords are given
  g.weak_layers = {1};
  g.tau_cache = -1.0;  // keep every cache value so AC visibly acts on this random model
  return g;
}
}  // namespace

TEST(FocalGuidance, OffOrZeroLambdasIsTheBaselineBitForBit) {
  LayoutRun L;
  GenerateResult base = generate(*L.m, L.req());
  GuidanceConfig off = fg_cfg();
  off.set_mode("off");
  EXPECT_TRUE(at::equal(generate_guided(*L.m, L.req(), off).run.video, base.video));
  GuidanceConfig zero = fg_cfg();
  zero.lambda_txt = zero.lambda_lat = zero.lambda_cache = 0;
  EXPECT_FALSE(zero.active());
  EXPECT_TRUE(at::equal(generate_guided(*L.m, L.req(), zero).run.video, base.video));
  // and with guidance on, the video changes
  GuidedResult g = generate_guided(*L.m, L.req(), fg_cfg());
  EXPECT_FALSE(at::equal(g.run.video, base.video));
  ASSERT_EQ(g.plan.keywords.size(), 1u);
  EXPECT_EQ(g.plan.keywords[0].word, "cat");
  EXPECT_EQ(g.weak_layers, std::vector<int>{1});
}

TEST(FocalGuidance, ActsOnlyOnWeakLayersAndTheConditionalRow) {
  c10::InferenceMode guard;
  LayoutRun L;
  const auto& dit = L.m->dit;
  GenerateRequest r = L.req();
  // Conditioning as the pipeline builds it, then one DiT forward with a (cond, uncond) batch.
  at::Tensor clip_fea = L.m->clip.clip_fea(r.image);
  GuidanceConfig g = fg_cfg();
  g.ac = false;  // FSG only: Eq. 8 + 9 in weak layer 1
  FsgPlan plan = plan_focal_guidance(*L.m, r.prompt, clip_fea, g, 2, 2);
  FocalGuidance fgl(*L.m, g, plan, dit.cfg.num_layers);
  at::Tensor ctx = dit.pad_context(encode_prompt(*L.m, r.prompt));
  DitInputs in;
  in.x = at::randn({2, 16, 2, 4, 4});
  in.y = at::randn({1, 20, 2, 4, 4}).expand({2, 20, 2, 4, 4});
  in.t = at::full({2}, 500.0);
  in.context = at::cat({ctx, ctx}, 0);
  in.clip_fea = clip_fea.expand({2, clip_fea.size(1), clip_fea.size(2)});
  std::map<std::string, at::Tensor> base_taps, fg_taps;
  ForwardOptions o;
  o.roles = {PassRole::Cond, PassRole::Uncond};
  o.step = 0;
  o.taps = &base_taps;
  at::Tensor base = dit.forward(in, o);
  o.taps = &fg_taps;
  o.listener = &fgl;
  at::Tensor guided = dit.forward(in, o);
  EXPECT_TRUE(at::equal(fg_taps["block0_out"], base_taps["block0_out"]));     // layer 0 is not weak
  EXPECT_FALSE(at::equal(fg_taps["block1_out"][0], base_taps["block1_out"][0]));  // weak layer, cond row
  EXPECT_TRUE(at::equal(fg_taps["block1_out"][1], base_taps["block1_out"][1]));   // uncond row untouched
  EXPECT_TRUE(at::equal(guided[1], base[1]));
  EXPECT_FALSE(at::equal(guided[0], base[0]));
}

TEST(FocalGuidance, ConfigJsonRoundTripAndErrors) {
  GuidanceConfig g = fg_cfg();
  g.cache_source = CacheSource::PreviousStepResponsive;
  GuidanceConfig back = GuidanceConfig::from_json(g.to_json());
  EXPECT_EQ(back.to_json(), g.to_json());
  EXPECT_THROW(GuidanceConfig::from_json(nlohmann::json{{"lambda_txt", 1e9}}), Error);
  EXPECT_THROW(GuidanceConfig::from_json(nlohmann::json{{"tau_sell", 0.2}}), Error);
  EXPECT_THROW(GuidanceConfig().set_mode("focal"), Error);
  LayoutRun L;
  GuidanceConfig bad = fg_cfg();
  bad.keywords = {"dog"};  // not in the prompt
  EXPECT_THROW(generate_guided(*L.m, L.req(), bad), Error);
  GuidanceConfig nokw = fg_cfg();
  nokw.keywords.clear();  // no CLIP text tower to select them
  EXPECT_THROW(generate_guided(*L.m, L.req(), nokw), Error);
  GuidanceConfig noweak = fg_cfg();
  noweak.weak_layers.clear();  // the layout model records no weak layers
  EXPECT_THROW(generate_guided(*L.m, L.req(), noweak), Error);
}

// Causal ablation's intervention (WanModel::swap_layer_text through RunHooks::edit_cross, conditional row only): the
// text knocked out of every layer is the empty prompt, up to float rounding (the unconditional pass keeps its negative prompt); of
// no layer, exactly the baseline; of one layer, something in between.
TEST(TextKnockout, AllLayersIsTheEmptyPromptAndNoneIsTheBaseline) {
  LayoutRun L;
  const GenerateResult base = generate(*L.m, L.req());
  CrossContext empty;
  {
    c10::InferenceMode im;
    empty = text_cross_context(*L.m, "");
  }
  auto knocked = [&](std::vector<int> layers) {
    RunHooks h;
    h.edit_cross = [&](CrossContext& cc, int) { WanModel::swap_layer_text(cc, empty, layers, {0}); };
    return generate(*L.m, L.req(), h);
  };
  GenerateRequest blank = L.req();
  blank.prompt = "";
  blank.allow_empty_prompt = true;
  const GenerateResult no_text = generate(*L.m, blank);
  std::vector<int> all;
  for (int l = 0; l < L.m->dit.cfg.num_layers; ++l) all.push_back(l);
  // The same latent up to float rounding: bit-equal on an AVX-512 Xeon, 4.8e-6 apart (of a latent up to 5.1, where
  // one knocked-out layer moves it by 0.29) on an AVX2 EPYC, whose BLAS kernels round the swapped-in context's
  // batch shape differently from the empty prompt's own pass.
  const GenerateResult one = knocked({1});
  const double all_vs_empty = (knocked(all).latent - no_text.latent).abs().max().item<double>();
  EXPECT_LT(all_vs_empty, 1e-4);
  EXPECT_LT(all_vs_empty, 1e-3 * (one.latent - base.latent).abs().max().item<double>());
  EXPECT_TRUE(at::equal(knocked({}).latent, base.latent));
  EXPECT_FALSE(at::equal(one.latent, base.latent));
  EXPECT_FALSE(at::equal(one.latent, no_text.latent));
  CrossContext cc = empty;
  EXPECT_THROW(WanModel::swap_layer_text(cc, empty, {L.m->dit.cfg.num_layers}), Error);
}

// A switched-on part of guidance that does nothing says so (the CLI prints each line as "warning: ...").
TEST(FocalGuidance, NoOpsAreReportedWithTheirReason) {
  LayoutRun L;
  GuidanceConfig g = fg_cfg();
  g.set_mode("ac");
  g.tau_cache = 0.999;  // keeps nothing on this random model
  g.tau_cache_given = true;
  const GuidedResult r = generate_guided(*L.m, L.req(), g);
  ASSERT_EQ(r.noops.size(), 1u);
  EXPECT_NE(r.noops[0].find("kept 0 tokens"), std::string::npos) << r.noops[0];
  EXPECT_NE(r.noops[0].find("tau_cache 1.00"), std::string::npos) << r.noops[0];
  EXPECT_EQ(r.stats.ac_tokens_touched(), 0);
  EXPECT_TRUE(at::equal(r.run.video, generate(*L.m, L.req()).video));
  // With every value kept the cache acts, touches tokens in the weak layer and nothing is reported.
  const GuidedResult on = generate_guided(*L.m, L.req(), fg_cfg());
  EXPECT_TRUE(on.noops.empty()) << on.noops.front();
  ASSERT_EQ(on.stats.weak.size(), 1u);
  EXPECT_EQ(on.stats.weak[0].layer, 1);
  EXPECT_GT(on.stats.weak[0].ac_tokens_touched, 0);
  // Strengths at zero: said as well.
  GuidanceConfig zero = fg_cfg();
  zero.lambda_txt = zero.lambda_lat = zero.lambda_cache = 0;
  EXPECT_EQ(generate_guided(*L.m, L.req(), zero).noops.size(), 2u);
}

// Thresholds not given explicitly come from the model's calibration; given ones win.
TEST(FocalGuidance, CalibratedThresholdsApplyUnlessGiven) {
  LayoutRun L;
  L.m->calibrated_tau_cache = 0.123;
  GuidanceConfig g = fg_cfg();
  g.tau_cache_given = false;
  EXPECT_DOUBLE_EQ(with_model_defaults(g, *L.m).tau_cache, 0.123);
  EXPECT_DOUBLE_EQ(generate_guided(*L.m, L.req(), g).config.tau_cache, 0.123);
  g.tau_cache_given = true;
  EXPECT_DOUBLE_EQ(with_model_defaults(g, *L.m).tau_cache, -1.0);
  const GuidanceConfig from_file = GuidanceConfig::from_json({{"tau_sel", 0.5}});
  EXPECT_TRUE(from_file.tau_sel_given);
  EXPECT_FALSE(from_file.tau_cache_given);
}
