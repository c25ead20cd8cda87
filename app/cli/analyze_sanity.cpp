#include "app/cli/analyze_sanity.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "analysis/resampling.h"
#include "analysis/weak_layers.h"
#include "engine/core/error.h"
#include "engine/shapes/shapes_vocab.h"
#include "engine/shapes/shapes_world.h"
#include "engine/train/shapes_data.h"

namespace focalscope::cli {
namespace {

using nlohmann::json;

// What one probe run yields: per layer and keyword the map's Moran's I (mean over frames and steps) and its
// reference-frame map averaged over steps; per layer the random-direction baseline per direction.
struct Probe {
  std::vector<std::vector<double>> moran;                // [layer][keyword]
  std::vector<std::vector<std::vector<float>>> frame0;   // [layer][keyword][H' * W']
  std::vector<std::vector<double>> random;               // [layer][direction]
  int64_t grid_h = 0, grid_w = 0;
  bool cancelled = false;
};

Probe run_probe(const ModelBundle& m, const at::Tensor& image, const std::string& prompt,
                const std::vector<std::string>& keywords, int64_t seed, const AnalyzeSettings& st,
                const SanityOptions& opt) {
  AnalyzeSample s;
  s.id = "sanity";
  s.image = image;
  s.prompt = prompt;
  s.keywords = keywords;
  s.seed = seed;
  AnalyzeSettings cfg = st;
  cfg.random_directions = std::max(cfg.random_directions, 20);
  RunHooks hooks;
  hooks.cancel = opt.cancel;
  SampleOutcome o = run_analysis_sample(m, s, cfg, /*keep_maps=*/true, hooks);
  if (opt.on_generation) opt.on_generation();
  Probe p;
  if (o.cancelled) {
    p.cancelled = true;
    return p;
  }
  const CaptureLayout& L = o.capture->layout();
  p.grid_h = L.grid[1];
  p.grid_w = L.grid[2];
  const auto per = o.stats.front().layer_keyword_means(stat_step_slots(o.layout, cfg.stat_steps));
  const int64_t hw = p.grid_h * p.grid_w;
  std::vector<float> buf(static_cast<size_t>(L.map_elems()));
  for (size_t l = 0; l < L.layers.size(); ++l) {
    p.moran.emplace_back();
    p.frame0.emplace_back();
    for (size_t k = 0; k < keywords.size(); ++k) {
      p.moran.back().push_back(per[l][k].morans_i);
      std::vector<float> acc(static_cast<size_t>(hw), 0.0f);
      const int steps = o.capture->ready_steps();
      for (int sl = 0; sl < steps; ++sl) {
        o.capture->copy_map(sl, 0, static_cast<int>(l), static_cast<int>(k), buf.data());
        for (int64_t i = 0; i < hw; ++i) acc[static_cast<size_t>(i)] += buf[static_cast<size_t>(i)] / float(steps);
      }
      p.frame0.back().push_back(std::move(acc));
    }
  }
  p.random = o.random_moran;
  return p;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? std::nan("") : s / double(v.size());
}

// 95% interval of a layer's random-direction baseline: per direction the median over samples, then the 2.5 / 97.5
// percentiles over directions.
std::pair<double, double> random_interval(const std::vector<Probe>& probes, size_t layer) {
  std::vector<double> per_dir;
  const size_t R = probes.front().random[layer].size();
  for (size_t j = 0; j < R; ++j) {
    std::vector<double> v;
    for (const auto& p : probes) v.push_back(p.random[layer][j]);
    per_dir.push_back(analysis::quantile(v, 0.5));
  }
  return {analysis::quantile(per_dir, 0.025), analysis::quantile(per_dir, 0.975)};
}

double keyword_level(const std::vector<Probe>& probes, size_t layer) {
  std::vector<double> v;
  for (const auto& p : probes) v.push_back(mean_of(p.moran[layer]));
  return analysis::quantile(v, 0.5);
}

// Re-draws a layer's text value projection (cross_attn.v) from the DiT's initialisation; returns the originals.
std::pair<at::Tensor, at::Tensor> randomise_value_projection(ModelBundle& m, int layer, uint64_t seed) {
  // A kept-quantised projection would be decoded over the re-drawn one at run time (WanModel::block_weights).
  if (m.dit.keeps_quantised()) fail("analyze --sanity", "re-draws cross_attn.v weights, which this model keeps quantised: load it without --keep-quantised");
  auto& b = m.dit.blocks[static_cast<size_t>(layer)];
  std::pair<at::Tensor, at::Tensor> old{b.ca_v.w, b.ca_v.b};
  at::Generator gen = at::detail::createCPUGenerator(seed * 7919 + static_cast<uint64_t>(layer));
  const int64_t d = b.ca_v.w.size(0), in = b.ca_v.w.size(1);
  b.ca_v.w = (at::randn({d, in}, gen, at::TensorOptions().dtype(at::kFloat)) * std::sqrt(2.0 / double(d + in)))
                 .to(old.first.device(), old.first.scalar_type());
  if (old.second.defined()) b.ca_v.b = at::zeros_like(old.second);
  return old;
}

struct Restore {  // puts every randomised projection back, also when a check throws
  ModelBundle& m;
  std::vector<std::pair<int, std::pair<at::Tensor, at::Tensor>>> saved;
  ~Restore() {
    for (auto it = saved.rbegin(); it != saved.rend(); ++it) {
      m.dit.blocks[static_cast<size_t>(it->first)].ca_v.w = it->second.first;
      m.dit.blocks[static_cast<size_t>(it->first)].ca_v.b = it->second.second;
    }
  }
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The prompt's whitespace words with the alphanumeric core of word i replaced (punctuation kept).
std::string replace_word(const std::vector<std::string>& words, size_t i, const std::string& with) {
  std::string out;
  for (size_t k = 0; k < words.size(); ++k) {
    std::string w = words[k];
    if (k == i) {
      size_t a = 0, b = w.size();
      while (a < b && !std::isalnum(static_cast<unsigned char>(w[a]))) ++a;
      while (b > a && !std::isalnum(static_cast<unsigned char>(w[b - 1]))) --b;
      w = w.substr(0, a) + with + w.substr(b);
    }
    out += (out.empty() ? "" : " ") + w;
  }
  return out;
}

// A token belongs to an object when the object covers at least this share of it (objects are 10-19 px on the 64 px
// canvas, tokens 8 px: at 0.5 many small objects would own no token at all).
constexpr float kOwnCoverage = 0.3f;

// Min-max normalised map's mean inside the object (token coverage >= kOwnCoverage) minus its mean outside.
double object_contrast(const std::vector<float>& map, const at::Tensor& coverage) {
  const float lo = *std::min_element(map.begin(), map.end()), hi = *std::max_element(map.begin(), map.end());
  const float* c = coverage.data_ptr<float>();
  double in = 0, out = 0;
  int n_in = 0, n_out = 0;
  for (size_t i = 0; i < map.size(); ++i) {
    const double v = hi > lo ? (map[i] - lo) / (hi - lo) : 0.0;
    if (c[i] >= kOwnCoverage) in += v, ++n_in;
    else out += v, ++n_out;
  }
  if (!n_in || !n_out) return std::nan("");
  return in / n_in - out / n_out;
}

json interval_json(const analysis::Interval& i) { return {{"mean", i.estimate}, {"ci95", {i.lo, i.hi}}}; }

}  // namespace

SanityResult run_sanity_checks(ModelBundle& model, const std::vector<AnalyzeSample>& samples,
                               const std::vector<const shapes::BenchCase*>& cases, const AnalyzeSettings& st,
                               const SanityOptions& opt) {
  if (model.is_mmdit())
    fail("--sanity", "randomises a Wan cross-attention's value projection (cross_attn.v); the MMDiT model has none yet");
  SanityResult res;
  char b[512];
  const int L = model.num_layers();
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(1, opt.samples)), samples.size());
  auto probe_all = [&](std::vector<Probe>& out) {
    out.clear();
    for (size_t i = 0; i < n; ++i) {
      out.push_back(run_probe(model, samples[i].image, samples[i].prompt, samples[i].keywords, samples[i].seed, st, opt));
      if (out.back().cancelled) return false;
    }
    return true;
  };
  if (!st.selection.layers.empty() && static_cast<int>(st.selection.layers.size()) != L)
    fail("--sanity", "needs every layer captured (drop --layers)");

