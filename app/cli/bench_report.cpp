#include "app/cli/bench_report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "engine/core/error.h"

namespace fs = std::filesystem;

namespace focalscope::cli {

std::string write_bench_report(const analysis::BenchCases& cases, const std::string& title, const std::string& baseline,
                               const std::string& out_dir) {
  const auto rows = cases.table_rows();
  std::ostringstream md;
  md << "## " << title << "\n\n";
  md << "### Table 1 layout\n\n" << analysis::table1_markdown(rows) << "\n";
  md << "### Table 3 layout (deltas vs " << baseline << ")\n\n" << analysis::table3_markdown(rows, baseline) << "\n";
  if (cases.rows.count(baseline) && cases.settings.size() > 1)
    md << "### Paired against " << baseline << " (Total per seed on the same cases and seeds)\n\n"
       << analysis::paired_markdown(analysis::paired_deltas(cases, baseline), baseline) << "\n";
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) fail(out_dir, "cannot create the output folder (" + ec.message() + ")");
  auto write = [&](const char* name, const std::string& text) {
    const fs::path p = fs::path(out_dir) / name;
    std::ofstream f(p, std::ios::binary);
    f << text;
    if (!f) fail(p.string(), "cannot write");
  };
  std::string csv = analysis::cases_csv_header();
  for (const auto& s : cases.settings)
    for (const auto& [key, c] : cases.rows.at(s)) csv += analysis::cases_csv_row(s, key.second, c);
  write("cases.csv", csv);
  write("bench.md", md.str());
  write("bench.json", analysis::rows_to_json(rows).dump(2));
  return md.str();
}

std::string merge_bench_reports(const std::vector<std::string>& args, const std::string& baseline,
                                const std::string& out_dir) {
  if (args.empty()) fail("--merge", "give one or more cases.csv files (or bench output folders)");
  analysis::BenchCases cases;
  std::string sources;
  for (const auto& arg : args) {
    // FILE:OLD=NEW,... — the rename list starts at the last ':' whose remainder holds an '='.
    std::string path = arg, renames;
    if (const auto colon = arg.rfind(':'); colon != std::string::npos && arg.find('=', colon) != std::string::npos)
      path = arg.substr(0, colon), renames = arg.substr(colon + 1);
    std::map<std::string, std::string> rename;
    std::stringstream ss(renames);
    for (std::string piece; std::getline(ss, piece, ',');) {
      const auto eq = piece.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == piece.size())
        fail(path, "renames must read OLD=NEW,... (got '" + renames + "')");
      rename[piece.substr(0, eq)] = piece.substr(eq + 1);
    }
    if (fs::is_directory(path)) path = (fs::path(path) / "cases.csv").string();
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(path, "cannot read");
    std::stringstream text;
    text << f.rdbuf();
    analysis::read_cases_csv(text.str(), path, rename, cases);
    sources += (sources.empty() ? "" : ", ") + path;
  }
  int case_count = 0;
  std::set<int> seeds;
  for (const auto& [s, rows] : cases.rows) {
    std::set<std::string> ids;
    for (const auto& [key, c] : rows) ids.insert(key.first), seeds.insert(key.second);
    case_count = std::max(case_count, static_cast<int>(ids.size()));
  }
  const std::string title = "Shapes benchmark, merged (" + std::to_string(case_count) + " cases, " +
                            std::to_string(seeds.size()) + " seed" + (seeds.size() > 1 ? "s" : "") + "; from " +
                            sources + ")";
  return write_bench_report(cases, title, baseline, out_dir);
}

}  // namespace focalscope::cli
