// KV-Lock (docs/kv_lock.md). The hallucination metric (engine/pipeline/hallucination.h): the sliding-window variance of
// x̂0 on hand-worked trajectories (global, inside a mask, per-position maps, the first steps), its refusals, its
// exports, and through generate(): one value per step on every run, never changing the video. Dynamic CFG
// (engine/sched/dyn_cfg.h): the schedule, s*, the --guidance tokens, and through generate().
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/guidance/guidance_config.h"
#include "engine/guidance/guided_edit.h"
#include "engine/pipeline/kv_lock.h"
#include "engine/sched/dyn_cfg.h"
#include "engine/sched/scheduler.h"
#include "engine/pipeline/hallucination.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/pipeline/model_bundle.h"
#include "tests/layout_bundle.h"
#include "tests/test_util.h"

using namespace focalscope;

namespace {
// Sample variance (n - 1) of a few numbers.
double var(std::initializer_list<double> v) {
  double m = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / double(v.size() - 1);
}
}  // namespace

TEST(Hallucination, SlidingWindowVarianceGlobalLocalAndMaps) {
  c10::InferenceMode guard;
  // Latent [C 2, F 1, H 2, W 2]. Position (0, 0, 0) takes the values 0, 1, 3, 6, 10 over five steps (both channels);
  // everything else stays 0. Mask = that position only.
  at::Tensor mask = at::zeros({1, 2, 2});
  mask[0][0][0] = 1;
  HallucinationTracker t(3, mask);
  const double values[] = {0, 1, 3, 6, 10};
  for (double v : values) {
    at::Tensor x0 = at::zeros({2, 1, 2, 2});
    x0.select(1, 0).select(1, 0).select(1, 0).fill_(v);
    t.add(x0);
  }
  const auto& tr = t.trace();
  ASSERT_EQ(tr.steps(), 5);
  EXPECT_EQ(tr.window_used, (std::vector<int>{1, 2, 3, 3, 3}));
  EXPECT_TRUE(std::isnan(tr.global[0]));
  EXPECT_TRUE(std::isnan(tr.local[0]));
  EXPECT_TRUE(tr.maps[0].empty());
  // Window: the steps so far until W = 3 exist, then the last three.
  const double expect[] = {NAN, var({0, 1}), var({0, 1, 3}), var({1, 3, 6}), var({3, 6, 10})};
  for (int k = 1; k < 5; ++k) {
    EXPECT_NEAR(tr.local[k], expect[k], 1e-5) << "step " << k;          // the one masked position, both channels
    EXPECT_NEAR(tr.global[k], expect[k] / 4.0, 1e-5) << "step " << k;   // 2 of 8 elements vary
    ASSERT_EQ(tr.maps[k].size(), 4u);
    EXPECT_NEAR(tr.maps[k][0], expect[k], 1e-5);
    for (int u = 1; u < 4; ++u) EXPECT_EQ(tr.maps[k][u], 0.0f);
  }
  EXPECT_EQ(&tr.curve(), &tr.local);  // the schedules read the local curve when there is a mask
  EXPECT_EQ(tr.grid, (std::array<int64_t, 3>{1, 2, 2}));

  // Exports: CSV rows per step (step 0 has no value), JSON with the maps; the summary counts steps above tau.
  const std::string csv = hallucination_csv(tr);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "step,window,sigma2_global,sigma2_local");
  EXPECT_NE(csv.find("\n0,1,,\n"), std::string::npos);
  EXPECT_NE(hallucination_json(tr, 2.0).find("\"maps\""), std::string::npos);
  const std::string line = hallucination_summary(tr, 2.0);  // local 0.5, 2.33, 6.33, 12.33: three above 2
  EXPECT_NE(line.find("3 of 4 steps above tau 2"), std::string::npos) << line;
  EXPECT_NE(line.find("inside the mask"), std::string::npos) << line;
}

TEST(Hallucination, RefusesWhatHasNoMeaning) {
  EXPECT_THROW(HallucinationTracker(1), Error);
  EXPECT_THROW(HallucinationTracker(3, at::zeros({1, 2, 2})), Error);  // empty mask
  EXPECT_THROW(HallucinationTracker(3, at::ones({2, 2})), Error);      // not a grid
  HallucinationTracker t(3, at::ones({1, 2, 2}));
  EXPECT_THROW(t.add(at::zeros({2, 1, 3, 2})), Error);  // another grid than the mask's
  EXPECT_THROW(t.add(at::zeros({2, 2})), Error);
}

