// Map statistics (Moran's I, min-max std), their frame/step averaging, the case-file reader, and
// semantic-weak layer detection.
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "analysis/map_stats.h"
#include "analysis/stats_cases.h"
#include "analysis/weak_layers.h"
#include "engine/core/error.h"
#include "tests/test_util.h"

namespace fa = focalscope::analysis;
using focalscope::Error;

namespace {

// Dense-weight-matrix Moran's I straight from the textbook formula: an independent check of the
// O(N) neighbourhood implementation on small maps.
double dense_moran(const std::vector<double>& x, int h, int w, bool row_standardised) {
  const int n = h * w;
  if (n < 2) return 0;
  double mean = 0;
  for (double v : x) mean += v;
  mean /= n;
  std::vector<std::vector<double>> W(n, std::vector<double>(n, 0.0));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      int ri = i / w, ci = i % w, rj = j / w, cj = j % w;
      if (i != j && std::abs(ri - rj) <= 1 && std::abs(ci - cj) <= 1) W[i][j] = 1;
    }
  if (row_standardised)
    for (auto& row : W) {
      double s = 0;
      for (double v : row) s += v;
      if (s > 0)
        for (double& v : row) v /= s;
    }
  double s0 = 0, num = 0, den = 0;
  for (int i = 0; i < n; ++i) {
    den += (x[i] - mean) * (x[i] - mean);
    for (int j = 0; j < n; ++j) {
      s0 += W[i][j];
      num += W[i][j] * (x[i] - mean) * (x[j] - mean);
    }
  }
  if (s0 == 0 || den == 0) return 0;
  return n / s0 * num / den;
}

std::vector<double> random_map(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d;
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

std::string write_temp(const std::string& name, const std::string& text) {
  std::string p = focalscope::testing::temp_dir("stats") + "/" + name;
  std::ofstream(p) << text;
  return p;
}

}  // namespace

// ---------------------------------------------------------------- map statistics

TEST(MapStats, MatchesSharedFixtureForEveryCase) {
  const std::string path = focalscope::testing::shared_fixture("morans_i") + "/cases.json";
  const auto cases = fa::read_stats_cases(path);
  ASSERT_GE(cases.size(), 10u) << path;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(c.expected.has_value());
    const fa::MapStats s = fa::compute_case(c);
    EXPECT_NEAR(s.morans_i, c.expected->morans_i, 1e-6);
    EXPECT_NEAR(s.morans_i_row_standardised, c.expected->morans_i_row_standardised, 1e-6);
    EXPECT_NEAR(s.std_minmax, c.expected->std_minmax, 1e-6);
    // The single-statistic entry points agree with map_stats.
    EXPECT_EQ(fa::morans_i(c.values.data(), c.shape[0], c.shape[1]), s.morans_i);
    EXPECT_EQ(fa::morans_i(c.values.data(), c.shape[0], c.shape[1], fa::MoranWeights::RowStandardised),
              s.morans_i_row_standardised);
    EXPECT_EQ(fa::std_minmax(c.values.data(), c.shape[0], c.shape[1]), s.std_minmax);
  }
}

TEST(MapStats, LinearPassMatchesDenseWeightMatrix) {
  const int shapes[][2] = {{1, 2}, {2, 1}, {1, 7}, {6, 1}, {2, 2}, {3, 5}, {5, 3}, {7, 7}, {4, 9}};
  unsigned seed = 1;
  for (auto [h, w] : shapes) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    auto x = random_map(h * w, seed++);
    EXPECT_NEAR(fa::morans_i(x.data(), h, w), dense_moran(x, h, w, false), 1e-12);
    EXPECT_NEAR(fa::morans_i(x.data(), h, w, fa::MoranWeights::RowStandardised), dense_moran(x, h, w, true), 1e-12);
  }
}

