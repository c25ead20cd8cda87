// focalscope validate-detector: the weak-layer detector against planted ground truth. For each planted model
// (`train --finetune plant-weak`, manifest key planted_weak_layers) and its base, the same `analyze` samples are run;
// what planting made weak is what is detected on the planted model and not on its base, compared with the planted set
// (precision, recall). The base's own weak layers are reported, not counted. Several rules can be scored on the same
// curves (--rules), so a rule can be chosen on some planted models and reported on another.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "analysis/layer_stats.h"
#include "analysis/weak_layers.h"
#include "app/cli/analyze_run.h"
#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/media.h"
#include "app/cli/model_arg.h"
#include "app/cli/progress.h"
#include "engine/core/blas_check.h"
#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/train/latent_pool.h"
#include "render/figures.h"
#include "render/image.h"

namespace focalscope::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kUsage =
    "usage: focalscope validate-detector --models DIR1,DIR2,... --out DIR [--base DIR] [--samples N] [--rules LIST]\n"
    "                                    [--control other-words|absent] [--reuse] [--threads N]\n"
    "Runs `analyze --suite shapes --samples N --interleave` (default N 30) on every planted model and on its base (the\n"
    "manifest's base folder unless --base), and compares (detected on the planted model - detected on the base) with\n"
    "the model's planted_weak_layers: precision, recall and per-layer scores. Writes DIR/validation.json,\n"
    "DIR/validation.md, DIR/validation.png and each model's curves (DIR/curves/*.json; --reuse reads them back\n"
    "instead of generating again when their settings match).\n"
    "--rules LIST scores several rules on the same curves, e.g. response:0.25,words:0.03,random:0,median (default:\n"
    "analyze's).\n"
    "--control picks the control words of the words rule, as in analyze (default other-words).\n";

// What the text response compares the prompt with (analyze_run.cpp); curves measured otherwise are not reused.
constexpr const char* kResponseComparedWith = "one absent same-class word per keyword, else the empty prompt";

struct ModelCurves {
  std::string dir, name, fingerprint;
  std::vector<int> planted;  // empty for a base
  std::string base_dir;
  std::vector<std::vector<double>> moran, std_dev, random, control, response;  // [layer][sample]
  const std::vector<std::vector<double>>& null_for(analysis::WeakReference r) const {
    return r == analysis::WeakReference::ControlWords ? control
           : r == analysis::WeakReference::TextResponse ? response
                                                         : random;
  }
};

std::string slug(const std::string& dir) {
  std::string s = fs::absolute(dir).lexically_normal().string(), out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  while (out.size() > 80) out.erase(0, 1);
  return out;
}

json curves_json(const ModelCurves& c, int samples, ControlKind ck) {
  return {{"dir", c.dir}, {"name", c.name}, {"dit", c.fingerprint}, {"samples", samples},
          {"control_kind", control_kind_name(ck)},
          {"moran", c.moran}, {"std", c.std_dev}, {"random", c.random}, {"control", c.control}, {"response", c.response},
          {"response_compared_with", kResponseComparedWith}};
}