  // ---- (a) model randomisation -------------------------------------------------------------------------------
  std::vector<Probe> base;
  if (!probe_all(base)) return res.cancelled = true, res;
  json a_single = json::array(), a_cascade = json::array();
  int single_pass = 0, cascade_pass = 0, cascade_checks = 0;
  res.lines.push_back("(a) model randomisation: a layer's cross_attn.v re-drawn; its keyword Moran's I must fall in the 95% "
                      "interval of its random-direction baseline (" + std::to_string(n) + " samples)");
  res.lines.push_back("    layer   trained   randomised   random-direction 95%   single    | cascade from the top");
  std::vector<json> rows(static_cast<size_t>(L));
  for (int l = 0; l < L; ++l) {
    Restore r{model, {}};
    r.saved.push_back({l, randomise_value_projection(model, l, 1)});
    std::vector<Probe> pr;
    if (!probe_all(pr)) return res.cancelled = true, res;
    const auto [lo, hi] = random_interval(pr, static_cast<size_t>(l));
    const double lv = keyword_level(pr, static_cast<size_t>(l));
    const bool ok = lv >= lo && lv <= hi;
    single_pass += ok;
    rows[static_cast<size_t>(l)] = {{"layer", l}, {"trained", keyword_level(base, static_cast<size_t>(l))},
                                    {"randomised", lv}, {"random_interval", {lo, hi}}, {"pass", ok}};
    a_single.push_back(rows[static_cast<size_t>(l)]);
  }
  {
    Restore r{model, {}};
    for (int l = L - 1; l >= 0; --l) {
      r.saved.push_back({l, randomise_value_projection(model, l, 1)});
      std::vector<Probe> pr;
      if (!probe_all(pr)) return res.cancelled = true, res;
      // Every layer randomised so far (l .. L-1) must sit inside its interval.
      int inside = 0;
      for (int k = l; k < L; ++k) {
        const auto [lo, hi] = random_interval(pr, static_cast<size_t>(k));
        const double lv = keyword_level(pr, static_cast<size_t>(k));
        inside += lv >= lo && lv <= hi;
      }
      const auto [lo, hi] = random_interval(pr, static_cast<size_t>(l));
      const double lv = keyword_level(pr, static_cast<size_t>(l));
      cascade_checks += L - l;
      cascade_pass += inside;
      a_cascade.push_back({{"randomised_from", l}, {"layer", l}, {"randomised", lv}, {"random_interval", {lo, hi}},
                           {"randomised_layers_inside", inside}, {"randomised_layers", L - l}});
      const json& row = rows[static_cast<size_t>(l)];
      std::snprintf(b, sizeof b, "    %5d   %7.4f   %10.4f   [%6.4f, %6.4f]       %-4s      | %7.4f, %d/%d randomised layers inside",
                    l, row["trained"].get<double>(), row["randomised"].get<double>(),
                    row["random_interval"][0].get<double>(), row["random_interval"][1].get<double>(),
                    row["pass"].get<bool>() ? "pass" : "FAIL", lv, inside, L - l);
      rows[static_cast<size_t>(l)]["line"] = b;
    }
  }
  for (int l = 0; l < L; ++l) res.lines.push_back(rows[static_cast<size_t>(l)]["line"].get<std::string>());
  const bool a_ok = single_pass == L && cascade_pass == cascade_checks;
  std::snprintf(b, sizeof b, "    (a) %s: single %d/%d layers inside; cascade %d/%d layer checks inside", a_ok ? "PASS" : "FAIL",
                single_pass, L, cascade_pass, cascade_checks);
  res.lines.push_back(b);
  res.json["a_model_randomisation"] = {{"pass", a_ok}, {"samples", n}, {"single", a_single}, {"cascade", a_cascade}};

