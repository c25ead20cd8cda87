// focalscope bench --suite shapes: the paper's Table 1 / Table 3 on the Shapes benchmark, strict checker.
#include <ATen/Parallel.h>

#include <algorithm>
#include <filesystem>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "app/cli/args.h"
#include "app/cli/bench_report.h"
#include "app/cli/bench_runner.h"
#include "app/cli/command.h"
#include "app/cli/edit_bench_runner.h"
#include "app/cli/hallucination_args.h"
#include "app/cli/guidance_args.h"
#include "app/cli/model_arg.h"
#include "engine/core/error.h"
#include "engine/core/blas_check.h"

namespace focalscope::cli {
namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// --suite shapes-edit: one row per --guidance token (default off,kvlock) plus the ceiling and source rows; bench.md
// (mean ± std over seeds, paired deltas against --baseline, default off), bench.json, cases.csv.
int run_edit_suite(const Args& a, const std::vector<std::string>& argv, const std::set<std::string>& opts) {
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));
  EditBenchOptions opt;
  opt.seeds = static_cast<int>(a.integer("seeds", 3, 1, 100));
  opt.steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  opt.cfg = a.number("cfg", -1, 0, 50);
  opt.strips_dir = a.str("save-strips", "");
  const int limit = static_cast<int>(a.integer("limit", 0, 0, 100000));
  const std::string dimension = a.str("dimension");
  if (!dimension.empty()) shapes::parse_dimension(dimension);
  const std::string dir = a.str("bench-dir", default_edit_bench_dir());
  std::vector<shapes::EditBenchCase> cases;
  std::map<std::string, int> per_dim;
  for (auto& c : shapes::read_edit_bench_set(dir)) {
    const std::string d = shapes::dimension_name(c.c.dim);
    if ((!dimension.empty() && d != dimension) || (limit > 0 && per_dim[d] >= limit)) continue;
    per_dim[d]++;
    cases.push_back(std::move(c));
  }
  if (cases.empty()) fail("--dimension", "no cases selected from " + dir);
  std::vector<std::string> argv2;  // --guidance is a list here; the other guidance flags are shared by every row
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--guidance" && i + 1 < argv.size()) { ++i; continue; }
    if (argv[i].rfind("--guidance=", 0) == 0) continue;
    argv2.push_back(argv[i]);
  }
  const Args without_modes(argv2, opts, {"help", "no-floor", "no-ceiling", "no-source"});
  const GuidanceConfig base = guidance_from_args(without_modes, /*require_dyncfg_mode=*/false);
  const auto settings = edit_bench_settings(split(a.str("guidance", "off,kvlock")), base, !a.flag("no-ceiling"), !a.flag("no-source"));
  auto model = load_model_arg(a.str("model-dir"));
  const std::string out_dir = a.str("out", "bench_edit_out");
  std::filesystem::create_directories(out_dir);
  auto t0 = std::chrono::steady_clock::now();
  const int total_runs = static_cast<int>(settings.size() * cases.size()) * opt.seeds;
  int finished = 0, passes = 0, seen = 0;
  opt.on_case = [&](const std::string& name, int seed, int done, int total, const analysis::EditCaseScore& cs) {
    passes += cs.fg_pass;
    ++seen;
    ++finished;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "\r[%d/%d, ETA %.0f s] %s seed %d: %d/%d | fg pass %.2f | bg PSNR %.1f   ", finished, total_runs,
                 el / finished * (total_runs - finished), name.c_str(), seed, done, total, double(passes) / seen, cs.bg_psnr);
    if (done == total) {
      std::fprintf(stderr, "\n");
      passes = seen = 0;
    }
  };
  std::vector<analysis::EditRow> rows;
  for (const auto& s : settings) rows.push_back(run_edit_setting(*model, cases, s, opt));
  std::ostringstream md;
  md << "# Shapes editing benchmark (" << cases.size() << " cases";
  for (const auto& [d, n] : per_dim) md << ", " << d << " " << n;
  md << "; " << opt.seeds << " seed" << (opt.seeds > 1 ? "s" : "") << "; model " << model->layout.variant << "; " << dir << ")\n\n"
     << "Foreground: the strict checker on the edit instruction (pass rate). Background: PSNR (per frame 1..N, capped at 60 dB) "
        "and SSIM against the source outside the mask, at the model's output size. Cells: mean ± std over seeds.\n\n"
     << analysis::edit_table_markdown(rows, a.str("baseline", "off"));
  write_text_file(out_dir + "/bench.md", md.str());
  write_text_file(out_dir + "/bench.json", analysis::edit_rows_to_json(rows).dump(2) + "\n");
  write_text_file(out_dir + "/cases.csv", analysis::edit_cases_csv(rows));
  std::printf("%s", md.str().c_str());
  std::fprintf(stderr, "wrote %s/bench.md, bench.json, cases.csv\n", out_dir.c_str());
  return 0;
}