TEST(Hallucination, EveryGenerationCarriesItAndItChangesNothing) {
  c10::InferenceMode guard;
  auto bundle = focalscope::testing::runnable_layout_bundle();
  GenerateRequest req;
  at::manual_seed(0);
  req.image = at::rand({3, 64, 64}) * 2 - 1;
  req.prompt = "A cat walks on the grass.";
  req.steps = 4;
  req.frames = 5;
  req.max_area = 64 * 64;
  const GenerateResult on = generate(*bundle, req);
  ASSERT_EQ(on.hallucination.steps(), 4);
  EXPECT_EQ(on.hallucination.window, 10);
  for (int k = 1; k < 4; ++k) EXPECT_TRUE(std::isfinite(on.hallucination.global[k]) && on.hallucination.global[k] > 0);
  req.hallucination_window = 0;
  const GenerateResult off = generate(*bundle, req);
  EXPECT_EQ(off.hallucination.steps(), 0);
  EXPECT_TRUE(at::equal(on.video, off.video));  // read-only
  // A mask of another grid than the run's is refused, naming the mask.
  req.hallucination_window = 10;
  req.hallucination_mask = at::ones({1, 1, 1});
  try {
    generate(*bundle, req);
    ADD_FAILURE() << "a wrong-grid mask must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hallucination mask"), std::string::npos) << e.what();
  }
}

TEST(DynamicCfg, ScheduleReadingsAndScaledKappa) {
  DynCfgConfig c;
  c.enabled = true;
  EXPECT_EQ(scheduled_steps(c, 40), 20);
  EXPECT_EQ(scheduled_steps(c, 60), 20);
  EXPECT_EQ(scheduled_steps(c, 25), 13);  // ceil(20 * 25 / 40) = ceil(12.5)
  EXPECT_EQ(scheduled_steps(c, 10), 5);
  EXPECT_EQ(scheduled_steps(c, 1), 1);
  const double w0 = 5, tau = 0.01;
  // Outside the last kappa steps, or before the metric has a value: w0.
  EXPECT_EQ(dyncfg_omega(c, 19, 40, w0, tau, 0.5), w0);
  EXPECT_EQ(dyncfg_omega(c, 20, 40, w0, tau, NAN), w0);
  // Literal: w0 * clamp(sigma2 / tau, 0, b).
  EXPECT_DOUBLE_EQ(dyncfg_omega(c, 20, 40, w0, tau, 0.005), 2.5);
  EXPECT_DOUBLE_EQ(dyncfg_omega(c, 39, 40, w0, tau, 0.015), 7.5);
  EXPECT_DOUBLE_EQ(dyncfg_omega(c, 39, 40, w0, tau, 0.5), 10.0);  // clamped at b = 2
  // Raise-only: never below w0.
  c.reading = OmegaReading::RaiseOnly;
  EXPECT_DOUBLE_EQ(dyncfg_omega(c, 20, 40, w0, tau, 0.005), 5.0);
  EXPECT_DOUBLE_EQ(dyncfg_omega(c, 20, 40, w0, tau, 0.015), 7.5);
  // Without the omega part the weight is w0 everywhere.
  c.omega = false;
  EXPECT_EQ(dyncfg_omega(c, 39, 40, w0, tau, 0.5), w0);
  EXPECT_EQ(parse_omega_reading("raise"), OmegaReading::RaiseOnly);
  EXPECT_THROW(parse_omega_reading("up"), Error);
  c.sstar = false;
  EXPECT_THROW(c.validate(), Error);  // neither part: plain CFG under another name
  c.sstar = true;
  c.b = 0.5;
  EXPECT_THROW(c.validate(), Error);
}

TEST(DynamicCfg, CfgZeroStarCombine) {
  c10::InferenceMode guard;
  // s* = <c, u> / |u|^2: u = (1, 0), c = (2, 1) -> 2; v = (1 - w) * 2 * u + w * c.
  const at::Tensor u = at::tensor({1.0f, 0.0f}), c = at::tensor({2.0f, 1.0f});
  double s = 0;
  const at::Tensor v = cfg_zero_star_combine(u, c, 3.0, true, &s);
  EXPECT_NEAR(s, 2.0, 1e-6);
  EXPECT_NEAR(v[0].item<float>(), (1 - 3.0) * 2 * 1 + 3 * 2, 1e-5);
  EXPECT_NEAR(v[1].item<float>(), 3.0, 1e-5);
  // Without s* it is plain CFG with weight w.
  const at::Tensor a = at::randn({2, 3, 4}), b = at::randn({2, 3, 4});
  EXPECT_TRUE(at::allclose(cfg_zero_star_combine(a, b, 2.5, false, &s), cfg_combine(a, b, 2.5), 1e-5, 1e-6));
  EXPECT_EQ(s, 1.0);
  EXPECT_THROW(cfg_zero_star_combine(a, at::zeros({3}), 1.0, true), Error);
}

