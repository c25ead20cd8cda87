// focalscope ablate: causal layer attribution. For each benchmark case and seed: the un-ablated run, the run with the
// text knocked out of every layer, and one run per layer with the text knocked out of that layer only; per layer the
// drop in text following (strict checker) and the move of the final latent, with bootstrap intervals, and the rank
// correlation with the layer's Moran's I. Resumable: finished (case, seed) units are appended to ablate_runs.csv.
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "analysis/causal_ablation.h"
#include "app/cli/ablate_run.h"
#include "app/cli/args.h"
#include "app/cli/bench_runner.h"
#include "app/cli/command.h"
#include "app/cli/model_arg.h"

#include "app/cli/progress.h"
#include "engine/capture/capture_layout.h"
#include "engine/core/blas_check.h"
#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/train/latent_pool.h"
#include "render/figures.h"
#include "render/image.h"

namespace focalscope::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: focalscope ablate --suite shapes --out DIR [--model-dir DIR] [--limit N] [--seeds K] [--layers SPEC]\n"
    "                         [--dimension D] [--steps N] [--cfg X] [--threads N] [--resume]\n"
    "Causal layer attribution: for every case (the first --limit N per dimension, default 20) and seed, generates the\n"
    "un-ablated video, the video with the text knocked out of every layer (= the empty prompt) and, for each layer, the\n"
    "video with the text knocked out of that layer only (its cross-attention sees the empty-prompt context). Per layer:\n"
    "the drop in the strict checker's pass rate and in its per-question agreement, and the move of the final latent as\n"
    "a fraction of the whole text's effect, each as mean with a 95% bootstrap interval over cases x seeds; and the\n"
    "Spearman correlation of the layer's Moran's I (un-ablated run) with its effect.\n"
    "On the embedded MMDiT (joint attention, no cross-attention) a layer's knockout is: its image tokens read none of\n"
    "the prompt's rows (the MLLM's image rows stay readable); 'every layer' = that in all layers, so the pooled text\n"
    "vector still carries the prompt there (docs/architectures.md).\n"
        "On Wan2.2 I2V-A14B a layer's knockout is that layer in both experts, each given its own empty-prompt context.\n"
    "Writes DIR/ablate.csv (one row per layer), DIR/ablate.json, DIR/ablate.png and DIR/ablate_runs.csv (every run).\n"
    "Ctrl-C stops after the current generation; --resume continues from ablate_runs.csv (same settings required).\n";


render::Image ablation_figure(const analysis::AblationSummary& s, const std::string& title) {
  std::vector<double> x;
  render::Series lat, pd, ad, mi, mx;
  lat.name = "mean, 95% CI";
  pd.name = "pass rate, 95% CI";
  ad.name = "agreement, 95% CI";
  mi.name = "median, 95% CI";
  mx.name = "median, 95% CI";
  for (const auto& e : s.layers) {
    x.push_back(e.layer);
    lat.y.push_back(e.latent_effect.estimate), lat.lo.push_back(e.latent_effect.lo), lat.hi.push_back(e.latent_effect.hi);
    pd.y.push_back(e.pass_drop.estimate), pd.lo.push_back(e.pass_drop.lo), pd.hi.push_back(e.pass_drop.hi);
    ad.y.push_back(e.agreement_drop.estimate), ad.lo.push_back(e.agreement_drop.lo), ad.hi.push_back(e.agreement_drop.hi);
    mi.y.push_back(e.moran_i.estimate), mi.lo.push_back(e.moran_i.lo), mi.hi.push_back(e.moran_i.hi);
    mx.y.push_back(e.moran_excess.estimate), mx.lo.push_back(e.moran_excess.lo), mx.hi.push_back(e.moran_excess.hi);
  }
  lat.x = pd.x = ad.x = mi.x = mx.x = x;
  auto plot = [&](std::vector<render::Series> series, const std::string& t, const std::string& y) {
    render::LinePlotSpec spec;
    spec.title = t;
    spec.x_label = "layer whose text is knocked out";
    spec.y_label = y;
    spec.series = std::move(series);
    spec.width = 1100;
    spec.height = 380;
    if (!x.empty()) spec.x_min = x.front() - 0.5, spec.x_max = x.back() + 0.5;
    return render::draw_line_plot(spec);
  };
  char sp[160];
  render::Image a = plot({lat}, "(a) latent moved, share of all text | " + title, "share");
  render::Image b = plot({pd, ad}, "(b) drop in text following (strict checker)", "drop");
  std::snprintf(sp, sizeof sp, "rho vs (a) = %.2f", s.spearman_latent);
  render::Image c = plot({mi}, std::string("(c) Moran's I of the keyword maps | ") + sp, "Moran's I");
  std::snprintf(sp, sizeof sp, "rho vs (a) = %.2f", s.spearman_excess_latent);
  render::Image d = plot({mx}, std::string("(d) excess over the control words | ") + sp, "excess");
  render::Image out(std::max({a.width, b.width, c.width, d.width}), a.height + b.height + c.height + d.height, 3, 255);
  int y = 0;
  for (const render::Image* im : {&a, &b, &c, &d}) render::blit(out, *im, 0, y), y += im->height;
  return out;
}