// Analyses one model folder over the suite samples (or reads its cached curves).
ModelCurves model_curves(const std::string& dir, int n, ControlKind ck, const std::string& cache_dir, bool reuse,
                         const std::atomic<bool>& cancel) {
  auto m = load_model_arg(dir);
  ModelCurves c;
  c.dir = m->layout.dir;
  c.name = m->layout.variant;
  c.fingerprint = train::file_fingerprint(m->layout.dit_weights);
  const fs::path cache = fs::path(cache_dir) / (slug(c.dir) + ".json");
  if (reuse && fs::exists(cache)) {
    json j;
    try {
      j = read_json_file(cache.string());
      // Curves written before the control kind was recorded used the prompt's other words.
      // Curves written before the text response was measured are analysed again.
      if (j.at("dit") == c.fingerprint && j.at("samples") == n &&
          j.value("response_compared_with", std::string()) == kResponseComparedWith &&
          j.value("control_kind", std::string("other-words")) == control_kind_name(ck)) {
        c.moran = j.at("moran").get<std::vector<std::vector<double>>>();
        c.std_dev = j.at("std").get<std::vector<std::vector<double>>>();
        c.random = j.at("random").get<std::vector<std::vector<double>>>();
        c.control = j.at("control").get<std::vector<std::vector<double>>>();
        c.response = j.at("response").get<std::vector<std::vector<double>>>();
        std::fprintf(stderr, "%s: curves read from %s\n", c.dir.c_str(), cache.c_str());
        return c;
      }
    } catch (const std::exception&) {
      // stale or foreign file: analyse again
    }
  }
  AnalyzeSettings st;
  st.random_directions = 20;
  st.control_kind = ck;
  std::vector<AnalyzeSample> samples = suite_samples(*m, find_bench_root("shapes"), n, /*interleave=*/true, 0, {});
  analysis::LayerCurves curves(m->num_layers());
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < samples.size(); ++i) {
    samples[i].image = load_image_tensor(samples[i].image_path);
    RunHooks hooks;
    hooks.cancel = &cancel;
    SampleOutcome o = run_analysis_sample(*m, samples[i], st, /*keep_maps=*/false, hooks);
    if (o.cancelled) fail("validate-detector", "cancelled");
    add_to_curves(o, curves);
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_progress("[analyze] " + fs::path(c.dir).filename().string() + " samples", static_cast<int>(i + 1),
                   static_cast<int>(samples.size()), el, el / double(i + 1) * double(samples.size() - i - 1));
  }
  end_progress();
  c.moran = curves.moran();
  c.std_dev = curves.std_minmax();
  c.random = curves.random_mean();
  c.control = curves.control_words();
  c.response = curves.text_response();
  fs::create_directories(cache_dir);
  std::ofstream(cache) << curves_json(c, n, ck).dump() << "\n";
  return c;
}

struct RuleSpec {
  std::string name;
  analysis::WeakLayerOptions options;
};

std::vector<RuleSpec> parse_rules(const std::string& spec) {
  std::vector<RuleSpec> out;
  std::stringstream ss(spec);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) continue;
    RuleSpec r;
    r.name = item;
    const auto colon = item.find(':');
    const std::string kind = item.substr(0, colon);
    r.options = analysis::validated_weak_rule();
    r.options.reference = analysis::parse_weak_reference(kind);
    // The median rule's defaults are the struct's own (the original rule); its reference is the default one.
    if (!analysis::uses_reference_curves(r.options.reference)) r.options = analysis::WeakLayerOptions{};
    if (colon != std::string::npos) {
      try {
        size_t used = 0;
        const std::string num = item.substr(colon + 1);
        const double v = std::stod(num, &used);
        if (used != num.size()) throw std::invalid_argument(num);
        if (r.options.reference == analysis::WeakReference::TextResponse) r.options.response_ratio = v;
        else if (analysis::uses_null(r.options.reference)) r.options.margin = v;
        else r.options.z_threshold = v;
      } catch (const std::exception&) {
        fail("--rules", "'" + item + "': expected response:RATIO, words:MARGIN, random:MARGIN or median:Z");
      }
    }
    out.push_back(r);
  }
  if (out.empty()) fail("--rules", "no rule given");
  return out;
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s.empty() ? "none" : s;
}

