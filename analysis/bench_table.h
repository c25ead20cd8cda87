// Benchmark scoring in the paper's layouts (pure; no torch).
//
// Table 1 layout: I2V Subject | I2V Background | Dynamic Attributes | Motion | Interaction | Total, where each
// dimension score is the strict checker's pass rate, the I2V scores are VBench-I2V consistency means, and Total is the
// mean of the five. Each run (a guidance setting) is measured over several seeds: cells show mean ± std across seeds.
// Table 3 layout: the same rows as deltas against the baseline row.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace focalscope::analysis {

struct CaseScore {
  std::string dimension;  // "dynamic_attributes" | "motion" | "interaction"
  std::string case_id;
  bool pass = false;
  double subject = 0;     // VBench-I2V subject consistency of the video
  double background = 0;  // VBench-I2V background consistency
  std::string failures;   // the checker's wrong answers ("question: expected X, observed Y; ..."), empty on a pass
};

// One seed of one setting -> the five numbers + Total.
struct SeedScores {
  double subject = 0, background = 0, dynamic_attributes = 0, motion = 0, interaction = 0, total = 0;
  std::map<std::string, int> cases;  // per dimension, cases counted
};
SeedScores score_seed(const std::vector<CaseScore>& cases);

struct RowStats {
  std::string name;                       // "baseline", "FSG", ..., "empty prompt (floor)"
  std::vector<SeedScores> seeds;
  SeedScores mean() const;
  SeedScores stddev() const;              // population std across seeds (0 for one seed)
};

// Markdown tables. `baseline` names the row deltas are taken against (Table 3).
std::string table1_markdown(const std::vector<RowStats>& rows);
std::string table3_markdown(const std::vector<RowStats>& rows, const std::string& baseline);
nlohmann::json rows_to_json(const std::vector<RowStats>& rows);

}  // namespace focalscope::analysis