TEST(DynamicCfg, GuidanceTokensComposeAndRoundTrip) {
  GuidanceConfig g;
  g.set_mode("fg+dyncfg");
  EXPECT_TRUE(g.fsg && g.ac && g.dyncfg.enabled && g.dyncfg.sstar && g.dyncfg.omega);
  EXPECT_EQ(g.mode(), "fg+dyncfg");
  g.set_mode("dyncfg-sstar");
  EXPECT_TRUE(!g.fsg && !g.ac && g.dyncfg.enabled && g.dyncfg.sstar && !g.dyncfg.omega);
  EXPECT_EQ(g.mode(), "dyncfg-sstar");
  g.set_mode("ac+dyncfg-omega");
  EXPECT_EQ(g.mode(), "ac+dyncfg-omega");
  g.set_mode("off");
  EXPECT_EQ(g.mode(), "off");
  EXPECT_FALSE(g.dyncfg.enabled);
  EXPECT_THROW(g.set_mode("fg+kvlock-ish"), Error);
  EXPECT_THROW(g.set_mode("off+fg"), Error);
  g.set_mode("dyncfg");
  g.dyncfg.reading = OmegaReading::RaiseOnly;
  g.dyncfg.b = 3;
  const GuidanceConfig back = GuidanceConfig::from_json(g.to_json());
  EXPECT_TRUE(back.dyncfg.enabled);
  EXPECT_EQ(back.dyncfg.reading, OmegaReading::RaiseOnly);
  EXPECT_EQ(back.dyncfg.b, 3);
  EXPECT_THROW(GuidanceConfig::from_json(nlohmann::json{{"dyncfg", {{"bogus", 1}}}}), Error);
}

TEST(DynamicCfg, RunsInTheSamplerAndRefusesWithoutCfg) {
  c10::InferenceMode guard;
  auto bundle = focalscope::testing::runnable_layout_bundle();
  GenerateRequest req;
  at::manual_seed(0);
  req.image = at::rand({3, 64, 64}) * 2 - 1;
  req.prompt = "A cat walks on the grass.";
  req.steps = 6;
  req.frames = 5;
  req.max_area = 64 * 64;
  req.guide_scale = 5.0;
  const GenerateResult plain = generate(*bundle, req);
  req.dyncfg.enabled = true;
  req.dyncfg.tau = 1e-3;
  const GenerateResult dyn = generate(*bundle, req);
  ASSERT_EQ(dyn.dyncfg.size(), 6u);
  EXPECT_EQ(dyn.dyncfg_kappa, 3);  // ceil(20 * 6 / 40)
  EXPECT_EQ(dyn.dyncfg_omega0, 5.0);
  for (const auto& st : dyn.dyncfg) {
    EXPECT_EQ(st.scheduled, st.step >= 3);
    if (!st.scheduled) EXPECT_EQ(st.omega, 5.0);
    else EXPECT_DOUBLE_EQ(st.omega, 5.0 * std::clamp(st.sigma2 / 1e-3, 0.0, 2.0));
    EXPECT_TRUE(std::isfinite(st.sstar));
  }
  EXPECT_FALSE(at::equal(dyn.video, plain.video));
  // CFG 1 has no unconditional pass; the omega schedule needs the metric.
  req.guide_scale = 1.0;
  EXPECT_THROW(generate(*bundle, req), Error);
  req.guide_scale = 5.0;
  req.hallucination_window = 0;
  EXPECT_THROW(generate(*bundle, req), Error);
}

// ---- the background lock (engine/pipeline/kv_lock.h) and editing (engine/guidance/guided_edit.h) ----

