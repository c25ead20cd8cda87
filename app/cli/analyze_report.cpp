#include "app/cli/analyze_report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "engine/core/error.h"

namespace focalscope::cli {

namespace {
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}
nlohmann::json spread_json(const analysis::Spread& s) {
  return {{"min", s.min}, {"q1", s.q1}, {"median", s.median}, {"q3", s.q3}, {"max", s.max}};
}
}  // namespace

void write_per_layer_csv(const std::string& path, const std::vector<SampleOutcome>& samples) {
  std::ofstream out(path);
  if (!out) fail(path, "cannot write");
  // Wan2.2 two-expert runs add an `expert` column (high / low: which DiT ran that step).
  bool experts = false;
  for (const auto& o : samples) experts = experts || (!o.cancelled && !o.step_expert.empty());
  out << "layer,step,keyword,frame,moran_i,std,sample,pass" << (experts ? ",expert" : "") << "\n";
  for (const auto& o : samples) {
    if (o.cancelled) continue;
    for (size_t p = 0; p < o.stats.size(); ++p) {
      const auto& st = o.stats[p];
      const char* pass = o.layout.passes[p] == PassRole::Cond ? "cond" : "uncond";
      for (int l = 0; l < st.layers(); ++l)
        for (int s = 0; s < st.steps(); ++s)
          for (int k = 0; k < st.keywords(); ++k) {
            if (!st.has(l, s, k)) continue;
            for (int64_t f = 0; f < st.frames(); ++f) {
              const auto& m = st.frame_stats(l, s, k, f);
              out << o.layout.layers[l] << ',' << o.layout.steps[s] << ',' << csv_field(o.keywords[k].word) << ',' << f
                  << ',' << num(m.morans_i) << ',' << num(m.std_minmax) << ',' << csv_field(o.sample.id) << ',' << pass;
              if (experts) {
                const int step = o.layout.steps[s];
                const bool known = step >= 0 && step < static_cast<int>(o.step_expert.size());
                out << ',' << (known ? (o.step_expert[static_cast<size_t>(step)] == 1 ? "high" : "low") : "");
              }
              out << '\n';
            }
          }
    }
  }
  if (!out) fail(path, "write failed");
}

