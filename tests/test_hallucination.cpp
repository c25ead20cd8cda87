// KV-Lock's hallucination metric (engine/pipeline/hallucination.h): the sliding-window variance of x̂0 on hand-worked
// trajectories (global, inside a mask, per-position maps, the first steps), its refusals, its exports, and through
// generate(): one value per step, computed on every run, and never changing the video.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/core/error.h"
#include "engine/pipeline/hallucination.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/pipeline/model_bundle.h"
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
  LoadOptions lo;
  lo.check = false;
  auto bundle = load_model_bundle(focalscope::testing::shared_fixture("wan_checkpoint_layout"), lo);
  ClipVisionConfig c = bundle->clip.cfg;  // the folder's CLIP is narrower than its DiT's img_emb (as the layout test)
  c.dim = 1280;
  c.num_heads = 16;
  c.num_layers = 2;
  c.mlp_ratio = 1.0;
  bundle->clip = ClipVision::random_init(c, 3);
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
