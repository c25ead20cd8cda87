// `focalscope stats --cases FILE`: Moran's I (binary queen and row-standardised) and min-max std of
// every map in a case file (the /work/shared/fixtures/morans_i/cases.json format), as JSON on stdout.
// Lets anyone check the analyzer's statistics against their own reference implementation.
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/map_stats.h"
#include "analysis/stats_cases.h"
#include "app/cli/args.h"
#include "app/cli/command.h"
#include "engine/core/error.h"

namespace {

void print_stats_help() {
  std::printf(
      "usage: focalscope stats --cases FILE\n\n"
      "Computes, for every case in FILE ({\"cases\": [{\"name\", \"shape\": [H, W] or [F, H, W], \"values\"}]}),\n"
      "the global Moran's I with binary queen weights normalised by S0, its row-standardised variant, and the\n"
      "population std of the min-max-normalised map ([F, H, W]: averaged over frames). Prints\n"
      "{\"cases\": [{\"name\", \"morans_i\", \"morans_i_row_standardised\", \"std_minmax\"}]} to stdout.\n");
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

int run_stats(const std::vector<std::string>& argv) {
  focalscope::cli::Args args(argv, {"cases"}, {"help"});
  if (args.flag("help")) {
    print_stats_help();
    return 0;
  }
  if (!args.positional().empty()) focalscope::fail(args.positional()[0], "unexpected argument (see --help)");
  const std::string path = args.required("cases");
  const auto cases = focalscope::analysis::read_stats_cases(path);

  // Compute everything before printing, so a bad case leaves no half-written JSON on stdout.
  std::string out = "{\"cases\": [";
  for (std::size_t i = 0; i < cases.size(); ++i) {
    focalscope::analysis::MapStats s;
    try {
      s = focalscope::analysis::compute_case(cases[i]);
    } catch (const focalscope::Error& e) {
      focalscope::fail(path, e.what());
    }
    out += i ? ",\n  " : "\n  ";
    out += "{\"name\": " + nlohmann::json(cases[i].name).dump() + ", \"morans_i\": " + num(s.morans_i) +
           ", \"morans_i_row_standardised\": " + num(s.morans_i_row_standardised) +
           ", \"std_minmax\": " + num(s.std_minmax) + "}";
  }
  out += cases.empty() ? "]}\n" : "\n]}\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("stats", "Moran's I and min-max std of the maps in a case file (JSON to stdout)", run_stats);
