// focalscope sweep: the Shapes benchmark over a grid of Focal Guidance parameters -> sweep.csv + sweep.png.
//
//   focalscope sweep --grid "lambda_txt=0,0.5,1;tau_cache=0.1,0.3" [--guidance fg] [--limit 20] [--seeds 1]
//
// Parameter names are GuidanceConfig's JSON keys (docs/focal_guidance.md), so every parameter a config file can
// hold can be swept, validated the same way. The grid is the Cartesian product; the baseline (guidance off) is
// measured once, on the same cases and seeds, and drawn as the reference line.
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/cli/args.h"
#include "app/cli/bench_runner.h"
#include "app/cli/command.h"
#include "app/cli/guidance_args.h"
#include "app/cli/model_arg.h"
#include "engine/core/error.h"
#include "engine/core/blas_check.h"
#include "render/figures.h"
#include "render/image.h"

namespace fs = std::filesystem;

namespace focalscope::cli {
namespace {

struct GridAxis {
  std::string key;
  std::vector<double> values;
};

std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    const size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::vector<GridAxis> parse_grid(const std::string& spec, const GuidanceConfig& base) {
  std::vector<GridAxis> axes;
  const nlohmann::json keys = base.to_json();
  for (const auto& part : split_on(spec, ';')) {
    const size_t eq = part.find('=');
    if (eq == std::string::npos) fail("--grid", "'" + part + "' is not name=v1,v2,...");
    GridAxis ax;
    ax.key = part.substr(0, eq);
    if (!keys.contains(ax.key) || !keys[ax.key].is_number())
      fail("--grid", "'" + ax.key + "' is not a numeric guidance parameter (tau_sel, tau_region, tau_cache, lambda_txt, "
                     "lambda_lat, lambda_cache)");
    for (const auto& v : split_on(part.substr(eq + 1), ',')) {
      try {
        size_t used = 0;
        ax.values.push_back(std::stod(v, &used));
        if (used != v.size()) throw std::invalid_argument(v);
      } catch (const std::exception&) {
        fail("--grid", "'" + v + "' (for " + ax.key + ") is not a number");
      }
    }
    if (ax.values.empty()) fail("--grid", ax.key + " has no values");
    axes.push_back(ax);
  }
  if (axes.empty()) fail("--grid", "is required, e.g. \"lambda_txt=0,0.5,1;tau_cache=0.1,0.3\"");
  return axes;
}

int run(const std::vector<std::string>& argv) {
  std::set<std::string> opts = {"grid", "dimension", "seeds", "limit", "out", "steps", "cfg", "model-dir", "bench-dir", "threads"};
  opts.insert(guidance_value_options().begin(), guidance_value_options().end());
  Args a(argv, opts, {"help"});
  if (a.flag("help")) {
    std::printf(
        "usage: focalscope sweep --grid \"name=v1,v2,...;name2=...\" [--guidance fsg|ac|fg] [--limit N] [--seeds N]\n"
        "                        [--dimension D] [--out DIR] [--steps N] [--cfg X] [--model-dir DIR] [guidance flags]\n"
        "Runs the Shapes benchmark at every point of the grid (Cartesian product; names are guidance-config keys:\n"
        "tau_sel, tau_region, tau_cache, lambda_txt, lambda_lat, lambda_cache) plus the baseline (guidance off), and\n"
        "writes DIR/sweep.csv (one row per point: the parameters, Total, each dimension, I2V Subject/Background,\n"
        "mean and std over seeds) and DIR/sweep.png (Total and each dimension per point, baseline Total dashed).\n"
        "--guidance defaults to fg; the other guidance flags set the parameters that are not swept.\n");
    return 0;
  }
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));  // ATen and OpenBLAS
  GuidanceConfig base = guidance_from_args(a);
  if (!a.has("guidance")) base.set_mode("fg");
  if (!base.fsg && !base.ac) fail("--guidance", "a sweep needs fsg, ac or fg");
  const std::vector<GridAxis> axes = parse_grid(a.required("grid"), base);
  std::vector<std::vector<double>> points(1);
  for (const auto& ax : axes) {
    std::vector<std::vector<double>> next;
    for (const auto& p : points)
      for (double v : ax.values) {
        auto q = p;
        q.push_back(v);
        next.push_back(q);
      }
    points = next;
  }
  if (points.size() > 400) fail("--grid", std::to_string(points.size()) + " points; at most 400");
  std::vector<GuidanceConfig> configs;
  for (const auto& p : points) {
    nlohmann::json j = base.to_json();
    for (size_t i = 0; i < axes.size(); ++i) j[axes[i].key] = p[i];
    GuidanceConfig c = GuidanceConfig::from_json(j, "--grid");  // validates ranges (one line naming the key)
    bool sweeps_sel = false, sweeps_cache = false;
    for (const auto& ax : axes) sweeps_sel |= ax.key == "tau_sel", sweeps_cache |= ax.key == "tau_cache";
    c.tau_sel_given = base.tau_sel_given || sweeps_sel;  // the rest keep the model's calibrated thresholds
    c.tau_cache_given = base.tau_cache_given || sweeps_cache;
    configs.push_back(c);
  }