void write_outputs(const std::string& dir, const analysis::AblationSummary& s, const nlohmann::json& settings,
                   const std::string& title) {
  {
    std::ofstream csv(fs::path(dir) / "ablate.csv");
    csv << "layer,n,latent_effect,latent_lo,latent_hi,pass_drop,pass_drop_lo,pass_drop_hi,agreement_drop,"
           "agreement_drop_lo,agreement_drop_hi,pass_rate,moran_i,moran_i_lo,moran_i_hi,moran_excess,moran_excess_lo,"
           "moran_excess_hi\n";
    for (const auto& e : s.layers) {
      char b[512];
      std::snprintf(b, sizeof b, "%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n",
                    e.layer, e.n, e.latent_effect.estimate, e.latent_effect.lo, e.latent_effect.hi, e.pass_drop.estimate,
                    e.pass_drop.lo, e.pass_drop.hi, e.agreement_drop.estimate, e.agreement_drop.lo, e.agreement_drop.hi,
                    e.pass_rate, e.moran_i.estimate, e.moran_i.lo, e.moran_i.hi, e.moran_excess.estimate, e.moran_excess.lo,
                    e.moran_excess.hi);
      csv << b;
    }
    if (!csv) fail(dir + "/ablate.csv", "write failed");
  }
  nlohmann::json j = analysis::ablation_json(s);
  j["format"] = "focalscope.ablate/1";
  j["settings"] = settings;
  {
    std::ofstream out(fs::path(dir) / "ablate.json");
    out << j.dump(1) << "\n";
    if (!out) fail(dir + "/ablate.json", "write failed");
  }
  render::save_png((fs::path(dir) / "ablate.png").string(), ablation_figure(s, title));
}

