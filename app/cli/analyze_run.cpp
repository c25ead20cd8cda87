#include "app/cli/analyze_run.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <cctype>
#include <map>

#include "engine/core/error.h"
#include "engine/guidance/focal_guidance.h"
#include "engine/shapes/shapes_prompts.h"
#include "engine/shapes/shapes_vocab.h"

namespace focalscope::cli {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

namespace fs = std::filesystem;

// "shapes" -> assets/bench/shapes next to the embedded model, below the working directory or near the executable;
// anything else must be a benchmark folder.
std::string find_bench_root(const std::string& suite) {
  if (suite != "shapes") {
    if (!fs::is_directory(suite)) fail("--suite", "'" + suite + "' is neither 'shapes' nor a folder");
    return suite;
  }
  std::vector<fs::path> candidates;
  if (std::string m = default_model_dir(); !m.empty()) candidates.push_back(fs::path(m).parent_path().parent_path() / "bench" / "shapes");
  candidates.push_back(fs::path("assets") / "bench" / "shapes");
  // Next to the executable or up to four levels above it (a build folder inside the source tree).
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (int up = 0; !ec && up < 5 && !exe.empty(); ++up, exe = exe.parent_path())
    candidates.push_back(exe / "assets" / "bench" / "shapes");
  for (const auto& c : candidates)
    if (fs::exists(c / "index.json")) return c.string();
  fail("--suite", "the Shapes benchmark set (assets/bench/shapes/index.json) was not found");
}

std::vector<std::string> default_keywords(const std::string& prompt, const ModelBundle& m) {
  std::vector<std::string> kw = shapes::object_words(prompt);
  if (!kw.empty()) return kw;
  auto words = m.tokenizer->words(prompt, m.text_len);
  if (words.empty()) fail("--keywords", "the prompt has no words");
  return {words.front().word};
}

std::vector<AnalyzeSample> suite_samples(const ModelBundle& m, const std::string& root, int n, bool interleave, int64_t seed,
                                         const std::vector<std::string>& keywords, std::vector<shapes::BenchCase>* cases_out) {
  auto cases = shapes::read_bench_set(root);
  if (interleave) {
    // Round-robin over the dimensions (index order within each), so N cases span every dimension.
    std::map<int, std::vector<shapes::BenchCase>> by_dim;
    for (auto& c : cases) by_dim[static_cast<int>(c.c.dim)].push_back(std::move(c));
    cases.clear();
    for (size_t i = 0, added = 1; added; ++i) {
      added = 0;
      for (auto& [d, v] : by_dim)
        if (i < v.size()) cases.push_back(v[i]), ++added;
    }
  }
  if (static_cast<int>(cases.size()) < n)
    std::fprintf(stderr, "note: %s has %zu cases, fewer than --samples %d: using all\n", root.c_str(), cases.size(), n);
  std::vector<AnalyzeSample> out;
  for (int i = 0; i < n && i < static_cast<int>(cases.size()); ++i) {
    AnalyzeSample s;
    s.id = cases[i].id;
    s.image_path = cases[i].ref_path;
    s.prompt = cases[i].c.prompt;
    s.keywords = keywords.empty() ? default_keywords(s.prompt, m) : keywords;
    s.seed = seed + i;
    out.push_back(std::move(s));
    if (cases_out) cases_out->push_back(cases[i]);
  }
  return out;
}

std::vector<std::string> control_words(const ModelBundle& m, const std::string& prompt, const std::vector<std::string>& keywords) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!s.empty() && !std::isalnum(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
  };
  std::vector<std::string> skip;
  for (const auto& k : keywords) skip.push_back(lower(k));
  for (const auto& w : shapes::object_words(prompt)) skip.push_back(lower(w));
  std::vector<std::string> out;
  for (const auto& w : m.tokenizer->words(prompt, m.text_len)) {
    const std::string l = lower(w.word);
    if (l.empty() || w.truncated || is_function_word(l) || std::find(skip.begin(), skip.end(), l) != skip.end()) continue;
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  }
  return out;
}

const char* control_kind_name(ControlKind k) { return k == ControlKind::AbsentSameClass ? "absent" : "other-words"; }

ControlKind parse_control_kind(const std::string& name) {
  if (name == "absent") return ControlKind::AbsentSameClass;
  if (name == "other-words") return ControlKind::NonObjectWords;
  fail("--control", "'" + name + "' is not one of absent, other-words");
}