int run(const std::vector<std::string>& argv) {
  std::set<std::string> opts = {"suite", "dimension", "seeds", "limit", "out", "steps", "cfg", "model-dir", "bench-dir", "threads", "save-strips", "baseline"};
  opts.insert(guidance_value_options().begin(), guidance_value_options().end());
  Args a(argv, opts, {"help", "no-floor", "no-ceiling", "no-source", "merge"});
  if (a.flag("help")) {
    std::printf(
        "usage: focalscope bench --suite shapes [--dimension D] [--seeds N] [--limit N] [--out DIR]\n"
        "                        [--guidance off,fsg,ac,fg,dyncfg,...] [--guidance-config FILE] [--steps N] [--cfg X]\n"
        "                        [--model-dir DIR] [--bench-dir DIR] [--no-floor] [--no-ceiling]\n"
        "                        [--save-strips DIR]\n"
        "       focalscope bench --merge FILE[:OLD=NEW,...] ... [--baseline NAME] [--out DIR]\n"
        "       focalscope bench --suite shapes-edit [--bench-dir DIR] [--guidance off,kvlock,...] [--seeds N (3)]\n"
        "                        [--dimension D] [--limit N] [--no-ceiling] [--no-source] [--baseline MODE (off)]\n"
        "         KV-Lock editing (docs/kv_lock.md): each case edited per --guidance token; foreground judged by the strict\n"
        "         checker on the instruction, background by PSNR / SSIM against the source outside the mask.\n"
        "Generates every benchmark case per guidance setting and seed, judges it with the strict checker and scores\n"
        "VBench-I2V subject/background consistency. Writes bench.md (Table 1 and Table 3 layouts), bench.json and\n"
        "cases.csv. An 'empty prompt (floor)' row (same model, prompt \"\") is always added unless --no-floor.\n"
        "A 'VAE ceiling' row (the ground-truth videos through the model's VAE, one pass) shows the best this latent\n"
        "space allows, unless --no-ceiling. --save-strips DIR writes each video as a PNG filmstrip (DIR/<row>/<case>_seed<k>.png).\n"
        "Every report also compares each row with the baseline pair by pair (same case, same seed: same noise).\n"
        "--merge re-scores the cases.csv of separate runs (or their output folders) as one report, e.g. a run per\n"
        "dimension, or a post-trained model against the untuned one; :OLD=NEW renames a file's settings so rows of\n"
        "the same name stay apart, --baseline names the row the others are compared with (default baseline).\n");
    return 0;
  }
  const std::string baseline = a.str("baseline", "baseline");
  if (a.flag("merge")) {
    for (const char* o : {"suite", "dimension", "seeds", "limit", "steps", "cfg", "model-dir", "bench-dir", "threads", "save-strips"})
      if (a.has(o)) fail(std::string("--") + o, "does not apply to --merge (it generates nothing)");
    std::printf("%s", merge_bench_reports(a.positional(), baseline, a.str("out", "bench_merged")).c_str());
    return 0;
  }
  if (!a.positional().empty()) fail(a.positional()[0], "unexpected argument (cases.csv files go with --merge)");
  const std::string suite = a.str("suite", "shapes");
  if (suite == "shapes-edit") return run_edit_suite(a, argv, opts);
  if (suite != "shapes") fail("--suite", "'" + suite + "' is not shapes or shapes-edit");
  if (a.flag("no-source")) fail("--no-source", "applies to --suite shapes-edit only");
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));  // ATen and OpenBLAS
  const int seeds = static_cast<int>(a.integer("seeds", 1, 1, 100));
  const int limit = static_cast<int>(a.integer("limit", 0, 0, 100000));
  const std::string out_dir = a.str("out", "bench_out");
  auto model = load_model_arg(a.str("model-dir"));
  std::map<std::string, int> per_dim;
  const auto cases = select_bench_cases(a.str("bench-dir"), a.str("dimension"), limit, &per_dim);

  // --guidance takes a list here (one row per mode); the other guidance flags set the shared parameters.
  std::vector<std::string> argv2;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--guidance" && i + 1 < argv.size()) { ++i; continue; }
    if (argv[i].rfind("--guidance=", 0) == 0) continue;
    argv2.push_back(argv[i]);
  }
  const Args without_modes(argv2, opts, {"help", "no-floor", "no-ceiling", "no-source"});
  const GuidanceConfig base_cfg = guidance_from_args(without_modes, /*require_dyncfg_mode=*/false);
  std::vector<BenchSetting> settings;
  for (const auto& mode : split(a.str("guidance", "off"))) {
    BenchSetting s;
    s.guidance = base_cfg;
    s.guidance.set_mode(mode);
    // Focal Guidance keeps its table names; any other token (dynamic CFG, combinations) is named by the token itself.
    s.name = mode == "off" ? "baseline" : mode == "fsg" ? "+ FSG" : mode == "ac" ? "+ AC" : mode == "fg" ? "+ FG (FSG + AC)"
                                                                                           : "+ " + s.guidance.mode();
    for (const auto& other : settings)
      if (other.name == s.name) fail("--guidance", "'" + mode + "' is listed twice");
    settings.push_back(s);
  }
  if (dyncfg_flags_given(without_modes) &&
      std::none_of(settings.begin(), settings.end(), [](const BenchSetting& s) { return s.guidance.dyncfg.enabled; }))
    fail("--guidance", "dynamic CFG flags (--omega0, --dyncfg-b, --kappa, --omega-reading) need a dyncfg row");
  if (!a.flag("no-floor")) {
    BenchSetting f;
    f.name = "empty prompt (floor)";
    f.empty_prompt = true;
    settings.push_back(f);
  }
  if (!a.flag("no-ceiling")) {
    BenchSetting c;
    c.name = "VAE ceiling (ground truth)";
    c.vae_ceiling = true;
    settings.push_back(c);
  }
  BenchOptions opt;
  opt.seeds = seeds;
  opt.steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  opt.cfg = a.number("cfg", -1, 0, 50);
  opt.strips_dir = a.str("save-strips", "");
  auto t0 = std::chrono::steady_clock::now();
  int passes = 0, seen = 0;
  opt.on_case = [&](const std::string& name, int seed, int done, int total, const analysis::CaseScore& cs) {
    passes += cs.pass;
    ++seen;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "\r[%s, seed %d] %d/%d cases | pass so far %.2f | %.0f s   ", name.c_str(), seed, done, total,
                 double(passes) / seen, el);
    if (done == total) {
      std::fprintf(stderr, "\n");
      passes = seen = 0;
    }
  };
  analysis::BenchCases results;
  for (const auto& s : settings) {
    std::vector<std::vector<analysis::CaseScore>> per_seed;
    run_bench_setting(*model, cases, s, opt, &per_seed);
    for (size_t sd = 0; sd < per_seed.size(); ++sd)
      for (const auto& c : per_seed[sd]) results.add(s.name, static_cast<int>(sd), c, "bench");
  }
  std::ostringstream title;
  title << "Shapes benchmark (" << cases.size() << " cases";
  for (const auto& [d, n] : per_dim) title << ", " << d << " " << n;
  title << "; " << seeds << " seed" << (seeds > 1 ? "s" : "") << "; model " << model->layout.variant << ")";
  std::printf("%s", write_bench_report(results, title.str(), baseline, out_dir).c_str());
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("bench", "Shapes benchmark in the paper's Table 1/3 layouts (strict checker, VBench-I2V)", run);

}  // namespace focalscope::cli