int run(const std::vector<std::string>& argv0) {
  std::vector<std::string> argv = argv0;
  const std::vector<formats::LoraSpec> loras = take_lora_args(argv);  // --lora / --lora-high / --lora-low, as generate
  std::set<std::string> opts = {"suite", "out", "model-dir", "limit", "seeds", "layers", "dimension", "steps", "cfg", "threads", "bench-dir"};
  opts.insert(model_value_options().begin(), model_value_options().end());
  Args a(argv, opts, {"help", "resume", "keep-quantised"});
  if (a.flag("help")) {
    std::printf("%s%s", kUsage, kModelArgsUsage);
    return 0;
  }
  if (!a.positional().empty()) fail(a.positional()[0], "unexpected argument (see --help)");
  if (a.str("suite", "shapes") != "shapes") fail("--suite", "only 'shapes' exists");
  const std::string out_dir = a.required("out");
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));
  const int limit = static_cast<int>(a.integer("limit", 20, 1, 100000));
  const int seeds = static_cast<int>(a.integer("seeds", 1, 1, 100));
  auto model = load_model_arg(model_args_from(a, loras));
  const int L = model->num_layers();
  std::vector<int> layers = parse_index_list(a.str("layers", "all"), L, "--layers");
  if (layers.empty())
    for (int l = 0; l < L; ++l) layers.push_back(l);
  const auto cases = select_bench_cases(a.str("bench-dir"), a.str("dimension"), limit);
  AblationOptions opt;
  opt.layers = layers;
  opt.steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  opt.cfg = a.number("cfg", -1, 0, 50);

  std::vector<std::string> ids;
  for (const auto& c : cases) ids.push_back(c.id);
  const nlohmann::json settings = {{"model", fs::absolute(model->layout.dir).lexically_normal().string()},
                                   {"model_name", model->layout.variant},
                                   {"dit", train::file_fingerprint(model->layout.dit_weights)},
                                   {"cases", ids}, {"limit_per_dimension", limit}, {"seeds", seeds}, {"layers", layers},
                                   {"steps", opt.steps}, {"cfg", opt.cfg}};
  fs::create_directories(out_dir);
  const fs::path runs_path = fs::path(out_dir) / "ablate_runs.csv", settings_path = fs::path(out_dir) / "ablate_settings.json";

  // Resume: keep the complete units of a run with the same settings.
  std::vector<analysis::AblationRow> rows;
  std::set<std::pair<std::string, int>> done;
  if (a.flag("resume") && fs::exists(runs_path)) {
    nlohmann::json was;
    try {
      was = read_json_file(settings_path.string());
    } catch (const Error& e) {
      fail(settings_path.string(), "missing or unreadable, cannot resume this folder (" + std::string(e.what()) + ")");
    }
    if (was != settings) fail(settings_path.string(), "was written with other settings (model, cases, seeds, layers, steps or cfg): use another --out");
    std::map<std::pair<std::string, int>, std::vector<analysis::AblationRow>> by_unit;
    for (const auto& r : analysis::read_ablation_runs(runs_path.string())) by_unit[{r.case_id, r.seed}].push_back(r);
    for (auto& [key, v] : by_unit)
      if (v.size() == layers.size() + 2) {
        done.insert(key);
        rows.insert(rows.end(), v.begin(), v.end());
      }
  }
  {
    std::ofstream s(settings_path);
    s << settings.dump(1) << "\n";
    std::ofstream r(runs_path);  // rewritten with the complete units only
    r << analysis::ablation_csv_header() << "\n";
    for (const auto& row : rows) r << analysis::ablation_csv_line(row) << "\n";
    if (!r) fail(runs_path.string(), "cannot write");
  }

  // Wan's knockout context; the MMDiT hides the prompt's rows instead (ablate_run.h).
  std::vector<CrossContext> empty;
  if (!model->is_mmdit()) empty.push_back(text_cross_context(*model, ""));
  if (model->two_experts()) empty.push_back(text_cross_context(*model, "", 1));  // each expert's own projections
  std::atomic<bool>& cancel = install_cancel_on_sigint();
  opt.cancel = &cancel;
  const int units = static_cast<int>(cases.size()) * seeds;
  const int per_unit = static_cast<int>(layers.size()) + 2;
  const int todo = units - static_cast<int>(done.size());
  std::fprintf(stderr, "model: %s | %zu cases x %d seed(s) = %d units, %d generations each (un-ablated, all layers, %zu single "
               "layers)%s\n", model->layout.variant.c_str(), cases.size(), seeds, units, per_unit, layers.size(),
               done.empty() ? "" : (" | resuming: " + std::to_string(done.size()) + " units done").c_str());
  const auto t0 = Clock::now();
  int gens = 0, unit_no = static_cast<int>(done.size());
  bool cancelled = false;
  for (int k = 0; k < seeds && !cancelled; ++k)
    for (const auto& bc : cases) {
      if (done.count({bc.id, k})) continue;
      ++unit_no;
      const std::string label = "[ablate] unit " + std::to_string(unit_no) + "/" + std::to_string(units) + " " + bc.id +
                                " seed " + std::to_string(k) + " | generations";
      opt.on_variant = [&](int d, int) {
        ++gens;
        const double el = std::chrono::duration<double>(Clock::now() - t0).count();
        const double eta = el / gens * double(todo * per_unit - gens);
        print_progress(label, gens, todo * per_unit, el, eta);
        (void)d;
      };
      std::vector<analysis::AblationRow> unit = run_ablation_unit(*model, empty, bc, k, opt);
      if (unit.empty()) {
        cancelled = true;
        break;
      }
      std::ofstream r(runs_path, std::ios::app);
      for (const auto& row : unit) r << analysis::ablation_csv_line(row) << "\n";
      if (!r) fail(runs_path.string(), "append failed");
      rows.insert(rows.end(), unit.begin(), unit.end());
    }
  end_progress();
  if (rows.empty()) {
    std::fprintf(stderr, "no unit finished: nothing written besides the settings\n");
    return cancelled ? 130 : 1;
  }
  const analysis::AblationSummary s = analysis::summarize_ablation(rows);
  write_outputs(out_dir, s, settings, model->layout.variant + ", " + std::to_string(s.units) + " units");
  std::printf("layer  latent effect [95%% CI]      pass drop [95%% CI]        agreement drop      moran_i  excess\n");
  for (const auto& e : s.layers)
    std::printf("%5d  %6.3f [%6.3f, %6.3f]   %+6.3f [%+6.3f, %+6.3f]   %+6.3f [%+6.3f, %+6.3f]   %.4f  %+.4f\n", e.layer,
                e.latent_effect.estimate, e.latent_effect.lo, e.latent_effect.hi, e.pass_drop.estimate, e.pass_drop.lo,
                e.pass_drop.hi, e.agreement_drop.estimate, e.agreement_drop.lo, e.agreement_drop.hi, e.moran_i.estimate,
                e.moran_excess.estimate);
  std::printf("un-ablated pass rate %.3f, text knocked out of every layer %.3f (%d units)\n", s.base_pass_rate,
              s.empty_pass_rate, s.units);
  std::printf("Spearman(Moran's I, effect) over layers: latent %.2f, pass drop %.2f, agreement drop %.2f; "
              "Spearman(excess over the null, latent effect) %.2f\n",
              s.spearman_latent, s.spearman_pass, s.spearman_agreement, s.spearman_excess_latent);
  std::printf("wrote %s/{ablate.csv, ablate.json, ablate.png, ablate_runs.csv}%s\n", out_dir.c_str(),
              cancelled ? " (cancelled: partial; --resume continues)" : "");
  return cancelled ? 130 : 0;
}

}  // namespace

FOCALSCOPE_COMMAND("ablate", "causal layer attribution: knock the text out of one layer at a time, measure the drop", run);

}  // namespace focalscope::cli