  // ---- (b) absent words and (c) two objects need the Shapes annotation --------------------------------------
  std::vector<size_t> with_case;
  for (size_t i = 0; i < samples.size() && i < cases.size(); ++i)
    if (cases[i]) with_case.push_back(i);
  if (with_case.empty()) {
    res.lines.push_back("(b), (c): skipped (they need benchmark cases with annotations: use --suite)");
    res.json["b_absent_word"] = {{"skipped", true}};
    res.json["c_two_objects"] = {{"skipped", true}};
    return res;
  }
  const auto& colours = shapes::named_colors();
  // (b)
  std::vector<std::vector<double>> d_moran(static_cast<size_t>(L)), d_contrast(static_cast<size_t>(L)),
      c_present(static_cast<size_t>(L));
  int used_b = 0;
  for (size_t idx : with_case) {
    if (used_b >= static_cast<int>(n)) break;
    const auto& bc = *cases[idx];
    const auto& ann = bc.c.annotation;
    const std::vector<std::string> words = split_ws(bc.c.prompt);
    std::vector<std::string> stripped;
    for (const auto& w : model.tokenizer->words(bc.c.prompt, model.text_len)) stripped.push_back(w.word);
    const auto phrases = train::object_phrases(stripped, ann);
    if (phrases.empty() || stripped.size() != words.size()) continue;
    const auto& ph = phrases.front();
    std::string new_colour, new_shape;
    for (const auto& c : colours) {
      bool used = false;
      for (const auto& o : ann.at("objects")) used = used || o.at("color").get<std::string>() == c.name;
      if (!used) { new_colour = c.name; break; }
    }
    for (auto s : shapes::all_shapes()) {
      bool used = false;
      for (const auto& o : ann.at("objects")) used = used || o.at("shape").get<std::string>() == shapes::shape_name(s);
      if (!used) { new_shape = shapes::shape_name(s); break; }
    }
    if (new_colour.empty() || new_shape.empty()) continue;
    std::vector<std::string> w2 = split_ws(replace_word(words, static_cast<size_t>(ph.colour_word), new_colour));
    const std::string prompt2 = replace_word(w2, static_cast<size_t>(ph.shape_word), new_shape);
    const std::vector<std::string> kw_present = {lower(stripped[static_cast<size_t>(ph.colour_word)]),
                                                 lower(stripped[static_cast<size_t>(ph.shape_word)])};
    const AnalyzeSample& s = samples[idx];
    Probe p1 = run_probe(model, s.image, bc.c.prompt, kw_present, s.seed, st, opt);
    if (p1.cancelled) return res.cancelled = true, res;
    Probe p2 = run_probe(model, s.image, prompt2, {new_colour, new_shape}, s.seed, st, opt);
    if (p2.cancelled) return res.cancelled = true, res;
    const at::Tensor cov = train::object_patch_coverage(shapes::render_reference(bc.c), ann, 0, static_cast<int>(p1.grid_h))
                               [ph.object].contiguous();
    for (int l = 0; l < L; ++l) {
      const auto li = static_cast<size_t>(l);
      d_moran[li].push_back(mean_of(p1.moran[li]) - mean_of(p2.moran[li]));
      double cp = 0, ca = 0;
      for (size_t k = 0; k < 2; ++k) cp += object_contrast(p1.frame0[li][k], cov) / 2, ca += object_contrast(p2.frame0[li][k], cov) / 2;
      if (std::isfinite(cp) && std::isfinite(ca)) d_contrast[li].push_back(cp - ca), c_present[li].push_back(cp);
    }
    ++used_b;
  }
  json b_layers = json::array();
  int carrying = 0, lost = 0;
  res.lines.push_back("(b) absent word: one object's colour and shape words replaced by ones absent from the image; paired per "
                      "sample (" + std::to_string(used_b) + " samples)");
  res.lines.push_back("    layer   contrast on the object (original)   contrast lost (original - absent)   Moran's I lost");
  for (int l = 0; l < L && used_b > 0; ++l) {
    const auto li = static_cast<size_t>(l);
    if (d_contrast[li].empty()) continue;
    const auto cp = analysis::bootstrap_mean(c_present[li], 1000, 0.95, 100 + l);
    const auto dc = analysis::bootstrap_mean(d_contrast[li], 1000, 0.95, 200 + l);
    const auto dm = analysis::bootstrap_mean(d_moran[li], 1000, 0.95, 300 + l);
    const bool has_structure = cp.lo > 0, loses = dc.lo > 0;
    carrying += has_structure;
    lost += has_structure && loses;
    b_layers.push_back({{"layer", l}, {"contrast_original", interval_json(cp)}, {"contrast_lost", interval_json(dc)},
                        {"moran_lost", interval_json(dm)}, {"original_has_structure", has_structure}, {"lost", loses}});
    std::snprintf(b, sizeof b, "    %5d   %+6.3f [%+6.3f, %+6.3f]%s        %+6.3f [%+6.3f, %+6.3f]%s        %+6.4f [%+6.4f, %+6.4f]",
                  l, cp.estimate, cp.lo, cp.hi, has_structure ? " *" : "  ", dc.estimate, dc.lo, dc.hi, loses ? " *" : "  ",
                  dm.estimate, dm.lo, dm.hi);
    res.lines.push_back(b);
  }
  const bool b_ok = carrying > 0 && lost * 2 >= carrying;
  std::snprintf(b, sizeof b, "    (b) %s: %d layers' maps mark the named object (* = 95%% CI above 0); the absent words lose it in %d of them",
                b_ok ? "PASS" : "FAIL", carrying, lost);
  res.lines.push_back(b);
  res.json["b_absent_word"] = {{"pass", b_ok}, {"samples", used_b}, {"layers", b_layers},
                               {"layers_with_structure", carrying}, {"layers_losing_it", lost}};