TEST(MapStats, KnownValues) {
  // Two cells: z = (-a, a), S0 = 2 -> I = (2/2) * (2 * -a^2) / (2 a^2) = -1.
  const double two[] = {0.0, 3.0};
  EXPECT_DOUBLE_EQ(fa::morans_i(two, 1, 2), -1.0);
  EXPECT_DOUBLE_EQ(fa::std_minmax(two, 1, 2), 0.5);
  // A smooth ramp is strongly positively autocorrelated; a checkerboard under queen weights is not
  // perfectly negative (diagonal neighbours share the colour).
  std::vector<double> ramp(100), checker(64);
  for (int i = 0; i < 100; ++i) ramp[i] = i % 10;
  for (int i = 0; i < 64; ++i) checker[i] = ((i / 8) + (i % 8)) % 2;
  EXPECT_GT(fa::morans_i(ramp.data(), 10, 10), 0.5);
  EXPECT_NEAR(fa::morans_i(checker.data(), 8, 8), -1.0 / 15.0, 1e-12);
}

TEST(MapStats, DegenerateMapsGiveZeroNotNaN) {
  const double constant[12] = {2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5};
  const double one = 7.0;
  EXPECT_EQ(fa::morans_i(constant, 3, 4), 0.0);
  EXPECT_EQ(fa::morans_i(constant, 3, 4, fa::MoranWeights::RowStandardised), 0.0);
  EXPECT_EQ(fa::std_minmax(constant, 3, 4), 0.0);
  EXPECT_EQ(fa::morans_i(&one, 1, 1), 0.0);
  EXPECT_EQ(fa::std_minmax(&one, 1, 1), 0.0);
  EXPECT_EQ(fa::morans_i(static_cast<const double*>(nullptr), 0, 5), 0.0);
  EXPECT_EQ(fa::std_minmax(static_cast<const double*>(nullptr), 0, 0), 0.0);
  // A constant map with a huge offset: the mean is not exactly representable, z must still be 0.
  std::vector<float> big(16, 1.0e7f + 1.0f);
  EXPECT_EQ(fa::morans_i(big.data(), 4, 4), 0.0);
}

TEST(MapStats, InvariantToOffsetAndScale) {
  auto x = random_map(9 * 11, 42);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = 1.0e4 + 3.0 * x[i];
  const auto a = fa::map_stats(x.data(), 9, 11), b = fa::map_stats(y.data(), 9, 11);
  EXPECT_NEAR(a.morans_i, b.morans_i, 1e-9);
  EXPECT_NEAR(a.morans_i_row_standardised, b.morans_i_row_standardised, 1e-9);
  EXPECT_NEAR(a.std_minmax, b.std_minmax, 1e-9);
}

TEST(MapStats, FloatAndDoubleAgree) {
  auto x = random_map(12 * 20, 7);
  std::vector<float> f(x.begin(), x.end());
  std::vector<double> d(f.begin(), f.end());  // the same float values, held as double
  const auto a = fa::map_stats(f.data(), 12, 20), b = fa::map_stats(d.data(), 12, 20);
  EXPECT_EQ(a.morans_i, b.morans_i);
  EXPECT_EQ(a.morans_i_row_standardised, b.morans_i_row_standardised);
  EXPECT_EQ(a.std_minmax, b.std_minmax);
}

TEST(MapStats, RejectsBadInput) {
  const double nan_map[4] = {0, std::nan(""), 1, 2};
  const double inf_map[4] = {0, 1, INFINITY, 2};
  EXPECT_THROW(fa::morans_i(nan_map, 2, 2), Error);
  EXPECT_THROW(fa::std_minmax(inf_map, 2, 2), Error);
  EXPECT_THROW(fa::morans_i(nan_map, -1, 2), Error);
  EXPECT_THROW(fa::morans_i(static_cast<const double*>(nullptr), 2, 2), Error);
}