nlohmann::json metrics_json(const AnalyzeSummary& s, const std::vector<SampleOutcome>& samples) {
  using nlohmann::json;
  const AnalyzeSettings& st = *s.settings;
  json j;
  j["format"] = "focalscope.analyze/1";
  j["model"] = {{"dir", s.model_dir}, {"variant", s.model_variant}};
  const SampleOutcome* first = nullptr;
  for (const auto& o : samples)
    if (!o.cancelled) {
      first = &o;
      break;
    }
  json settings;
  if (first) {
    const RunParams& P = first->params;
    settings = {{"steps", P.steps},        {"frames", P.frames},       {"cfg", P.guide_scale},
                {"shift", P.shift},        {"solver", P.solver},       {"max_area", P.max_area},
                {"height", P.height},      {"width", P.width},
                {"token_grid", {first->layout.grid[0], first->layout.grid[1], first->layout.grid[2]}},
                {"captured_steps", first->layout.steps},
                {"captured_layers", first->layout.layers}};
    json passes = json::array();
    for (PassRole r : first->layout.passes) passes.push_back(r == PassRole::Cond ? "cond" : "uncond");
    settings["passes"] = passes;
  }
  settings["z"] = capture_source_name(st.source);
  settings["control_words"] = control_kind_name(st.control_kind);
  settings["stat_steps"] = st.stat_steps.empty() ? json("all captured") : json(st.stat_steps);
  settings["layer_value"] = "mean over latent frames (Eq. 4/5), keywords and stat_steps of the first stored pass";
  j["settings"] = settings;
  j["memory"] = {{"capture_bytes_per_sample", s.capture_bytes_per_sample}, {"layout", s.capture_layout}};

  json rule = {{"reference", analysis::weak_reference_name(s.rule->reference)}, {"margin", s.rule->margin},
               {"threshold", s.report->threshold}, {"z_threshold", s.rule->z_threshold}, {"min_drop", s.rule->min_drop}, {"min_scale", s.rule->min_scale},
               {"std_weight", s.rule->std_weight},   {"contiguous", s.rule->contiguous},
               {"response_ratio", s.rule->response_ratio}};
  if (s.rule->override_layers) rule["override"] = *s.rule->override_layers;
  j["weak_rule"] = rule;
  j["intervals"] = s.uncertainty ? "95% percentile bootstrap over samples, 1000 resamples"
                                 : "none: a single sample has no spread to resample (use --samples N >= 2)";

  const auto& R = *s.report;
  json weak = json::array();
  for (int w : R.weak) weak.push_back(s.layers[static_cast<size_t>(w)]);
  j["weak_layers"] = weak;
  j["weak_overridden"] = R.overridden;
  j["moran_center"] = R.moran_center;
  j["moran_scale"] = R.moran_scale;

  const auto mean_m = s.curves->mean_moran(), mean_s = s.curves->mean_std();
  std::vector<double> un_m, un_s;
  if (s.uncond_curves) un_m = s.uncond_curves->mean_moran(), un_s = s.uncond_curves->mean_std();
  json layers = json::array();
  for (size_t l = 0; l < s.layers.size(); ++l) {
    json e = {{"layer", s.layers[l]},
              {"moran_i", {{"mean", mean_m[l]}, {"spread", spread_json(R.moran_spread[l])}}},
              {"std", {{"mean", mean_s[l]}, {"spread", spread_json(R.std_spread[l])}}},
              {"score", R.score[l]},
              {"moran_z", R.moran_z[l]},
              {"weak", std::find(R.weak.begin(), R.weak.end(), static_cast<int>(l)) != R.weak.end()},
              {"statistic", R.statistic[l]},
              {"margin", R.margin[l]}};
    if (!R.excess_spread.empty())
      e[s.rule->reference == analysis::WeakReference::TextResponse ? "relative_text_response" : "excess_over_null"] =
          spread_json(R.excess_spread[l]);
    if (s.curves && !s.curves->random_mean().empty()) {
      const auto& rv = s.curves->random_mean()[l];
      std::vector<double> v(rv.begin(), rv.end());
      e["random_direction_moran_i"] = spread_json(analysis::spread_of(v));
    }
    if (s.uncertainty) {
      const auto& u = (*s.uncertainty)[l];
      e["moran_i"]["median_ci95"] = {u.moran_lo, u.moran_hi};
      e["statistic_ci95"] = {u.statistic_lo, u.statistic_hi};
      e["p_weak"] = u.p_weak;
    }
    if (!un_m.empty()) e["uncond"] = {{"moran_i_mean", un_m[l]}, {"std_mean", un_s[l]}};
    layers.push_back(e);
  }
  j["layers"] = layers;
  // Wan2.2: each expert's own weak-layer decision (the rule above on the stat steps that expert ran).
  if (!s.experts.empty()) {
    json by = json::object();
    for (const auto& x : s.experts) {
      json weak_x = json::array(), per = json::array();
      for (int w : x.report.weak) weak_x.push_back(s.layers[static_cast<size_t>(w)]);
      const auto mm = x.curves->mean_moran();
      for (size_t l = 0; l < s.layers.size(); ++l) {
        json e = {{"layer", s.layers[l]}, {"moran_i_mean", mm[l]}, {"statistic", x.report.statistic[l]}, {"margin", x.report.margin[l]}};
        if (s.uncertainty) {
          const auto& u = x.uncertainty[l];
          e["moran_i_median_ci95"] = {u.moran_lo, u.moran_hi};
          e["statistic_ci95"] = {u.statistic_lo, u.statistic_hi};
          e["p_weak"] = u.p_weak;
        }
        per.push_back(e);
      }
      by[x.name] = {{"samples", x.curves->samples()}, {"weak_layers", weak_x}, {"threshold", x.report.threshold}, {"layers", per}};
    }
    j["weak_layers_by_expert"] = by;
  }

  json js = json::array();
  for (const auto& o : samples) {
    json e = {{"id", o.sample.id}, {"image", o.sample.image_path}, {"prompt", o.sample.prompt}, {"seed", o.sample.seed}};
    json kws = json::array();
    for (const auto& k : o.keywords) kws.push_back({{"word", k.word}, {"tokens", k.tokens}});
    e["keywords"] = kws;
    e["cancelled"] = o.cancelled;
    if (!o.cancelled) {
      std::vector<double> m, sd;
      for (const auto& v : o.layer_values) m.push_back(v.morans_i), sd.push_back(v.std_minmax);
      e["layer_moran_i"] = m;
      e["layer_std"] = sd;
      if (!o.step_expert.empty()) {  // Wan2.2 I2V-A14B: which expert ran each step, and the layer curve of each
        e["step_expert"] = o.step_expert;
        json by = json::object();
        for (size_t x = 0; x < o.by_expert.size(); ++x) {
          std::vector<double> mi;
          for (const auto& v : o.by_expert[x].layer_values) mi.push_back(v.morans_i);
          by[x == 1 ? "high_noise" : "low_noise"] = mi;  // [] when that expert ran none of the stat steps
        }
        e["layer_moran_i_by_expert"] = by;
      }
      if (!o.random_moran.empty()) e["layer_random_moran_i"] = o.random_moran;  // [layer][direction]
      if (!o.control_moran.empty()) e["layer_control_moran_i"] = o.control_moran;
      if (!o.text_response.empty()) e["layer_text_response"] = o.text_response;
      if (o.control_looked_for) e["control_words"] = o.control_words;
      e["seconds_generate"] = o.seconds_generate;
      e["seconds_stats"] = o.seconds_stats;
    }
    js.push_back(e);
  }
  j["samples"] = js;
  // Wan2.2 I2V-A14B: the mean layer curve (Moran's I) of each expert over the samples: do the two experts have the
  // same weak layers? (mean over the samples whose stat steps that expert ran)
  {
    std::vector<std::vector<double>> sum(2);
    std::vector<int> n(2, 0);
    for (const auto& o : samples) {
      if (o.cancelled) continue;
      for (size_t x = 0; x < o.by_expert.size() && x < 2; ++x) {
        const auto& v = o.by_expert[x].layer_values;
        if (v.empty()) continue;
        if (sum[x].empty()) sum[x].assign(v.size(), 0.0);
        if (sum[x].size() != v.size()) continue;
        for (size_t l = 0; l < v.size(); ++l) sum[x][l] += v[l].morans_i;
        ++n[x];
      }
    }
    if (n[0] + n[1] > 0) {
      json by = json::object();
      for (int x = 0; x < 2; ++x) {
        std::vector<double> mean;
        for (double v : sum[static_cast<size_t>(x)]) mean.push_back(v / n[static_cast<size_t>(x)]);
        by[x == 1 ? "high_noise" : "low_noise"] = {{"samples", n[static_cast<size_t>(x)]}, {"moran_i_mean", mean}};
      }
      j["layers_by_expert"] = by;
    }
  }
  j["samples_done"] = s.curves->samples();
  j["cancelled"] = s.cancelled;
  j["seconds_total"] = s.seconds_total;
  j["figures"] = s.figures;
  return j;
}