  // (c)
  std::vector<int> own(static_cast<size_t>(L), 0), differ(static_cast<size_t>(L), 0);
  std::vector<double> chance_acc;
  int used_c = 0;
  for (size_t idx : with_case) {
    if (used_c >= static_cast<int>(n)) break;
    const auto& bc = *cases[idx];
    std::vector<std::string> stripped;
    for (const auto& w : model.tokenizer->words(bc.c.prompt, model.text_len)) stripped.push_back(w.word);
    const auto phrases = train::object_phrases(stripped, bc.c.annotation);
    if (phrases.size() < 2 || phrases[0].object == phrases[1].object) continue;
    const std::vector<std::string> kw = {lower(stripped[static_cast<size_t>(phrases[0].shape_word)]),
                                         lower(stripped[static_cast<size_t>(phrases[1].shape_word)])};
    if (kw[0] == kw[1]) continue;  // the same shape word names both: no way to tell them apart by the word
    const AnalyzeSample& s = samples[idx];
    Probe p = run_probe(model, s.image, bc.c.prompt, kw, s.seed, st, opt);
    if (p.cancelled) return res.cancelled = true, res;
    const at::Tensor cov = train::object_patch_coverage(shapes::render_reference(bc.c), bc.c.annotation, 0,
                                                        static_cast<int>(p.grid_h)).contiguous();
    auto owner = [&](int64_t token) {  // the object covering the token most (at least kOwnCoverage), else -1
      int best = -1;
      float bestc = kOwnCoverage - 1e-6f;
      for (int64_t o = 0; o < cov.size(0); ++o) {
        const float c = cov[o].view({-1})[token].item<float>();
        if (c > bestc) bestc = c, best = static_cast<int>(o);
      }
      return best;
    };
    const int o0 = phrases[0].object, o1 = phrases[1].object;
    const int64_t hw = p.grid_h * p.grid_w;
    for (int o : {o0, o1}) {  // chance: the share of tokens this object owns
      int64_t owned = 0;
      for (int64_t t = 0; t < hw; ++t) owned += owner(t) == o;
      chance_acc.push_back(double(owned) / double(hw));
    }
    for (int l = 0; l < L; ++l) {
      const auto& m0 = p.frame0[static_cast<size_t>(l)][0];
      const auto& m1 = p.frame0[static_cast<size_t>(l)][1];
      const int64_t t0 = std::max_element(m0.begin(), m0.end()) - m0.begin();
      const int64_t t1 = std::max_element(m1.begin(), m1.end()) - m1.begin();
      const int w0 = owner(t0), w1 = owner(t1);
      own[static_cast<size_t>(l)] += (w0 == o0) + (w1 == o1);
      differ[static_cast<size_t>(l)] += w0 >= 0 && w1 >= 0 && w0 != w1;
    }
    ++used_c;
  }
  json c_layers = json::array();
  int c_pass_layers = 0;
  const double chance = chance_acc.empty() ? std::nan("") : mean_of(chance_acc);
  std::snprintf(b, sizeof b, "(c) two objects: each object's shape word should peak on its own object (reference frame, "
                "%d samples; chance = the object's share of tokens, %.3f)", used_c, chance);
  res.lines.push_back(b);
  for (int l = 0; l < L && used_c > 0; ++l) {
    const int trials = 2 * used_c;
    const double rate = double(own[static_cast<size_t>(l)]) / trials;
    // Wilson 95% lower bound of the hit rate, against chance.
    const double z = 1.96, ph = rate;
    const double lo = (ph + z * z / (2 * trials) - z * std::sqrt(ph * (1 - ph) / trials + z * z / (4.0 * trials * trials))) /
                      (1 + z * z / trials);
    const bool ok = lo > chance;
    c_pass_layers += ok;
    c_layers.push_back({{"layer", l}, {"own_object_rate", rate}, {"own_object_rate_lo95", lo},
                        {"peaks_on_different_objects", double(differ[static_cast<size_t>(l)]) / used_c}, {"pass", ok}});
    std::snprintf(b, sizeof b, "    layer %2d: own-object peak %.2f (95%% lower %.2f) vs chance %.2f; peaks on different objects %.2f  %s",
                  l, rate, lo, chance, double(differ[static_cast<size_t>(l)]) / used_c, ok ? "pass" : "-");
    res.lines.push_back(b);
  }
  const bool c_ok = used_c > 0 && c_pass_layers * 2 >= L;
  if (used_c == 0) {
    // Nothing measured is not a failure of the maps: say what is missing.
    res.lines.push_back("    (c) NOT RUN: no sample names two objects with different shapes (the interaction cases do; use more --samples)");
    res.json["c_two_objects"] = {{"skipped", true}, {"samples", 0}};
    return res;
  }
  std::snprintf(b, sizeof b, "    (c) %s: %d of %d layers peak on their own object above chance (pass: at least half)",
                c_ok ? "PASS" : "FAIL", c_pass_layers, L);
  res.lines.push_back(b);
  res.json["c_two_objects"] = {{"pass", c_ok}, {"samples", used_c}, {"chance", chance}, {"layers", c_layers},
                               {"layers_passing", c_pass_layers}};
  return res;
}

}  // namespace focalscope::cli