namespace {
std::string lower_word(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!s.empty() && !std::isalnum(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && !std::isalnum(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  return s;
}

// The prompt with every whitespace-separated word equal to `from` (case and punctuation aside) replaced by `to`,
// keeping the punctuation around it.
std::string replace_prompt_word(const std::string& prompt, const std::string& from, const std::string& to) {
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    size_t a = 0, b = word.size();
    while (a < b && !std::isalnum(static_cast<unsigned char>(word[a]))) ++a;
    while (b > a && !std::isalnum(static_cast<unsigned char>(word[b - 1]))) --b;
    out += lower_word(word) == from ? word.substr(0, a) + to + word.substr(b) : word;
    word.clear();
  };
  for (char c : prompt) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
      out += c;
    } else {
      word += c;
    }
  }
  flush();
  return out;
}
}  // namespace

std::vector<AbsentControl> absent_controls(const std::string& prompt, const std::vector<std::string>& keywords,
                                           int per_keyword) {
  std::vector<std::string> colours, shapes_canonical;
  for (const auto& c : shapes::named_colors()) colours.push_back(c.name);
  for (auto k : shapes::all_shapes()) shapes_canonical.push_back(shapes::shape_name(k));
  const std::vector<std::string> in_prompt = shapes::object_words(prompt);
  auto mentioned = [&](const std::string& w) { return std::find(in_prompt.begin(), in_prompt.end(), w) != in_prompt.end(); };
  auto shape_mentioned = [&](const std::string& shape) {
    for (const auto& syn : shapes::shape_synonyms(shape))
      if (mentioned(syn)) return true;
    return false;
  };
  std::vector<AbsentControl> out;
  for (const auto& k : keywords) {
    const std::string kw = lower_word(k);
    const bool is_colour = std::find(colours.begin(), colours.end(), kw) != colours.end();
    bool is_shape = false;
    for (const auto& sh : shapes_canonical)
      for (const auto& syn : shapes::shape_synonyms(sh)) is_shape = is_shape || syn == kw;
    if (!is_colour && !is_shape) continue;
    int n = 0;
    for (const auto& w : is_colour ? colours : shapes_canonical) {
      if (n >= per_keyword) break;
      if (is_colour ? mentioned(w) : shape_mentioned(w)) continue;
      out.push_back({kw, w, replace_prompt_word(prompt, kw, w)});
      ++n;
    }
  }
  return out;
}

FixedDirections absent_control_directions(const ModelBundle& m, const std::vector<AbsentControl>& controls) {
  c10::InferenceMode guard;
  FixedDirections d;
  const size_t L = static_cast<size_t>(m.num_layers());
  std::vector<std::vector<at::Tensor>> rows(L);
  for (const auto& c : controls) {
    const auto ck = resolve_keywords(*m.tokenizer, c.text, {c.word}, m.text_len);  // rows of the Wan cross context (MMDiT: refused upstream)
    const CrossContext cc = text_cross_context(m, c.text);
    const at::Tensor idx = at::tensor(ck.front().tokens, at::TensorOptions().dtype(at::kLong)).to(cc.layers[0].v.device());
    for (size_t l = 0; l < L; ++l) rows[l].push_back(cc.layers[l].v[0].index_select(0, idx).to(at::kFloat).mean(0));
    d.names.push_back(c.word + "~" + c.keyword);
  }
  for (size_t l = 0; l < L; ++l) d.per_layer.push_back(at::stack(rows[l]));
  return d;
}

namespace {
void add_curve_sample(const std::vector<analysis::MapStats>& layer_values, const std::vector<double>& control_moran,
                      bool control_looked_for, const std::vector<double>& text_response,
                      const std::vector<std::vector<double>>& random_moran, analysis::LayerCurves& curves) {
  curves.add_sample(layer_values);
  if (!control_moran.empty()) {
    curves.add_control_words(control_moran);
  } else if (control_looked_for) {
    // A prompt with no control word (every content word names an object): the sample is neutral for the
    // control-word statistic (excess 0), so the curves stay rectangular; metrics.json lists its control words ([]).
    std::vector<double> neutral;
    for (const auto& v : layer_values) neutral.push_back(v.morans_i);
    curves.add_control_words(neutral);
  }
  if (!text_response.empty()) curves.add_text_response(text_response);
  if (random_moran.empty()) return;
  std::vector<double> rm;
  for (const auto& dirs : random_moran) {
    double t = 0;
    for (double v : dirs) t += v;
    rm.push_back(t / double(dirs.size()));
  }
  curves.add_random_baseline(rm);
}
}  // namespace