std::string moran_line(const std::vector<analysis::MapStats>& values) {
  std::string line;
  for (const auto& v : values) {
    char b[16];
    std::snprintf(b, sizeof b, "%s%.2f", line.empty() ? "" : " ", v.morans_i);
    line += b;
  }
  return line;
}

void print_weak_layer_table(const std::vector<int>& layer_ids, const std::vector<analysis::LayerUncertainty>& unc,
                            const analysis::WeakLayerReport& report, const analysis::WeakLayerOptions& rule, int samples,
                            double bootstrap_seconds) {
  const bool has_intervals = samples >= 2;
  const bool by_null = analysis::uses_null(rule.reference);
  const bool by_words = rule.reference == analysis::WeakReference::ControlWords;
  const bool by_response = rule.reference == analysis::WeakReference::TextResponse;
  std::printf("layer  moran_i median [95%% CI]      %s [95%% CI]        margin  P(weak)  weak\n",
              by_response ? "text response / trend    " : by_words ? "excess over control words"
              : by_null   ? "excess over random dirs"   : "score (robust z)         ");
  for (size_t l = 0; l < layer_ids.size(); ++l) {
    const auto& u = unc[l];
    const bool weak = std::find(report.weak.begin(), report.weak.end(), static_cast<int>(l)) != report.weak.end();
    if (has_intervals)
      std::printf("%5d  %.4f [%.4f, %.4f]     %+8.4f [%+.4f, %+.4f]   %+7.4f   %5.2f   %s\n", layer_ids[l], u.moran_median,
                  u.moran_lo, u.moran_hi, u.statistic, u.statistic_lo, u.statistic_hi, report.margin[l], u.p_weak,
                  weak ? "WEAK" : "");
    else
      std::printf("%5d  %.4f [   n/a,    n/a]     %+8.4f [    n/a,     n/a]   %+7.4f     n/a   %s\n", layer_ids[l],
                  u.moran_median, u.statistic, report.margin[l], weak ? "WEAK" : "");
  }
  if (!has_intervals)
    std::printf("one sample: no interval and no P(weak) (the bootstrap resamples samples; use --samples N, N >= 2 — the "
                "validated protocol is --suite shapes --samples 30 --interleave)\n");
  std::printf("rule: %s (threshold %+.4f; margin > 0 = weak by that much); intervals: percentile bootstrap over %d "
              "samples, 1000 resamples (%.2f s)\n",
              by_response ? "the layer's text response (keywords swapped) over the layers' depth trend, median over "
                            "samples, < ratio"
              : by_words  ? "excess of the keyword maps' Moran's I over the control words' maps, median over samples, < -margin"
              : by_null ? "excess of the keyword maps' Moran's I over the random-direction null, median over samples, < -margin"
                        : "robust z against the median layer",
              report.threshold, samples, bootstrap_seconds);
}

}  // namespace focalscope::cli
