// What `focalscope bench` writes (bench.md with the Table 1 / Table 3 layouts and the paired comparison, bench.json,
// cases.csv), made from per-case results: those of a run, or those of earlier runs read back and merged
// (`bench --merge`). One writer for both, so a merged report reads exactly like a run's own.
#pragma once
#include <string>
#include <vector>

#include "analysis/bench_cases.h"

namespace focalscope::cli {

// Writes DIR/bench.md, DIR/bench.json and DIR/cases.csv (DIR created) and returns bench.md's text. `title` is the
// report's heading line; deltas and pairs are taken against the setting named `baseline` when it is present.
std::string write_bench_report(const analysis::BenchCases& cases, const std::string& title, const std::string& baseline,
                               const std::string& out_dir);

// `bench --merge`: each argument is a cases.csv (or a bench output folder holding one), optionally followed by
// `:OLD=NEW,...` renaming its settings. Returns bench.md's text; errors are one line naming the file.
std::string merge_bench_reports(const std::vector<std::string>& args, const std::string& baseline,
                                const std::string& out_dir);

}  // namespace focalscope::cli