int run(const std::vector<std::string>& argv) {
  Args a(argv, {"models", "base", "samples", "out", "rules", "threads", "control"}, {"help", "reuse"});
  if (a.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (!a.positional().empty()) fail(a.positional()[0], "unexpected argument (see --help)");
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));
  const std::string out_dir = a.required("out");
  const int n = static_cast<int>(a.integer("samples", 30, 2, 100000));
  const ControlKind ck = parse_control_kind(a.str("control", "other-words"));
  std::vector<std::string> dirs;
  {
    std::stringstream ss(a.required("models"));
    for (std::string d; std::getline(ss, d, ',');)
      if (!d.empty()) dirs.push_back(d);
  }
  if (dirs.empty()) fail("--models", "no model folder given");
  std::vector<RuleSpec> rules =
      a.has("rules") ? parse_rules(a.str("rules")) : std::vector<RuleSpec>{{"default", analysis::validated_weak_rule()}};
  fs::create_directories(out_dir);
  std::atomic<bool>& cancel = install_cancel_on_sigint();

  // Planted models and their bases (read from the manifests before anything runs).
  std::vector<ModelCurves> planted;
  std::map<std::string, ModelCurves> bases;
  for (const auto& d : dirs) {
    auto m = load_model_arg(d);
    const json& mf = m->layout.manifest;
    if (!mf.contains("planted_weak_layers"))
      fail(m->layout.dir + "/focalscope.json", "has no planted_weak_layers: not a planted model (train --finetune plant-weak)");
    ModelCurves c;
    c.planted = mf["planted_weak_layers"].get<std::vector<int>>();
    if (a.has("base")) c.base_dir = resolve_model_dir(a.str("base"));
    else if (mf.contains("base") && mf["base"].contains("dir"))
      c.base_dir = (fs::path(m->layout.dir) / mf["base"]["dir"].get<std::string>()).lexically_normal().string();
    else c.base_dir = resolve_model_dir("");
    c.dir = m->layout.dir;
    planted.push_back(c);
  }
  for (auto& p : planted) {
    const std::vector<int> pl = p.planted;
    const std::string bd = p.base_dir;
    p = model_curves(p.dir, n, ck, (fs::path(out_dir) / "curves").string(), a.flag("reuse"), cancel);
    p.planted = pl;
    p.base_dir = bd;
    const std::string key = fs::absolute(bd).lexically_normal().string();
    if (!bases.count(key)) bases[key] = model_curves(bd, n, ck, (fs::path(out_dir) / "curves").string(), a.flag("reuse"), cancel);
  }

  json jr = json::array();
  std::ostringstream md;
  md << "# Detector validation (" << n << " samples per model, `analyze --suite shapes --interleave`)\n\n";
  md << "Truth: the layers planting made weak = detected on the planted model and not on its base, compared with the "
        "planted set. The base's own weak layers are reported, not counted.\n\n";
  for (const auto& rule : rules) {
    const analysis::WeakLayerDetector det(rule.options);
    md << "## Rule `" << rule.name << "` (" << analysis::weak_reference_name(rule.options.reference);
    if (rule.options.reference == analysis::WeakReference::TextResponse) md << ", ratio " << rule.options.response_ratio;
    else if (analysis::uses_null(rule.options.reference)) md << ", margin " << rule.options.margin;
    else md << ", z " << rule.options.z_threshold << ", min drop " << rule.options.min_drop;
    md << ")\n\n| model | planted | detected | detected on base | planted - base (found) | precision | recall |\n"
          "| --- | --- | --- | --- | --- | ---: | ---: |\n";
    json jrule = {{"rule", rule.name}, {"reference", analysis::weak_reference_name(rule.options.reference)},
                  {"margin", rule.options.margin}, {"z_threshold", rule.options.z_threshold},
                  {"response_ratio", rule.options.response_ratio}, {"models", json::array()}};
    for (const auto& p : planted) {
      const ModelCurves& b = bases.at(fs::absolute(p.base_dir).lexically_normal().string());
      const auto ref = rule.options.reference;
      const auto rp = det.detect(p.moran, p.std_dev, p.null_for(ref));
      const auto rb = det.detect(b.moran, b.std_dev, b.null_for(ref));
      const auto up = analysis::bootstrap_weak_layers(det, p.moran, p.std_dev, p.null_for(ref));
      const auto ub = analysis::bootstrap_weak_layers(det, b.moran, b.std_dev, b.null_for(ref));
      std::vector<int> found;
      for (int l : rp.weak)
        if (!std::count(rb.weak.begin(), rb.weak.end(), l)) found.push_back(l);
      int tp = 0;
      for (int l : found) tp += static_cast<int>(std::count(p.planted.begin(), p.planted.end(), l));
      // Nothing found: precision is undefined (0 / 0), shown as "-" and null, not as 0.
      const double precision = found.empty() ? std::nan("") : double(tp) / double(found.size());
      char prec[16] = "-";
      if (!found.empty()) std::snprintf(prec, sizeof prec, "%.2f", precision);
      const double recall = p.planted.empty() ? 0.0 : double(tp) / double(p.planted.size());
      json layers = json::array();
      for (size_t l = 0; l < rp.statistic.size(); ++l)
        layers.push_back({{"layer", l}, {"planted", std::count(p.planted.begin(), p.planted.end(), int(l)) > 0},
                          {"statistic", rp.statistic[l]}, {"statistic_ci95", {up[l].statistic_lo, up[l].statistic_hi}},
                          {"margin", rp.margin[l]}, {"p_weak", up[l].p_weak},
                          {"base_statistic", rb.statistic[l]}, {"base_statistic_ci95", {ub[l].statistic_lo, ub[l].statistic_hi}},
                          {"base_margin", rb.margin[l]}, {"base_p_weak", ub[l].p_weak},
                          {"moran_i", rp.moran_spread[l].median}, {"base_moran_i", rb.moran_spread[l].median}});
      jrule["models"].push_back({{"dir", p.dir}, {"name", p.name}, {"base", b.dir}, {"planted", p.planted},
                                 {"detected", rp.weak}, {"detected_on_base", rb.weak}, {"found", found},
                                 {"precision", found.empty() ? json(nullptr) : json(precision)}, {"recall", recall},
                                 {"layers", layers}});
      char row[512];
      std::snprintf(row, sizeof row, "| %s | %s | %s | %s | %s | %s | %.2f |\n", p.name.c_str(),
                    join(p.planted).c_str(), join(rp.weak).c_str(), join(rb.weak).c_str(), join(found).c_str(), prec,
                    recall);
      md << row;
      std::printf("[%s] %s: planted %s | detected %s | on base %s | found %s | precision %s recall %.2f\n",
                  rule.name.c_str(), p.dir.c_str(), join(p.planted).c_str(), join(rp.weak).c_str(), join(rb.weak).c_str(),
                  join(found).c_str(), prec, recall);
    }
    md << "\n";
    jr.push_back(jrule);
  }

  // Per-layer statistic of every model next to its base (first rule), planted layers shaded.
  const analysis::WeakLayerDetector det0(rules.front().options);
  std::vector<render::Image> panels;
  for (const auto& p : planted) {
    const ModelCurves& b = bases.at(fs::absolute(p.base_dir).lexically_normal().string());
    const auto ref0 = rules.front().options.reference;
    const auto up = analysis::bootstrap_weak_layers(det0, p.moran, p.std_dev, p.null_for(ref0));
    const auto ub = analysis::bootstrap_weak_layers(det0, b.moran, b.std_dev, b.null_for(ref0));
    const auto rp = det0.detect(p.moran, p.std_dev, p.null_for(ref0));
    render::Series sp, sb, th;
    sp.name = "planted model (95% CI)";
    sb.name = "base (95% CI)";
    sb.color = render::Color{120, 120, 120, 255};
    th.name = "threshold";
    th.color = render::Color{200, 0, 0, 255};
    th.thickness = 1.0f;
    for (size_t l = 0; l < up.size(); ++l) {
      sp.x.push_back(double(l)), sb.x.push_back(double(l)), th.x.push_back(double(l));
      sp.y.push_back(up[l].statistic), sp.lo.push_back(up[l].statistic_lo), sp.hi.push_back(up[l].statistic_hi);
      sb.y.push_back(ub[l].statistic), sb.lo.push_back(ub[l].statistic_lo), sb.hi.push_back(ub[l].statistic_hi);
      th.y.push_back(rp.threshold);
    }
    render::LinePlotSpec spec;
 spec.title = p.name + ": planted " + join(p.planted) + "  (rule " + rules.front().name + ")";
    spec.x_label = "layer";
    spec.y_label = ref0 == analysis::WeakReference::LayerMedian    ? "robust z"
                   : ref0 == analysis::WeakReference::TextResponse ? "text response / depth trend"
                                                                   : "excess over the null";
    spec.series = {sb, sp, th};
    for (int l : p.planted) spec.shaded.push_back({l - 0.5, l + 0.5, render::Color{213, 94, 0, 50}, "planted"});
    spec.width = 1000;
    spec.height = 340;
    spec.x_min = -0.5;
    spec.x_max = double(up.size()) - 0.5;
    panels.push_back(render::draw_line_plot(spec));
  }
  int H = 0, W = 0;
  for (const auto& im : panels) H += im.height, W = std::max(W, im.width);
  render::Image fig(W, H, 3, 255);
  int y = 0;
  for (const auto& im : panels) render::blit(fig, im, 0, y), y += im.height;
  render::save_png((fs::path(out_dir) / "validation.png").string(), fig);
  std::ofstream(fs::path(out_dir) / "validation.json") << json{{"samples", n}, {"rules", jr}}.dump(1) << "\n";
  std::ofstream(fs::path(out_dir) / "validation.md") << md.str();
  std::printf("wrote %s/{validation.json, validation.md, validation.png}\n", out_dir.c_str());
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("validate-detector", "weak-layer detector vs planted ground truth: precision / recall per planted model", run);

}  // namespace focalscope::cli