TEST(MapStats, FrameAndStepAveraging) {
  // Eq. 4/5: each frame is its own map; the frame mean is the mean of per-frame statistics.
  const int f = 3, h = 6, w = 5;
  std::vector<double> seq;
  std::vector<fa::MapStats> per_frame;
  for (int i = 0; i < f; ++i) {
    auto x = random_map(h * w, 100 + i);
    if (i == 1)
      for (double& v : x) v = 10.0 * v + 50.0;  // a different offset per frame must not leak across
    per_frame.push_back(fa::map_stats(x.data(), h, w));
    seq.insert(seq.end(), x.begin(), x.end());
  }
  const auto m = fa::frame_mean_stats(seq.data(), f, h, w);
  EXPECT_NEAR(m.morans_i, (per_frame[0].morans_i + per_frame[1].morans_i + per_frame[2].morans_i) / 3, 1e-15);
  EXPECT_NEAR(m.std_minmax, (per_frame[0].std_minmax + per_frame[1].std_minmax + per_frame[2].std_minmax) / 3,
              1e-15);
  const auto mm = fa::mean_stats(per_frame);
  EXPECT_NEAR(mm.morans_i_row_standardised, m.morans_i_row_standardised, 1e-15);

  fa::MapStatsAccumulator acc;
  acc.add({0.2, 0.1, 0.4});
  acc.add({0.6, 0.3, 0.0});
  EXPECT_EQ(acc.count(), 2u);
  EXPECT_DOUBLE_EQ(acc.mean().morans_i, 0.4);
  EXPECT_DOUBLE_EQ(acc.mean().morans_i_row_standardised, 0.2);
  EXPECT_DOUBLE_EQ(acc.mean().std_minmax, 0.2);
  EXPECT_THROW(fa::mean_stats(std::vector<fa::MapStats>{}), Error);
  EXPECT_THROW(fa::frame_mean_stats(seq.data(), 0, h, w), Error);
}

// ---------------------------------------------------------------- case files

TEST(StatsCases, ReadsFramesAndOptionalExpectations) {
  const auto p = write_temp("frames.json", R"({"cases": [
      {"name": "two_frames", "shape": [2, 1, 2], "values": [0, 1, 5, 5]},
      {"name": "plain", "shape": [1, 3], "values": [1, 2, 4], "morans_i": 0.5, "morans_i_row_standardised": 0.5,
       "std_minmax": 0.1}]})");
  const auto cases = fa::read_stats_cases(p);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_FALSE(cases[0].expected.has_value());
  ASSERT_TRUE(cases[1].expected.has_value());
  EXPECT_EQ(cases[1].expected->std_minmax, 0.1);
  // Frame 0 is the two-cell map (I = -1, std 0.5); frame 1 is constant (0, 0).
  const auto s = fa::compute_case(cases[0]);
  EXPECT_DOUBLE_EQ(s.morans_i, -0.5);
  EXPECT_DOUBLE_EQ(s.std_minmax, 0.25);
}

