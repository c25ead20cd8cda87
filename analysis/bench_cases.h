// The per-case results of `focalscope bench` (cases.csv), read back, merged across runs and compared pair by pair.
//
// Why pairs: every (case, seed) starts from the same noise in every setting, so the per-seed difference of two
// settings on the same pairs is far less noisy than the difference of two independent means; and runs made
// separately (one process per dimension on a 2-core machine, a post-trained model against the untuned one) can only
// be compared once their rows are merged on (setting, case, seed). Pure; no torch.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "analysis/bench_table.h"

namespace focalscope::analysis {

// setting -> (case id, seed) -> score; settings keep the order they were first seen in.
struct BenchCases {
  using Key = std::pair<std::string, int>;
  std::vector<std::string> settings;
  std::map<std::string, std::map<Key, CaseScore>> rows;

  // Adds one case; a (setting, case, seed) seen before is an error naming `source`.
  void add(const std::string& setting, int seed, const CaseScore& c, const std::string& source);
  // The Table 1 row of one setting: score_seed() of each seed's cases, restricted to `only` when given.
  RowStats row(const std::string& setting, const std::map<Key, CaseScore>* only = nullptr) const;
  std::vector<RowStats> table_rows() const;
};

// cases.csv: header then one row per (setting, seed, case), RFC 4180 quoting (the checker's reasons hold commas).
std::string cases_csv_header();
std::string cases_csv_row(const std::string& setting, int seed, const CaseScore& c);

// Reads cases.csv text into `into`, renaming settings by `rename` (old -> new). Errors are one line naming `source`:
// not a cases.csv (missing columns), malformed row or number, duplicate row, a rename that matches no setting.
void read_cases_csv(const std::string& text, const std::string& source, const std::map<std::string, std::string>& rename,
                    BenchCases& into);

// A setting against the baseline on exactly the (case, seed) pairs both have.
struct PairedDelta {
  std::string setting;
  int pairs = 0, gained = 0, lost = 0;  // pairs in common; passes only in the setting / only in the baseline
  std::vector<double> total_per_seed;   // Total(setting) - Total(baseline), per shared seed, ascending seed
  double mean = 0, stddev = 0;          // over seeds (population std, as the tables)
};
std::vector<PairedDelta> paired_deltas(const BenchCases& cases, const std::string& baseline);

// Markdown: one row per setting (paired ΔTotal mean ± std, per seed, pairs gained / lost of n).
std::string paired_markdown(const std::vector<PairedDelta>& deltas, const std::string& baseline);

}  // namespace focalscope::analysis