void add_to_curves(const SampleOutcome& o, analysis::LayerCurves& curves) {
  add_curve_sample(o.layer_values, o.control_moran, o.control_looked_for, o.text_response, o.random_moran, curves);
}

void add_expert_to_curves(const SampleOutcome& o, int e, analysis::LayerCurves& curves) {
  if (e < 0 || e >= static_cast<int>(o.by_expert.size()) || o.by_expert[static_cast<size_t>(e)].layer_values.empty())
    fail(o.sample.id, std::string("the ") + (e == 1 ? "high" : "low") + "-noise expert ran none of this sample's stat steps");
  const auto& x = o.by_expert[static_cast<size_t>(e)];
  add_curve_sample(x.layer_values, x.control_moran, o.control_looked_for, x.text_response, x.random_moran, curves);
}

CaptureLayout plan_capture(const ModelBundle& m, const AnalyzeSettings& st, const RunParams& params, int64_t keywords) {
  CaptureSelection sel = st.selection;
  // Without classifier-free guidance there is no unconditional pass to capture.
  if (params.guide_scale == 1.0) sel.uncond = false;
  if (!sel.cond && !sel.uncond) fail("--pass", "uncond requested but this run has no unconditional pass (cfg 1)");
  return make_capture_layout(sel, m.num_layers(), params.steps, keywords,
                             token_grid(params.lat_f, params.lat_h, params.lat_w, m.patch_size()));
}

std::vector<int> expert_step_slots(const CaptureLayout& layout, const std::vector<int>& step_expert, int expert,
                                   const std::vector<int>& slots) {
  std::vector<int> mine;
  for (int slot : slots) {
    const int step = layout.steps.at(static_cast<size_t>(slot));
    if (step >= 0 && step < static_cast<int>(step_expert.size()) && step_expert[static_cast<size_t>(step)] == expert) mine.push_back(slot);
  }
  return mine;
}

std::vector<int> stat_step_slots(const CaptureLayout& layout, const std::vector<int>& steps) {
  std::vector<int> slots;
  for (int s : steps) {
    const int slot = layout.step_slot(s);
    if (slot < 0) fail("--stat-steps", "step " + std::to_string(s) + " is not captured (see --capture-steps)");
    slots.push_back(slot);
  }
  return slots;
}

std::vector<analysis::SampleLayerStats> capture_statistics(const SimilarityCapture& cap) {
  const CaptureLayout& L = cap.layout();
  const int S = cap.ready_steps(), NL = static_cast<int>(L.layers.size()), K = static_cast<int>(L.keywords);
  std::vector<analysis::SampleLayerStats> out;
  std::vector<float> buf(static_cast<size_t>(L.map_elems()));
  for (size_t p = 0; p < L.passes.size(); ++p) {
    out.emplace_back(NL, static_cast<int>(L.steps.size()), K, L.grid[0]);
    for (int s = 0; s < S; ++s)
      for (int l = 0; l < NL; ++l) {
        if (!cap.filled(s, static_cast<int>(p), l)) continue;
        for (int k = 0; k < K; ++k) {
          cap.copy_map(s, static_cast<int>(p), l, k, buf.data());
          out.back().add_map(l, s, k, buf.data(), L.grid[1], L.grid[2]);
        }
      }
  }
  return out;
}

