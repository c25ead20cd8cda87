// The statistics behind the verdicts FocalScope reports: bootstrap intervals, Spearman's rho, the random-direction
// weak-layer rule with its margins and bootstrap P(weak), and the causal-ablation summary — on hand-worked inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "analysis/causal_ablation.h"
#include "analysis/resampling.h"
#include "analysis/weak_layers.h"
#include "engine/core/error.h"
#include "engine/shapes/shapes_rng.h"
#include "tests/test_util.h"

namespace fa = focalscope::analysis;
using focalscope::Error;

TEST(Resampling, BootstrapIntervalsAreDeterministicAndBracketTheEstimate) {
  std::vector<double> v;
  focalscope::shapes::SplitMix64 rng(3);
  for (int i = 0; i < 40; ++i) v.push_back(rng.uniform(0, 1));
  const auto a = fa::bootstrap_median(v, 500, 0.95, 11), b = fa::bootstrap_median(v, 500, 0.95, 11);
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_EQ(a.hi, b.hi);
  EXPECT_LE(a.lo, a.estimate);
  EXPECT_GE(a.hi, a.estimate);
  EXPECT_DOUBLE_EQ(a.estimate, fa::quantile(v, 0.5));
  // A constant sample has a zero-width interval; a wider level is never narrower.
  const auto c = fa::bootstrap_mean(std::vector<double>(10, 2.5));
  EXPECT_DOUBLE_EQ(c.lo, 2.5);
  EXPECT_DOUBLE_EQ(c.hi, 2.5);
  const auto w = fa::bootstrap_mean(v, 500, 0.99, 11), n = fa::bootstrap_mean(v, 500, 0.5, 11);
  EXPECT_LE(w.lo, n.lo);
  EXPECT_GE(w.hi, n.hi);
  EXPECT_THROW(fa::bootstrap_mean({}), Error);
  EXPECT_THROW(fa::bootstrap_mean(v, 10, 1.5), Error);
}