  const int seeds = static_cast<int>(a.integer("seeds", 1, 1, 100));
  std::map<std::string, int> per_dim;
  const auto cases = select_bench_cases(a.str("bench-dir"), a.str("dimension"), static_cast<int>(a.integer("limit", 0, 0, 100000)), &per_dim);
  auto model = load_model_arg(a.str("model-dir"));
  BenchOptions opt;
  opt.seeds = seeds;
  opt.steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  opt.cfg = a.number("cfg", -1, 0, 50);
  const auto t0 = std::chrono::steady_clock::now();
  size_t point = 0;
  opt.on_case = [&](const std::string& name, int seed, int done, int total, const analysis::CaseScore&) {
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "\r[point %zu/%zu: %s, seed %d] %d/%d cases | %.0f s   ", point, points.size(), name.c_str(), seed,
                 done, total, el);
    if (done == total) std::fprintf(stderr, "\n");
  };

  BenchSetting baseline_setting;
  baseline_setting.name = "baseline";
  const analysis::RowStats baseline = run_bench_setting(*model, cases, baseline_setting, opt);
  std::vector<analysis::RowStats> rows;
  for (size_t i = 0; i < configs.size(); ++i) {
    point = i + 1;
    BenchSetting s;
    s.guidance = configs[i];
    std::ostringstream name;
    for (size_t k = 0; k < axes.size(); ++k) name << (k ? " " : "") << axes[k].key << "=" << points[i][k];
    s.name = name.str();
    rows.push_back(run_bench_setting(*model, cases, s, opt));
  }

  const std::string out_dir = a.str("out", "sweep_out");
  fs::create_directories(out_dir);
  std::ofstream csv(fs::path(out_dir) / "sweep.csv");
  csv << "point,mode";
  for (const auto& ax : axes) csv << ',' << ax.key;
  csv << ",total,total_std,dynamic_attributes,motion,interaction,i2v_subject,i2v_background,seeds,cases\n";
  auto row_csv = [&](const std::string& pt, const std::string& mode, const std::vector<double>& vals, const analysis::RowStats& r) {
    const auto m = r.mean();
    csv << pt << ',' << mode;
    for (size_t k = 0; k < axes.size(); ++k) csv << ',' << (vals.empty() ? std::string("") : std::to_string(vals[k]));
    csv << ',' << m.total << ',' << r.stddev().total << ',' << m.dynamic_attributes << ',' << m.motion << ','
        << m.interaction << ',' << m.subject << ',' << m.background << ',' << seeds << ',' << cases.size() << '\n';
  };
  row_csv("baseline", "off", {}, baseline);
  for (size_t i = 0; i < rows.size(); ++i) row_csv(std::to_string(i + 1), base.mode(), points[i], rows[i]);

  render::LinePlotSpec plot;
  plot.title = "Focal Guidance sweep (" + base.mode() + ", " + std::to_string(cases.size()) + " cases, " +
               std::to_string(seeds) + " seed" + (seeds > 1 ? "s" : "") + ")";
  const bool one_axis = axes.size() == 1;
  plot.x_label = one_axis ? axes[0].key : "grid point (parameters in sweep.csv)";
  plot.y_label = "score";
  auto series = [&](const char* name, double analysis::SeedScores::*field, float thick) {
    render::Series s;
    s.name = name;
    s.thickness = thick;
    for (size_t i = 0; i < rows.size(); ++i) {
      s.x.push_back(one_axis ? points[i][0] : double(i + 1));
      s.y.push_back(rows[i].mean().*field);
    }
    return s;
  };
  // With --dimension only that dimension is measured: series of unmeasured ones (NaN) are left out.
  auto add_measured = [&](render::Series sr) {
    for (double y : sr.y)
      if (std::isfinite(y)) return plot.series.push_back(std::move(sr));
  };
  add_measured(series("Total", &analysis::SeedScores::total, 3.5f));
  add_measured(series("Dynamic attributes", &analysis::SeedScores::dynamic_attributes, 2.0f));
  add_measured(series("Motion", &analysis::SeedScores::motion, 2.0f));
  add_measured(series("Interaction", &analysis::SeedScores::interaction, 2.0f));
  add_measured(series("I2V Subject", &analysis::SeedScores::subject, 1.5f));
  render::Series base_line = series("Baseline Total", &analysis::SeedScores::total, 1.5f);
  for (auto& y : base_line.y) y = baseline.mean().total;
  base_line.color = render::Color{90, 90, 90, 255};
  add_measured(base_line);
  plot.y_min = 0;
  plot.y_max = 1;
  render::save_png((fs::path(out_dir) / "sweep.png").string(), render::draw_line_plot(plot));
  // The headline number: Total, or the one dimension measured (--dimension).
  auto headline = [](const analysis::SeedScores& m) -> std::pair<const char*, double> {
    if (std::isfinite(m.total)) return {"Total", m.total};
    if (std::isfinite(m.motion)) return {"Motion", m.motion};
    if (std::isfinite(m.interaction)) return {"Interaction", m.interaction};
    return {"Dynamic attributes", m.dynamic_attributes};
  };
  const auto [what, base_value] = headline(baseline.mean());
  std::printf("baseline %s %.4f\n", what, base_value);
  for (size_t i = 0; i < rows.size(); ++i)
    std::printf("%-40s %s %.4f (%+.4f)\n", rows[i].name.c_str(), what, headline(rows[i].mean()).second,
                headline(rows[i].mean()).second - base_value);
  std::printf("wrote %s/sweep.csv and sweep.png\n", out_dir.c_str());
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("sweep", "Shapes benchmark over a grid of guidance parameters -> CSV + PNG plot", run);

}  // namespace focalscope::cli