TEST(KvLock, MaskMapsToLatentsAndTokensByStrideAndPatch) {
  c10::InferenceMode guard;
  // 9 pixel frames (stride 4: latent frames {0}, {1-4}, {5-8}), 16x16 pixels (stride 8: 2x2 latents).
  at::Tensor pm = at::zeros({9, 16, 16});
  pm[6][3][12] = 1;  // pixel frame 6 -> latent frame 2; row 3 -> 0; column 12 -> 1
  at::Tensor lm = latent_mask_from_pixels(pm, 4, 8);
  ASSERT_EQ(lm.sizes(), (at::IntArrayRef{3, 2, 2}));
  EXPECT_EQ(lm.sum().item<double>(), 1.0);
  EXPECT_EQ(lm[2][0][1].item<double>(), 1.0);
  pm.zero_();
  pm[0][15][0] = 1;  // frame 0 is its own latent frame
  lm = latent_mask_from_pixels(pm, 4, 8);
  EXPECT_EQ(lm[0][1][0].item<double>(), 1.0);
  EXPECT_EQ(lm.sum().item<double>(), 1.0);
  // Patch (1, 2, 2): any token touching an edited latent is foreground.
  at::Tensor tm = token_mask_from_latent(at::zeros({2, 4, 4}).index_put_({0, 3, 1}, 1), {1, 2, 2});
  ASSERT_EQ(tm.sizes(), (at::IntArrayRef{2, 2, 2}));
  EXPECT_EQ(tm[0][1][0].item<double>(), 1.0);
  EXPECT_EQ(tm.sum().item<double>(), 1.0);
  EXPECT_THROW(latent_mask_from_pixels(at::zeros({8, 16, 16}), 4, 8), Error);  // not 1 + 4k frames
}

TEST(KvLock, AlphaScheduleAndFusionOnBackgroundTokensOnly) {
  KvLockConfig c;
  c.variant = "kvlock";
  c.lock = true;
  EXPECT_EQ(locked_steps(c, 40), 20);
  EXPECT_EQ(locked_steps(c, 25), 13);  // ceil(20 * 25 / 40)
  EXPECT_EQ(kvlock_alpha(c, 11, 25, 0.01, 0.005), 0.0);   // before the locked steps
  EXPECT_DOUBLE_EQ(kvlock_alpha(c, 12, 25, 0.01, 0.005), 0.5);
  EXPECT_EQ(kvlock_alpha(c, 20, 25, 0.01, 0.05), 1.0);     // clamped
  EXPECT_EQ(kvlock_alpha(c, 20, 25, 0.01, NAN), 0.0);      // no metric yet: no lock
  c.alpha_fixed = 0.5;
  EXPECT_EQ(kvlock_alpha(c, 20, 25, 0.01, 0.0), 0.5);
  c.lock = false;
  EXPECT_EQ(kvlock_alpha(c, 20, 25, 0.01, 0.05), 0.0);

  c10::InferenceMode guard;
  at::Tensor background = at::tensor({1.f, 0.f, 1.f});  // token 1 is edited
  KvLockCache cache(1, background, c10::Device(c10::kCPU));
  ForwardInfo info;
  at::Tensor ks = at::randn({1, 2, 3, 4}), vs = at::randn({1, 2, 3, 4});
  SelfKvProbe rec{info, 0, ks, vs};
  cache.record_next();
  cache.on_self_attn_kv(rec);
  EXPECT_EQ(cache.bytes(), 2 * 24 * 4);
  at::Tensor k = at::randn({2, 2, 3, 4}), v = at::randn({2, 2, 3, 4});  // a CFG batch of 2
  SelfKvProbe p{info, 0, k, v};
  cache.fuse_next(0.25);
  cache.on_self_attn_kv(p);
  for (int64_t t : {0, 2}) {
    EXPECT_TRUE(at::allclose(p.k.select(2, t), k.select(2, t) * 0.75 + ks.select(2, t) * 0.25, 1e-6, 1e-6));
    EXPECT_TRUE(at::allclose(p.v.select(2, t), v.select(2, t) * 0.75 + vs.select(2, t) * 0.25, 1e-6, 1e-6));
  }
  EXPECT_TRUE(at::equal(p.k.select(2, 1), k.select(2, 1)));  // the edited token keeps its own
  EXPECT_TRUE(at::equal(p.v.select(2, 1), v.select(2, 1)));
}

