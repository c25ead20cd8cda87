#include <gtest/gtest.h>

#include <cmath>

#include "analysis/bench_table.h"

using namespace focalscope::analysis;

TEST(BenchTable, SeedScoresAreRatesAndTotalIsMeanOfFive) {
  std::vector<CaseScore> cs = {{"motion", "a", true, 0.9, 0.8},  {"motion", "b", false, 0.7, 0.6},
                               {"interaction", "c", true, 1.0, 1.0}, {"dynamic_attributes", "d", false, 0.8, 0.8}};
  SeedScores s = score_seed(cs);
  EXPECT_DOUBLE_EQ(s.motion, 0.5);
  EXPECT_DOUBLE_EQ(s.interaction, 1.0);
  EXPECT_DOUBLE_EQ(s.dynamic_attributes, 0.0);
  EXPECT_DOUBLE_EQ(s.subject, (0.9 + 0.7 + 1.0 + 0.8) / 4);
  EXPECT_DOUBLE_EQ(s.background, (0.8 + 0.6 + 1.0 + 0.8) / 4);
  EXPECT_DOUBLE_EQ(s.total, (s.subject + s.background + 0.0 + 0.5 + 1.0) / 5);
}

TEST(BenchTable, DimensionWithoutCasesIsNotMeasuredNotZero) {
  std::vector<CaseScore> cs = {{"motion", "a", true, 0.9, 0.8}, {"motion", "b", false, 0.7, 0.6}};
  SeedScores s = score_seed(cs);
  EXPECT_DOUBLE_EQ(s.motion, 0.5);
  EXPECT_TRUE(std::isnan(s.interaction));
  EXPECT_TRUE(std::isnan(s.dynamic_attributes));
  EXPECT_TRUE(std::isnan(s.total)) << "Total is the mean of five measured numbers";
  RowStats row{"baseline", {s}};
  const std::string t1 = table1_markdown({row});
  EXPECT_NE(t1.find("| — | 0.5000 | — | — |"), std::string::npos) << t1;  // Dynamic, Motion, Interaction, Total
  EXPECT_EQ(t1.find("0.0000"), std::string::npos) << t1;
  EXPECT_TRUE(rows_to_json({row})[0]["mean"]["interaction"].is_null());
}

TEST(BenchTable, MeanStdAndDeltas) {
  RowStats base{"baseline", {}}, fg{"+ FG", {}};
  SeedScores a, b;
  a.motion = 0.4; b.motion = 0.6; a.total = 0.5; b.total = 0.7;
  base.seeds = {a, b};
  SeedScores c;
  c.motion = 0.8; c.total = 0.9;
  fg.seeds = {c, c};
  EXPECT_NEAR(base.mean().motion, 0.5, 1e-12);
  EXPECT_NEAR(base.stddev().motion, 0.1, 1e-12);
  std::string t1 = table1_markdown({base, fg});
  EXPECT_NE(t1.find("0.5000 ± 0.1000"), std::string::npos) << t1;
  std::string t3 = table3_markdown({base, fg}, "baseline");
  EXPECT_NE(t3.find("0.8000 (+0.3000)"), std::string::npos) << t3;
  auto j = rows_to_json({base, fg});
  EXPECT_EQ(j.size(), 2u);
  EXPECT_NEAR(j[1]["mean"]["total"].get<double>(), 0.9, 1e-12);
}