TEST(StatsCases, ErrorsNameTheFileAndCase) {
  auto message = [](const std::string& path) {
    try {
      fa::read_stats_cases(path);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string missing = focalscope::testing::temp_dir("stats") + "/does_not_exist.json";
  EXPECT_NE(message(missing).find(missing), std::string::npos);

  const auto bad_json = write_temp("bad.json", "{\"cases\": [");
  auto m = message(bad_json);
  EXPECT_NE(m.find(bad_json), std::string::npos);
  EXPECT_NE(m.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(m.find('\n'), std::string::npos);

  const auto mismatch = write_temp("mismatch.json",
                                   R"({"cases": [{"name": "ok", "shape": [1, 2], "values": [1, 2]},
                                                 {"name": "short_one", "shape": [2, 2], "values": [1, 2, 3]}]})");
  m = message(mismatch);
  EXPECT_NE(m.find(mismatch), std::string::npos);
  EXPECT_NE(m.find("short_one"), std::string::npos);
  EXPECT_NE(m.find("needs 4 values, got 3"), std::string::npos);

  const auto bad_value = write_temp("badvalue.json", R"({"cases": [{"name": "v", "shape": [1, 2], "values": [1, "x"]}]})");
  EXPECT_NE(message(bad_value).find("'v'"), std::string::npos);
  EXPECT_NE(message(write_temp("noarr.json", R"({"maps": []})")).find("\"cases\""), std::string::npos);
  EXPECT_NE(message(write_temp("shape.json", R"({"cases": [{"name": "s", "shape": [-1, 2], "values": []}]})"))
                .find("'s'"),
            std::string::npos);
}

// ---------------------------------------------------------------- weak layers

namespace {

// layers x samples, base level with small deterministic per-sample jitter.
std::vector<std::vector<double>> curves(int layers, int samples, double base, double jitter, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-jitter, jitter);
  std::vector<std::vector<double>> c(layers, std::vector<double>(samples));
  for (auto& layer : c)
    for (double& v : layer) v = base + u(rng);
  return c;
}

void set_level(std::vector<std::vector<double>>& c, int layer, double level) {
  for (double& v : c[layer]) v += level - 0.75;
}

}  // namespace

TEST(WeakLayers, FindsAClearDipInTheMiddle) {
  auto m = curves(40, 12, 0.75, 0.03, 1);
  for (int l = 15; l <= 22; ++l) set_level(m, l, 0.19);
  const auto rep = fa::WeakLayerDetector().detect(m);
  EXPECT_EQ(rep.weak, std::vector<int>({15, 16, 17, 18, 19, 20, 21, 22}));
  EXPECT_FALSE(rep.overridden);
  ASSERT_EQ(rep.score.size(), 40u);
  EXPECT_LT(rep.score[18], -10);
  EXPECT_NEAR(rep.moran_center, 0.75, 0.02);
  // Spread for plotting: quartiles bracket the median and lie inside the jitter band.
  const auto& sp = rep.moran_spread[18];
  EXPECT_LE(sp.min, sp.q1);
  EXPECT_LE(sp.q1, sp.median);
  EXPECT_LE(sp.median, sp.q3);
  EXPECT_LE(sp.q3, sp.max);
  EXPECT_NEAR(sp.median, 0.19, 0.03);
}

TEST(WeakLayers, FlatCurvesHaveNoWeakLayers) {
  // Noise alone gives some layers z < -2, but none is min_drop below the center.
  const auto noisy = fa::WeakLayerDetector().detect(curves(40, 12, 0.7, 0.05, 2));
  EXPECT_TRUE(noisy.weak.empty());
  fa::WeakLayerOptions contiguous;
  contiguous.contiguous = true;
  EXPECT_TRUE(fa::WeakLayerDetector(contiguous).detect(curves(40, 12, 0.7, 0.05, 2)).weak.empty());
  // Exactly flat: MAD = 0, the scale floor keeps every score finite (0).
  const auto flat = fa::WeakLayerDetector().detect(curves(30, 4, 0.5, 0.0, 3));
  EXPECT_TRUE(flat.weak.empty());
  for (double s : flat.score) EXPECT_EQ(s, 0.0);
}

TEST(WeakLayers, ContiguousOptionFillsAOneLayerGap) {
  auto m = curves(30, 8, 0.75, 0.01, 4);
  for (int l : {10, 11, 13, 14}) set_level(m, l, 0.2);
  EXPECT_EQ(fa::WeakLayerDetector().detect(m).weak, std::vector<int>({10, 11, 13, 14}));
  fa::WeakLayerOptions o;
  o.contiguous = true;
  EXPECT_EQ(fa::WeakLayerDetector(o).detect(m).weak, std::vector<int>({10, 11, 12, 13, 14}));
  // A lone weak layer far from the band is dropped rather than bridged by healthy layers.
  set_level(m, 25, 0.1);
  EXPECT_EQ(fa::WeakLayerDetector(o).detect(m).weak, std::vector<int>({10, 11, 12, 13, 14}));
}