TEST(KvLock, TokensComposeRoundTripAndRefuseConflicts) {
  for (const std::string& v : kvlock_variants()) {
    GuidanceConfig g;
    g.set_mode("fg+" + v);
    EXPECT_EQ(g.mode(), "fg+" + v);
    EXPECT_TRUE(g.fsg && g.ac && g.kvlock.editing());
    const GuidanceConfig back = GuidanceConfig::from_json(g.to_json());
    EXPECT_EQ(back.mode(), g.mode()) << v;
    EXPECT_EQ(back.kvlock.lock, g.kvlock.lock) << v;
    EXPECT_EQ(back.kvlock.alpha_fixed, g.kvlock.alpha_fixed) << v;
    EXPECT_EQ(back.dyncfg.enabled, g.dyncfg.enabled) << v;
    EXPECT_EQ(back.dyncfg.sstar, g.dyncfg.sstar) << v;
    EXPECT_EQ(back.dyncfg.omega, g.dyncfg.omega) << v;
  }
  GuidanceConfig g;
  g.set_mode("kvlock-kv");
  EXPECT_TRUE(g.kvlock.lock && !g.dyncfg.enabled);
  g.set_mode("kvlock-sstar-omega");
  EXPECT_TRUE(!g.kvlock.lock && g.dyncfg.sstar && g.dyncfg.omega && g.kvlock.local);
  g.set_mode("kvlock-global");
  EXPECT_TRUE(g.kvlock.lock && !g.kvlock.local);
  g.set_mode("kvlock-fixed");
  EXPECT_EQ(g.kvlock.alpha_fixed, 0.5);
  EXPECT_THROW(g.set_mode("kvlock+dyncfg"), Error);
  EXPECT_THROW(g.set_mode("kvlock+kvlock-kv"), Error);
}

namespace {
// A 9-frame source (a square drifting right on noise), a static mask over its left third.
EditRequest layout_edit_request() {
  EditRequest r;
  at::manual_seed(3);
  r.source_video = (at::rand({3, 9, 64, 64}) * 2 - 1) * 0.3;
  for (int f = 0; f < 9; ++f) r.source_video.select(1, f).narrow(1, 20, 16).narrow(2, 3 * f + 24, 16).fill_(0.8);
  r.mask = at::zeros({1, 64, 64});
  r.mask.narrow(2, 0, 24).fill_(1);
  r.gen.prompt = "A cat walks on the grass.";
  r.gen.steps = 6;
  r.gen.frames = 9;
  r.gen.max_area = 64 * 64;
  r.gen.guide_scale = 5.0;
  return r;
}
double background_mse(const EditResult& e) {
  const at::Tensor bg = (1 - e.mask).unsqueeze(0);
  return ((e.guided.run.video - e.source).pow(2) * bg).sum().item<double>() / bg.sum().item<double>() / 3;
}
}  // namespace

TEST(KvLock, OffIsThePlainRunBitForBitAndAFullLockKeepsTheBackground) {
  c10::InferenceMode guard;
  auto bundle = focalscope::testing::runnable_layout_bundle();
  const EditRequest req = layout_edit_request();
  GuidanceConfig off;
  const EditResult plain = run_edit(*bundle, prepare_edit(*bundle, req, off));
  // The plain edit is ordinary I2V from the source's first frame: generate() bit for bit.
  GenerateRequest g = req.gen;
  g.image = req.source_video.select(1, 0);
  EXPECT_TRUE(at::equal(plain.guided.run.video, generate(*bundle, g).video));
  // A lock whose ratio is 0 runs no source pass and attaches nothing: the plain edit, bit for bit, and says so.
  GuidanceConfig zero;
  zero.set_mode("kvlock-kv");
  zero.kvlock.alpha_fixed = 0;
  const EditResult z = run_edit(*bundle, prepare_edit(*bundle, req, zero));
  EXPECT_TRUE(at::equal(z.guided.run.video, plain.guided.run.video));
  ASSERT_FALSE(z.noops.empty());
  EXPECT_NE(z.noops.back().find("did nothing"), std::string::npos);
  // The full lock (alpha 1 in every step) on background tokens: the background moves toward the source's.
  GuidanceConfig full;
  full.set_mode("kvlock-kv");
  full.kvlock.alpha_fixed = 1;
  full.kvlock.kappa = 40;
  const EditJob job = prepare_edit(*bundle, req, full);
  EXPECT_EQ(job.cost.source_forwards, 6);
  EXPECT_GT(job.cost.cache_bytes, 0);
  const EditResult locked = run_edit(*bundle, job);
  int passes = 0;
  for (const auto& s : locked.guided.run.kvlock) passes += s.source_pass;
  EXPECT_EQ(passes, 6);
  EXPECT_EQ(locked.guided.run.kvlock_cache_bytes, job.cost.cache_bytes);
  EXPECT_LT(background_mse(locked), background_mse(plain));
  // The CPU cache gives the same video on a CPU model.
  full.kvlock.cache_on_cpu = true;
  EXPECT_TRUE(at::equal(run_edit(*bundle, prepare_edit(*bundle, req, full)).guided.run.video, locked.guided.run.video));
}