SampleOutcome run_analysis_sample(const ModelBundle& m, const AnalyzeSample& s, const AnalyzeSettings& st,
                                  bool keep_maps, const RunHooks& hooks) {
  if (hooks.listener) fail("analysis", "the run already has a probe listener");
  SampleOutcome o;
  o.sample = s;
  GenerateRequest req = st.base;
  req.image = s.image;
  req.prompt = s.prompt;
  req.seed = s.seed;
  o.params = resolve_params(m, req);
  o.keywords = resolve_keywords(*m.tokenizer, s.prompt, s.keywords, m.text_len, m.text_row_offset());
  o.layout = plan_capture(m, st, o.params, static_cast<int64_t>(o.keywords.size()));
  const std::vector<int> slots = stat_step_slots(o.layout, st.stat_steps);

  auto cap = std::make_shared<SimilarityCapture>(o.keywords, o.layout, st.source);
  std::unique_ptr<SimilarityCapture> random_cap;
  ProbeChain chain;
  chain.add(cap.get());
  std::unique_ptr<SimilarityCapture> control_cap;
  if (st.control_words) {
    o.control_looked_for = true;
    if (st.control_kind == ControlKind::AbsentSameClass) {
      const auto controls = absent_controls(s.prompt, s.keywords);
      if (!controls.empty()) {
        FixedDirections d = absent_control_directions(m, controls);
        o.control_words = d.names;
        const auto n = static_cast<int64_t>(d.names.size());
        control_cap = std::make_unique<SimilarityCapture>(std::move(d), plan_capture(m, st, o.params, n), st.source);
        chain.add(control_cap.get());
      }
    } else {
      o.control_words = control_words(m, s.prompt, s.keywords);
      if (!o.control_words.empty()) {
        auto ck = resolve_keywords(*m.tokenizer, s.prompt, o.control_words, m.text_len, m.text_row_offset());
        control_cap = std::make_unique<SimilarityCapture>(ck, plan_capture(m, st, o.params, static_cast<int64_t>(ck.size())), st.source);
        chain.add(control_cap.get());
      }
    }
  }
  if (st.random_directions > 0) {
    CaptureLayout rl = plan_capture(m, st, o.params, st.random_directions);
    random_cap = std::make_unique<SimilarityCapture>(RandomDirections{st.random_directions}, rl, st.source);
    chain.add(random_cap.get());
  }
  std::unique_ptr<TextResponseProbe> response;
  if (st.text_response) {
    const CrossContext prompt_ctx = text_cross_context(m, s.prompt);
    // Compared with: the prompt with each colour / shape keyword swapped for the first word of its class that the
    // prompt does not name (absent_controls), so the response is to WHICH word, not to text being there; a prompt
    // without such a word is compared with the empty prompt. One alternative per keyword: the probe's cost grows
    // with the alternatives (docs/validation.md measures both).
    std::vector<CrossContext> alts;
    for (const auto& c : absent_controls(s.prompt, s.keywords, kTextResponseAlternativesPerKeyword))
      alts.push_back(text_cross_context(m, c.text));
    if (alts.empty()) alts.push_back(text_cross_context(m, ""));
    response = std::make_unique<TextResponseProbe>(prompt_ctx, std::move(alts), o.layout, m.dit.cfg.num_heads);
    chain.add(response.get());
  }
  RunHooks h = hooks;
  h.listener = &chain;
  auto t0 = Clock::now();
  GenerateResult r = generate(m, req, h);
  cap->finish();
  if (random_cap) random_cap->finish();
  if (control_cap) control_cap->finish();
  o.seconds_generate = since(t0);
  o.cancelled = r.cancelled;
  if (r.cancelled) return o;

  auto t1 = Clock::now();
  o.stats = capture_statistics(*cap);
  const std::vector<analysis::SampleLayerStats> control_stats = control_cap ? capture_statistics(*control_cap)
                                                                            : std::vector<analysis::SampleLayerStats>{};
  const std::vector<analysis::SampleLayerStats> random_stats = random_cap ? capture_statistics(*random_cap)
                                                                          : std::vector<analysis::SampleLayerStats>{};
  // Everything the weak-layer rule reads, averaged over the given stat-step slots.
  auto curves_over = [&](const std::vector<int>& sl, std::vector<analysis::MapStats>& values, std::vector<double>& control,
                         std::vector<double>& text, std::vector<std::vector<double>>& random) {
    values = o.stats.front().layer_means(sl);
    if (response) text = response->layer_means(sl);
    if (!control_stats.empty())
      for (const auto& v : control_stats.front().layer_means(sl)) control.push_back(v.morans_i);
    if (!random_stats.empty())
      for (const auto& layer : random_stats.front().layer_keyword_means(sl)) {
        random.emplace_back();
        for (const auto& v : layer) random.back().push_back(v.morans_i);
      }
  };
  curves_over(slots, o.layer_values, o.control_moran, o.text_response, o.random_moran);
  o.step_expert = r.step_expert;
  if (!r.step_expert.empty()) {  // the same per expert: the stat-step slots whose step that expert ran
    o.by_expert.resize(2);
    for (int e = 0; e < 2; ++e) {
      std::vector<int> all = slots;
      if (all.empty())  // every captured step
        for (size_t k = 0; k < o.layout.steps.size(); ++k) all.push_back(static_cast<int>(k));
      const std::vector<int> mine = expert_step_slots(o.layout, r.step_expert, e, all);
      auto& x = o.by_expert[static_cast<size_t>(e)];
      if (!mine.empty()) curves_over(mine, x.layer_values, x.control_moran, x.text_response, x.random_moran);
    }
  }
  o.seconds_stats = since(t1);
  if (keep_maps) {
    o.capture = cap;
    o.video = r.video;
  }
  return o;
}

}  // namespace focalscope::cli
