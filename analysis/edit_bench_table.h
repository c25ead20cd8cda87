// Scoring of the Shapes editing benchmark (`focalscope bench --suite shapes-edit`; pure, no torch). Per case: the
// strict checker on the edit instruction (foreground) and the background's PSNR / SSIM against the source outside
// the mask (analysis/edit_metrics.h). Per seed: their means (and the foreground pass rate per dimension); per row:
// mean ± std over seeds; against the baseline row: paired per-seed deltas (same case, same seed: same noise).
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace focalscope::analysis {

struct EditCaseScore {
  std::string dimension, case_id;
  bool fg_pass = false;
  double bg_psnr = 0, bg_ssim = 0;
  std::string failures;  // the checker's wrong answers, empty on a pass
};

struct EditSeedScores {
  double bg_psnr = 0, bg_ssim = 0, fg_pass = 0;
  std::map<std::string, double> fg_pass_by_dimension;
  int cases = 0;
};
EditSeedScores score_edit_seed(const std::vector<EditCaseScore>& cases);

struct EditRow {
  std::string name;  // table row, e.g. "plain edit (off)", "KV-Lock (kvlock)", "source (unedited)"
  std::string mode;  // the --guidance token that made it ("off", "kvlock", ...; "ceiling" / "source" for references)
  std::vector<std::vector<EditCaseScore>> seeds;  // per seed, per case
  EditSeedScores seed_scores(size_t k) const { return score_edit_seed(seeds[k]); }
  EditSeedScores mean() const;
  EditSeedScores stddev() const;  // population std across seeds (0 for one seed)
};

// bench.md body: the table (mean ± std) and the paired deltas against `baseline` (a row's mode).
std::string edit_table_markdown(const std::vector<EditRow>& rows, const std::string& baseline);
// bench.json: [{name, mode, mean {bg_psnr, bg_ssim, fg_pass, dynamic_attributes, motion, interaction, cases}, std, seeds}]
nlohmann::json edit_rows_to_json(const std::vector<EditRow>& rows);
// cases.csv: setting,mode,seed,dimension,case,fg_pass,bg_psnr,bg_ssim,failures (RFC 4180 quoting).
std::string edit_cases_csv(const std::vector<EditRow>& rows);

}  // namespace focalscope::analysis