TEST(KvLock, EditRefusesBadInputsNamingTheFile) {
  c10::InferenceMode guard;
  auto bundle = focalscope::testing::runnable_layout_bundle();
  GuidanceConfig kv;
  kv.set_mode("kvlock");
  auto expect_error = [&](EditRequest r, const std::string& needle) {
    r.source_name = "src.mp4";
    r.mask_name = "mask.png";
    try {
      prepare_edit(*bundle, r, kv);
      ADD_FAILURE() << "expected an error containing '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  EditRequest r = layout_edit_request();
  r.mask = at::zeros({1, 64, 64});
  expect_error(r, "mask.png: is empty");
  r.mask = at::ones({1, 64, 64});
  expect_error(r, "mask.png: covers every pixel");
  r.mask = at::ones({1, 32, 64});
  expect_error(r, "mask.png: is 64x32 but the video (src.mp4) is 64x64");
  r = layout_edit_request();
  r.source_video = r.source_video.narrow(1, 0, 5);
  expect_error(r, "src.mp4: has 5 frames; the model makes 9");
  r = layout_edit_request();
  r.mask = at::zeros({3, 64, 64}).index_put_({0, 0, 0}, 1);
  expect_error(r, "mask.png: has 3 frames");
  // A kvlock mode without an edit's inputs (plain generate) is refused.
  GenerateRequest g = layout_edit_request().gen;
  g.image = at::zeros({3, 64, 64});
  GuidanceConfig k2;
  k2.set_mode("kvlock");
  EXPECT_THROW(generate_guided(*bundle, g, k2), Error);
}

TEST(KvLock, FusedAndReferenceForwardsHandOutAndTakeTheSameKeysAndValues) {
  c10::InferenceMode guard;
  auto bundle = focalscope::testing::runnable_layout_bundle();
  const WanModel& dit = bundle->dit;
  at::manual_seed(5);
  DitInputs in;
  in.x = at::randn({2, dit.cfg.out_dim, 2, 4, 4});
  in.t = at::full({2}, 700.0);
  in.y = at::randn({2, dit.cfg.in_dim - dit.cfg.out_dim, 2, 4, 4});
  in.clip_fea = at::randn({2, 257, dit.cfg.clip_dim});
  in.context = at::randn({2, 8, dit.cfg.text_dim});
  DitInputs src = in;
  src.x = in.x.narrow(0, 0, 1), src.t = in.t.narrow(0, 0, 1), src.y = in.y.narrow(0, 0, 1);
  src.clip_fea = in.clip_fea.narrow(0, 0, 1), src.context = in.context.narrow(0, 0, 1) * 0.5;
  const int64_t L = 2 * (4 / dit.cfg.patch_size[1]) * (4 / dit.cfg.patch_size[2]);
  at::Tensor background = at::ones({L});
  background[0] = 0;
  at::Tensor out[2];
  for (bool reference : {false, true}) {
    KvLockCache cache(dit.cfg.num_layers, background, c10::Device(c10::kCPU));
    ForwardOptions o;
    o.reference_path = reference;
    o.listener = &cache;
    cache.record_next();
    dit.forward(src, o);
    cache.fuse_next(0.7);
    out[reference] = dit.forward(in, o);
  }
  EXPECT_TRUE(at::allclose(out[0], out[1], 1e-4, 1e-4)) << (out[0] - out[1]).abs().max().item<double>();
  ForwardOptions plain;
  EXPECT_FALSE(at::allclose(out[0], dit.forward(in, plain), 1e-4, 1e-4)) << "the fusion must change the forward";
}

TEST(KvLock, EveryVariantComposesWithFocalGuidance) {
  c10::InferenceMode guard;
  auto bundle = focalscope::testing::runnable_layout_bundle();
  EditRequest req = layout_edit_request();
  req.gen.steps = 4;
  req.gen.frames = 5;
  for (const std::string& v : kvlock_variants()) {
    GuidanceConfig g;
    g.set_mode("fg+" + v);
    g.weak_layers = {1};
    g.keywords = {"cat"};
    const EditResult r = run_edit(*bundle, prepare_edit(*bundle, req, g));
    EXPECT_TRUE(at::isfinite(r.guided.run.video).all().item<bool>()) << v;
    EXPECT_EQ(r.guided.run.kvlock.size(), 4u) << v;
    EXPECT_EQ(r.guided.config.mode(), "fg+" + v);
  }
}
