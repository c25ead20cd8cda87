#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <tuple>

#include "analysis/bench_cases.h"
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

// --- cases.csv read back, merged and paired (analysis/bench_cases.h) ---
// Hand-worked: every case has Subject 0.9 and Background 0.8, so Total = (0.9 + 0.8 + three pass rates) / 5.
// baseline passes one case of three on each seed -> 0.54; "+ FSG" passes two on seed 0 (0.74) and the baseline's one
// on seed 1 (0.54) -> paired +0.10 ± 0.10, one pair gained. File b's baseline (renamed "other", seed 0 only) passes
// nothing -> 0.34, paired -0.20, one pair lost.
namespace {
std::string csv_of(const std::vector<std::tuple<std::string, int, std::string, bool>>& rows) {
  std::string s = cases_csv_header();
  for (const auto& [setting, seed, id, pass] : rows) {
    CaseScore c;
    c.case_id = id + "_0000";
    c.dimension = id;
    c.pass = pass;
    c.subject = 0.9;
    c.background = 0.8;
    c.failures = pass ? "" : "Did it move? expected \"left\", observed none, really";  // commas and quotes
    s += cases_csv_row(setting, seed, c);
  }
  return s;
}
const std::string kFileA = csv_of({{"baseline", 0, "dynamic_attributes", true}, {"baseline", 0, "motion", false},
                                   {"baseline", 0, "interaction", false}, {"baseline", 1, "dynamic_attributes", false},
                                   {"baseline", 1, "motion", true}, {"baseline", 1, "interaction", false},
                                   {"+ FSG", 0, "dynamic_attributes", true}, {"+ FSG", 0, "motion", true},
                                   {"+ FSG", 0, "interaction", false}, {"+ FSG", 1, "dynamic_attributes", false},
                                   {"+ FSG", 1, "motion", true}, {"+ FSG", 1, "interaction", false}});
const std::string kFileB = csv_of({{"baseline", 0, "dynamic_attributes", false}, {"baseline", 0, "motion", false},
                                   {"baseline", 0, "interaction", false}});
std::string error_of(const std::string& text, const std::map<std::string, std::string>& rename = {}) {
  BenchCases c;
  try {
    read_cases_csv(text, "x.csv", rename, c);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(BenchCases, MergedRunsScoreAndPairAsWorkedByHand) {
  BenchCases c;
  read_cases_csv(kFileA, "a.csv", {}, c);
  read_cases_csv(kFileB, "b.csv", {{"baseline", "other"}}, c);
  ASSERT_EQ(c.settings, (std::vector<std::string>{"baseline", "+ FSG", "other"}));
  EXPECT_EQ(c.rows.at("baseline").at({"motion_0000", 0}).failures, "Did it move? expected \"left\", observed none, really");
  const auto rows = c.table_rows();
  EXPECT_NEAR(rows[0].mean().total, 0.54, 1e-9);
  EXPECT_NEAR(rows[1].mean().total, 0.64, 1e-9);
  EXPECT_NEAR(rows[1].stddev().total, 0.10, 1e-9);
  EXPECT_NEAR(rows[2].mean().total, 0.34, 1e-9);
  const auto d = paired_deltas(c, "baseline");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].setting, "+ FSG");
  EXPECT_EQ(d[0].pairs, 6);
  EXPECT_EQ(d[0].gained, 1);
  EXPECT_EQ(d[0].lost, 0);
  ASSERT_EQ(d[0].total_per_seed.size(), 2u);
  EXPECT_NEAR(d[0].total_per_seed[0], 0.20, 1e-9);
  EXPECT_NEAR(d[0].total_per_seed[1], 0.00, 1e-9);
  EXPECT_NEAR(d[0].mean, 0.10, 1e-9);
  EXPECT_NEAR(d[0].stddev, 0.10, 1e-9);
  // "other" shares only seed 0 with the baseline: scored on those three pairs alone, not against both seeds.
  EXPECT_EQ(d[1].pairs, 3);
  EXPECT_EQ(d[1].lost, 1);
  EXPECT_NEAR(d[1].mean, -0.20, 1e-9);
  const std::string md = paired_markdown(d, "baseline");
  EXPECT_NE(md.find("| + FSG | +0.1000 ± 0.1000 | +0.2000, +0.0000 | 1 / 0 of 6 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| other | -0.2000 ± 0.0000 | -0.2000 | 0 / 1 of 3 |"), std::string::npos) << md;
}

TEST(BenchCases, WrittenFileReadsBackToTheSameTable) {
  BenchCases c;
  read_cases_csv(kFileA, "a.csv", {}, c);
  std::string again = cases_csv_header();
  for (const auto& s : c.settings)
    for (const auto& [key, cs] : c.rows.at(s)) again += cases_csv_row(s, key.second, cs);
  BenchCases c2;
  read_cases_csv(again, "again.csv", {}, c2);
  EXPECT_EQ(table1_markdown(c.table_rows()), table1_markdown(c2.table_rows()));
}

TEST(BenchCases, BadInputIsOneLineNamingTheFile) {
  EXPECT_NE(error_of(kFileA + kFileA.substr(kFileA.find('\n') + 1)).find("x.csv: setting 'baseline' has case"), std::string::npos);
  EXPECT_NE(error_of("a,b\n1,2\n").find("x.csv: not a bench cases.csv (no column setting, seed"), std::string::npos);
  EXPECT_NE(error_of("").find("not a bench cases.csv"), std::string::npos);
  EXPECT_NE(error_of(kFileB, {{"basline", "x"}}).find("x.csv: no setting named 'basline' to rename"), std::string::npos);
  std::string bad = kFileB;
  bad.replace(bad.find("0.9,"), 3, "zero");
  EXPECT_NE(error_of(bad).find("x.csv row 2: 'zero' is not a number"), std::string::npos) << error_of(bad);
  std::string unterminated = kFileB + "\"baseline,0";
  EXPECT_NE(error_of(unterminated).find("x.csv: unterminated quoted field"), std::string::npos);
  std::string short_row = kFileB + "\"baseline\",0,motion_0001\n";
  EXPECT_NE(error_of(short_row).find("x.csv row 5: 3 fields where the header has 8"), std::string::npos) << error_of(short_row);
  std::string bad_pass = kFileB;
  bad_pass.replace(bad_pass.find(",0,0.9"), 6, ",2,0.9");
  EXPECT_NE(error_of(bad_pass).find("pass '2' is neither 0 nor 1"), std::string::npos) << error_of(bad_pass);
}