TEST(Resampling, SpearmanOnHandWorkedRanks) {
  EXPECT_DOUBLE_EQ(fa::spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(fa::spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // Monotone but not linear: still 1.
  EXPECT_DOUBLE_EQ(fa::spearman({1, 2, 3, 4, 5}, {1, 4, 9, 16, 1000}), 1.0);
  // Ties get average ranks: a = ranks (1, 2.5, 2.5, 4), b = (1, 2, 3, 4): rho = 4.5 / sqrt(4.5 * 5).
  EXPECT_NEAR(fa::spearman({1, 2, 2, 3}, {1, 2, 3, 4}), 4.5 / std::sqrt(4.5 * 5.0), 1e-12);
  EXPECT_EQ(fa::ranks({3, 1, 2}), (std::vector<double>{3, 1, 2}));
  EXPECT_TRUE(std::isnan(fa::spearman({1, 1, 1}, {1, 2, 3})));
  EXPECT_THROW(fa::spearman({1, 2}, {1, 2, 3}), Error);
}

namespace {
// layers x samples: keyword curves = null + excess[l] + noise; the null has its own per-layer level.
struct Synthetic {
  std::vector<std::vector<double>> moran, random;
};
Synthetic synthetic(const std::vector<double>& excess, int samples, double noise, uint64_t seed) {
  Synthetic s;
  focalscope::shapes::SplitMix64 rng(seed);
  for (size_t l = 0; l < excess.size(); ++l) {
    std::vector<double> m, r;
    const double level = 0.15 + 0.02 * double(l % 4);  // z's own structure differs per layer
    for (int i = 0; i < samples; ++i) {
      const double null = level + rng.uniform(-0.05, 0.05);  // per-sample structure shared by both curves
      r.push_back(null);
      m.push_back(null + excess[l] + rng.uniform(-noise, noise));
    }
    s.moran.push_back(m);
    s.random.push_back(r);
  }
  return s;
}
}  // namespace

TEST(WeakLayers, RandomReferenceFindsLayersBelowTheirNullWhateverTheirLevel) {
  // Layers 2 and 5 are below their null; layer 4's raw level is the lowest but it beats its null.
  const std::vector<double> excess = {0.03, 0.02, -0.06, 0.04, 0.01, -0.05, 0.05, 0.02};
  Synthetic s = synthetic(excess, 30, 0.01, 4);
  for (auto& v : s.moran[4]) v -= 0.1;
  for (auto& v : s.random[4]) v -= 0.1;
  fa::WeakLayerOptions o = fa::validated_weak_rule();
  o.reference = fa::WeakReference::RandomDirections;
  o.margin = 0.02;
  const auto r = fa::WeakLayerDetector(o).detect(s.moran, {}, s.random);
  EXPECT_EQ(r.weak, (std::vector<int>{2, 5}));
  EXPECT_DOUBLE_EQ(r.threshold, -0.02);
  for (size_t l = 0; l < excess.size(); ++l) {
    EXPECT_NEAR(r.statistic[l], excess[l], 0.011) << "layer " << l;
    EXPECT_DOUBLE_EQ(r.margin[l], r.threshold - r.statistic[l]);
    EXPECT_EQ(r.margin[l] > 0, std::count(r.weak.begin(), r.weak.end(), int(l)) == 1) << "layer " << l;
  }
  // The median reference cannot see them: their raw Moran's I is ordinary.
  EXPECT_TRUE(fa::WeakLayerDetector(fa::WeakLayerOptions{}).detect(s.moran).weak.empty() ||
              fa::WeakLayerDetector(fa::WeakLayerOptions{}).detect(s.moran).weak == std::vector<int>{4});
  // Without the null the random reference refuses rather than guessing.
  EXPECT_THROW(fa::WeakLayerDetector(o).detect(s.moran), Error);
}

TEST(WeakLayers, BootstrapGivesIntervalsAndVerdictProbabilities) {
  const std::vector<double> excess = {0.05, -0.08, -0.02, 0.04};
  const Synthetic s = synthetic(excess, 30, 0.02, 9);
  fa::WeakLayerOptions o = fa::validated_weak_rule();
  o.reference = fa::WeakReference::RandomDirections;
  o.margin = 0.02;
  const fa::WeakLayerDetector det(o);
  const auto u = fa::bootstrap_weak_layers(det, s.moran, {}, s.random, 400, 3);
  ASSERT_EQ(u.size(), 4u);
  EXPECT_GT(u[1].p_weak, 0.99);   // far below the threshold
  EXPECT_LT(u[0].p_weak, 0.01);   // far above
  EXPECT_GT(u[2].p_weak, 0.1);    // on the threshold: uncertain either way
  EXPECT_LT(u[2].p_weak, 0.9);
  for (const auto& x : u) {
    EXPECT_LE(x.statistic_lo, x.statistic);
    EXPECT_GE(x.statistic_hi, x.statistic);
    EXPECT_LE(x.moran_lo, x.moran_median);
    EXPECT_GE(x.moran_hi, x.moran_median);
  }
  EXPECT_THROW(fa::parse_weak_reference("mean"), Error);
}

TEST(WeakLayers, TextResponseRuleComparesEachLayerWithItsDepthTrend) {
  // 10 layers x 4 samples. The response falls with depth by e^-0.3 per layer (the trend, which no layer should be
  // blamed for); layer 3 sits at a tenth of its trend and layer 6 at half. Each sample has its own scale (divided out
  // by the sample's median layer). Theil-Sen ignores the two layers off the line, so the statistic is exactly the
  // factor below the trend.
  const int L = 10;
  std::vector<double> dip(L, 1.0);
  dip[3] = 0.1;
  dip[6] = 0.5;
  const std::vector<double> scale = {1.0, 2.0, 0.5, 3.0};
  std::vector<std::vector<double>> resp(L), moran(L, std::vector<double>(scale.size(), 0.2));
  for (int l = 0; l < L; ++l)
    for (double k : scale) resp[l].push_back(k * std::exp(-0.3 * l) * dip[l]);
  fa::WeakLayerOptions o;
  o.reference = fa::WeakReference::TextResponse;
  o.response_ratio = 0.4;
  const auto r = fa::WeakLayerDetector(o).detect(moran, {}, resp);
  EXPECT_EQ(r.weak, (std::vector<int>{3}));
  EXPECT_DOUBLE_EQ(r.threshold, 0.4);
  for (int l = 0; l < L; ++l) EXPECT_NEAR(r.statistic[l], dip[l], 1e-9) << "layer " << l;
  EXPECT_NEAR(r.margin[3], 0.3, 1e-9);
  // The flat all-layer median would blame the deepest layers for the trend: layer 9 is at e^-2.7 / e^-1.35 of it.
  o.response_ratio = 0.6;
  EXPECT_EQ(fa::WeakLayerDetector(o).detect(moran, {}, resp).weak, (std::vector<int>{3, 6}));
  // A sample where no layer answers (an empty prompt) is neutral (ratio 1), not a division by zero.
  for (auto& row : resp) row.push_back(0.0);
  for (auto& row : moran) row.push_back(0.2);
  EXPECT_EQ(fa::WeakLayerDetector(o).detect(moran, {}, resp).weak, (std::vector<int>{3, 6}));
  EXPECT_EQ(fa::parse_weak_reference("response"), fa::WeakReference::TextResponse);
  EXPECT_STREQ(fa::weak_reference_name(fa::WeakReference::TextResponse), "response");
  // Without the response curves the rule refuses; a ratio outside [0, 1] is refused.
  EXPECT_THROW(fa::WeakLayerDetector(o).detect(moran), Error);
  o.response_ratio = 1.5;
  EXPECT_THROW(fa::WeakLayerDetector{o}, Error);
}

TEST(CausalAblation, SummaryOnHandWorkedRows) {
  using R = fa::AblationRow;
  std::vector<R> rows;
  // Two units; layer 0 carries the text (latent moves half the way, passes drop), layer 1 does not.
  for (int u = 0; u < 2; ++u) {
    const std::string id = "case" + std::to_string(u);
    rows.push_back({id, "motion", 0, fa::kAblateBaseline, true, 1.0, 0.0, NAN});
    rows.push_back({id, "motion", 0, fa::kAblateAllLayers, false, 0.5, 1.0, NAN});
    rows.push_back({id, "motion", 0, 0, u == 0 ? false : true, u == 0 ? 0.75 : 1.0, 0.5, 0.30});
    rows.push_back({id, "motion", 0, 1, true, 1.0, 0.02, 0.10});
  }
  const auto s = fa::summarize_ablation(rows, 200, 1);
  EXPECT_EQ(s.units, 2);
  EXPECT_DOUBLE_EQ(s.base_pass_rate, 1.0);
  EXPECT_DOUBLE_EQ(s.empty_pass_rate, 0.0);
  ASSERT_EQ(s.layers.size(), 2u);
  EXPECT_DOUBLE_EQ(s.layers[0].latent_effect.estimate, 0.5);
  EXPECT_DOUBLE_EQ(s.layers[0].pass_drop.estimate, 0.5);
  EXPECT_DOUBLE_EQ(s.layers[0].agreement_drop.estimate, 0.125);
  EXPECT_DOUBLE_EQ(s.layers[1].latent_effect.estimate, 0.02);
  EXPECT_DOUBLE_EQ(s.layers[1].pass_drop.estimate, 0.0);
  EXPECT_DOUBLE_EQ(s.layers[0].moran_i.estimate, 0.30);
  EXPECT_DOUBLE_EQ(s.spearman_latent, 1.0);  // the higher Moran's I, the larger the effect
  const auto j = fa::ablation_json(s);
  EXPECT_EQ(j["layers"][0]["latent_effect"]["mean"], 0.5);
  // A unit without its un-ablated run is an error naming it.
  rows.erase(rows.begin());
  try {
    fa::summarize_ablation(rows);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("case0"), std::string::npos) << e.what();
  }
}

TEST(CausalAblation, RunsFileRoundTripAndErrorsNameTheLine) {
  const std::string dir = focalscope::testing::temp_dir("ablate_csv");
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/ablate_runs.csv";
  fa::AblationRow r{"motion_0001", "motion", 2, 5, true, 0.875, 0.125, 0.3125};
  {
    std::ofstream out(path);
    out << fa::ablation_csv_header() << "\n" << fa::ablation_csv_line(r) << "\n";
  }
  const auto back = fa::read_ablation_runs(path);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].case_id, "motion_0001");
  EXPECT_EQ(back[0].seed, 2);
  EXPECT_EQ(back[0].layer, 5);
  EXPECT_TRUE(back[0].pass);
  EXPECT_DOUBLE_EQ(back[0].agreement, 0.875);
  EXPECT_DOUBLE_EQ(back[0].moran_i, 0.3125);
  {
    std::ofstream out(path);
    out << fa::ablation_csv_header() << "\nmotion_0001,motion,2,5,1,0.8x,0.1,0.3\n";
  }
  try {
    fa::read_ablation_runs(path);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  {
    std::ofstream out(path);
    out << "case,seed\n";
  }
  EXPECT_THROW(fa::read_ablation_runs(path), Error);
  EXPECT_THROW(fa::read_ablation_runs(dir + "/missing.csv"), Error);
  std::filesystem::remove_all(dir);
}