TEST(WeakLayers, OverrideWins) {
  auto m = curves(20, 5, 0.75, 0.01, 5);
  set_level(m, 8, 0.1);
  fa::WeakLayerOptions o;
  o.override_layers = std::vector<int>{3, 1, 3};
  const auto rep = fa::WeakLayerDetector(o).detect(m);
  EXPECT_EQ(rep.weak, std::vector<int>({1, 3}));
  EXPECT_TRUE(rep.overridden);
  EXPECT_LT(rep.score[8], -2);  // scores are still reported
  o.override_layers = std::vector<int>{20};
  EXPECT_THROW(fa::WeakLayerDetector(o).detect(m), Error);
  o.override_layers = std::vector<int>{};  // an explicit empty set means "no weak layers"
  EXPECT_TRUE(fa::WeakLayerDetector(o).detect(m).weak.empty());
}

TEST(WeakLayers, StdCurveCanDriveTheScore) {
  auto m = curves(20, 6, 0.75, 0.01, 6);
  auto s = curves(20, 6, 0.75, 0.01, 7);
  set_level(m, 5, 0.5);  // Moran's I dips (deep enough for min_drop) ...
  set_level(s, 5, 0.2);  // ... and so does std
  fa::WeakLayerOptions o;
  o.std_weight = 1.0;
  o.z_threshold = 5.0;
  const auto rep = fa::WeakLayerDetector(o).detect(m, s);
  EXPECT_EQ(rep.weak, std::vector<int>({5}));
  EXPECT_EQ(rep.std_spread.size(), 20u);
  EXPECT_NEAR(rep.score[5], rep.std_z[5], 1e-12);
  EXPECT_THROW(fa::WeakLayerDetector(o).detect(m), Error);  // std_weight without std curves
}

TEST(WeakLayers, RejectsMalformedCurves) {
  fa::WeakLayerDetector d;
  using Curves = std::vector<std::vector<double>>;
  const Curves none, ragged{{0.1, 0.2}, {0.3}}, with_nan{{0.1}, {std::nan("")}}, two{{0.1}, {0.2}}, one{{0.1}};
  EXPECT_THROW(d.detect(none), Error);
  EXPECT_THROW(d.detect(ragged), Error);
  EXPECT_THROW(d.detect(with_nan), Error);
  EXPECT_THROW(d.detect(two, one), Error);  // std curves of another shape
  fa::WeakLayerOptions bad;
  bad.std_weight = 2;
  EXPECT_THROW(fa::WeakLayerDetector{bad}, Error);
}

TEST(WeakLayers, QuantilesAndCacheWeights) {
  const auto sp = fa::spread_of({5, 1, 4, 2, 3});
  EXPECT_EQ(sp.min, 1);
  EXPECT_EQ(sp.q1, 2);
  EXPECT_EQ(sp.median, 3);
  EXPECT_EQ(sp.q3, 4);
  EXPECT_EQ(sp.max, 5);
  EXPECT_DOUBLE_EQ(fa::quantile({1, 2, 3, 4}, 0.5), 2.5);
  EXPECT_THROW(fa::quantile(std::vector<double>{}, 0.5), Error);

  // Eq. 11: alpha = 0 on weak layers, 1 / (L - m) elsewhere.
  const auto a = fa::attention_cache_weights(5, {1, 2});
  const std::vector<double> want{1.0 / 3, 0, 0, 1.0 / 3, 1.0 / 3};
  ASSERT_EQ(a.size(), want.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_DOUBLE_EQ(a[i], want[i]);
  const std::vector<int> all_weak{0, 1}, out_of_range{2};
  EXPECT_THROW(fa::attention_cache_weights(2, all_weak), Error);
  EXPECT_THROW(fa::attention_cache_weights(2, out_of_range), Error);
}
