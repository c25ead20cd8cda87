// `focalscope analyze --model-dir RELEASE ...` for a HunyuanVideo-I2V release folder: the same measurement as the
// Wan / embedded-model analyze (similarity capture of Eq. 10 through the probe seam, Moran's I / std per layer, the
// words rule with bootstrap intervals, the same metrics.json / per_layer.csv / figures), run by generate_hunyuan.
// What differs, and why:
//   keywords   required (--keywords): a release prompt has no Shapes vocabulary to find its object words in; each
//              word's rows are those of the cropped MLLM text (hunyuan_prompt_word_rows: image rows first);
//   rule       --weak-reference words only: the text-response probe and the absent-word controls read a Wan
//              cross-attention's text keys / values for other texts, which a joint attention does not have;
//   samples    --samples N seeds of one image + prompt (the release has no benchmark set here).
#include "app/cli/analyze_hunyuan.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "analysis/layer_stats.h"
#include "analysis/weak_layers.h"
#include "app/cli/analyze_figures.h"
#include "app/cli/analyze_report.h"
#include "app/cli/analyze_run.h"
#include "app/cli/args.h"
#include "app/cli/device_args.h"
#include "app/cli/generate_hunyuan.h"
#include "app/cli/media.h"
#include "app/cli/progress.h"
#include "engine/capture/capture_keywords.h"
#include "engine/capture/capture_layout.h"
#include "engine/core/blas_check.h"
#include "engine/core/error.h"
#include "engine/guidance/focal_guidance.h"
#include "engine/guidance/hunyuan_release_guidance.h"
#include "engine/pipeline/hunyuan_pipeline.h"
#include "render/image.h"

namespace focalscope::cli {

const char* kHunyuanAnalyzeUsage =
    "HunyuanVideo-I2V release (--model-dir a release folder: ckpts/ or hunyuan-video-i2v-720p/):\n"
    "  --image REF.png --prompt TEXT --keywords W1,W2 (required: prompt words to capture) --out DIR\n"
    "  --samples N (3: seeds --seed, --seed+1, ...)  --layers SPEC  --capture-steps SPEC  --stat-steps SPEC\n"
    "  --steps N (50)  --frames N  --height H --width W  --shift X  --embedded-cfg X  --cfg X  --negative TEXT\n"
    "  --margin X (0.02)  --weak-reference words (the only rule without a cross-attention)  --load-key module|ema\n"
    "  --device cpu|cuda  --dtype f32|bf16  --threads N\n"
    "  Controls: the prompt's other content words, captured in the same runs. Writes metrics.json, per_layer.csv and\n"
    "  the three figures, as for a Wan model.\n";

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<int> layer_list(const std::string& spec, int count, const std::string& what) {
  std::vector<int> v = parse_index_list(spec, count, what);
  if (v.empty() && spec != "all") fail(what, "no layers given");
  return v;
}

// The prompt's words as capture keywords: `wanted` (each must be a prompt word whose rows were not truncated), and
// as controls every other content word of the prompt.
void prompt_keywords(const std::vector<HunyuanWordRows>& words, const std::vector<std::string>& wanted,
                     std::vector<CaptureKeyword>* keywords, std::vector<CaptureKeyword>* controls) {
  std::string listed;
  for (const auto& w : words) listed += (listed.empty() ? "" : ", ") + w.word;
  std::vector<bool> used(words.size(), false);
  for (const auto& k : wanted) {
    bool found = false;
    for (size_t i = 0; i < words.size() && !found; ++i) {
      if (lower(words[i].word) != lower(k)) continue;
      if (used[i]) fail("--keywords", "'" + k + "' is given twice");
      if (words[i].truncated || words[i].rows.empty())
        fail("--keywords", "'" + k + "' falls past the MLLM's text length (the prompt is truncated there)");
      used[i] = found = true;
      keywords->push_back({words[i].word, words[i].rows});
    }
    if (!found) fail("--keywords", "keyword '" + k + "' is not a word of the prompt (" + listed + ")");
  }
  for (size_t i = 0; i < words.size(); ++i) {
    if (used[i] || words[i].truncated || words[i].rows.empty() || is_function_word(lower(words[i].word))) continue;
    bool dup = false;  // a repeated word is one control
    for (const auto& c : *controls) dup = dup || lower(c.word) == lower(words[i].word);
    for (const auto& k : *keywords) dup = dup || lower(k.word) == lower(words[i].word);
    if (!dup) controls->push_back({words[i].word, words[i].rows});
  }
}

int run_hunyuan_analyze(const std::vector<std::string>& argv) {
  Args a(argv,
         {"model-dir", "image", "prompt", "keywords", "samples", "seed", "out", "steps", "frames", "height", "width",
          "cfg", "negative", "shift", "embedded-cfg", "layers", "capture-steps", "stat-steps", "margin", "weak-reference",
          "threads", "load-key", "device", "dtype"},
         {"i2v-stability"});
  if (!a.positional().empty()) fail(a.positional()[0], "unexpected argument (see --help)");
  const std::string out_dir = a.required("out");
  const std::string image_path = a.required("image");
  const std::string prompt = a.required("prompt");
  validate_prompt(prompt);
  if (!a.has("keywords"))
    fail("--keywords", "required on a HunyuanVideo-I2V release: the prompt words whose maps to capture (e.g. --keywords cat,ball)");
  const std::vector<std::string> wanted = split_keyword_list(a.str("keywords"));
  if (wanted.empty()) fail("--keywords", "no keyword given");
  if (a.has("weak-reference") && analysis::parse_weak_reference(a.str("weak-reference")) != analysis::WeakReference::ControlWords)
    fail("--weak-reference " + a.str("weak-reference"),
         "needs a cross-attention's text keys / values for other texts (Wan); a HunyuanVideo release uses words");
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));
  const int n_samples = static_cast<int>(a.integer("samples", 3, 1, 100000));
  const int64_t seed0 = a.integer("seed", 0, 0, 1LL << 60);

  HunyuanRequest base = hunyuan_request_from_args(a);
  base.hallucination_window = 0;

  HunyuanBundleOptions bo;
  bo.load_key = a.str("load-key", "module");
  if (a.has("device")) bo.device = parse_device_flag(a.str("device"));
  if (a.has("dtype")) bo.dit_dtype = parse_dtype_flag(a.str("dtype"));
  const auto t_start = Clock::now();
  const HunyuanBundle b = HunyuanBundle::load(a.str("model-dir"), bo);
  const HunyuanParams HP = resolve_hunyuan_params(b, base);  // size / frame errors before any work
  const int num_layers = b.cfg.mm_double_blocks_depth + b.cfg.mm_single_blocks_depth;

  // Keyword rows need the MLLM's image-row count, which the vision tower's grid and interleave fix.
  const auto& vc = b.mllm->vision_tower().cfg;
  const int64_t stride = b.mllm->options().image_embed_interleave;
  const int64_t image_rows = (vc.grid() * vc.grid() + stride - 1) / stride;
  std::vector<CaptureKeyword> keywords, controls;
  prompt_keywords(hunyuan_prompt_word_rows(*b.mllm, prompt, image_rows), wanted, &keywords, &controls);
  std::fprintf(stderr, "model: %s (%s), %d layers (%d double-stream, then single-stream)\n", b.variant.c_str(),
               b.release.root.c_str(), num_layers, b.cfg.mm_double_blocks_depth);

  CaptureSelection sel;
  sel.layers = layer_list(a.str("layers", "all"), num_layers, "--layers");
  sel.steps = parse_index_list(a.str("capture-steps", "all"), HP.steps, "--capture-steps");
  const auto grid = token_grid(HP.lat_f, HP.lat_h, HP.lat_w, b.cfg.patch_size);
  const CaptureLayout layout = make_capture_layout(sel, num_layers, HP.steps, static_cast<int64_t>(keywords.size()), grid);
  const std::vector<int> stat_steps = parse_index_list(a.str("stat-steps", "all"), HP.steps, "--stat-steps");
  const std::vector<int> slots = stat_step_slots(layout, stat_steps);

  AnalyzeSettings st;  // for metrics.json: what was measured
  st.selection = sel;
  st.stat_steps = stat_steps;
  st.random_directions = 0;
  st.text_response = false;
  analysis::WeakLayerOptions rule = analysis::validated_weak_rule();
  rule.reference = analysis::WeakReference::ControlWords;
  rule.margin = a.number("margin", rule.margin, -1, 1);
  if (controls.empty())
    std::fprintf(stderr, "note: the prompt has no content word besides the keywords: no control maps, every layer's "
                         "excess is 0 and none can be called weak\n");
  std::string kws, ctl;
  for (const auto& k : keywords) kws += (kws.empty() ? "" : ",") + k.word;
  for (const auto& k : controls) ctl += (ctl.empty() ? "" : ",") + k.word;
  std::fprintf(stderr, "capture memory per sample: %s | keywords %s | controls %s\n", layout.describe().c_str(),
               kws.c_str(), ctl.empty() ? "none" : ctl.c_str());

  fs::create_directories(out_dir);
  RunParams rp;  // the run's parameters in the form the report writes
  rp.steps = HP.steps;
  rp.frames = HP.frames;
  rp.fps = HP.fps;
  rp.shift = HP.flow_shift;
  rp.guide_scale = HP.cfg;
  rp.max_area = HP.height * HP.width;
  rp.solver = "flow-match-discrete (euler)";
  rp.negative_prompt = HP.negative_prompt;
  rp.lat_f = HP.lat_f, rp.lat_h = HP.lat_h, rp.lat_w = HP.lat_w;
  rp.height = HP.height, rp.width = HP.width;

  std::atomic<bool>& cancel = install_cancel_on_sigint();
  analysis::LayerCurves curves(static_cast<int>(layout.layers.size()));
  std::vector<SampleOutcome> done;
  bool cancelled = false;
  for (int i = 0; i < n_samples && !cancelled; ++i) {
    SampleOutcome o;
    o.sample.id = "seed_" + std::to_string(seed0 + i);
    o.sample.image_path = image_path;
    o.sample.prompt = prompt;
    o.sample.keywords = wanted;
    o.sample.seed = seed0 + i;
    o.params = rp;
    o.keywords = keywords;
    o.layout = layout;
    o.control_looked_for = true;
    for (const auto& c : controls) o.control_words.push_back(c.word);
    std::fprintf(stderr, "[%d/%d] %s\n", i + 1, n_samples, o.sample.id.c_str());

    auto cap = std::make_shared<SimilarityCapture>(keywords, layout);
    std::unique_ptr<SimilarityCapture> control_cap;
    ProbeChain chain;
    chain.add(cap.get());
    if (!controls.empty()) {
      control_cap = std::make_unique<SimilarityCapture>(
          controls, make_capture_layout(sel, num_layers, HP.steps, static_cast<int64_t>(controls.size()), grid));
      chain.add(control_cap.get());
    }
    HunyuanRequest req = base;
    req.seed = o.sample.seed;
    req.listener = &chain;
    const std::string label = "  sample " + std::to_string(i + 1) + "/" + std::to_string(n_samples);
    req.on_step = [&](int d, int total, double el) { print_progress(label, d, total, el, d > 0 ? el / d * (total - d) : 0.0); };
    req.cancel = &cancel;
    const auto t0 = Clock::now();
    const HunyuanResult r = generate_hunyuan(b, req);
    end_progress();
    cap->finish();
    if (control_cap) control_cap->finish();
    if (r.cancelled) {
      cancelled = true;
      std::fprintf(stderr, "cancelled: writing the results of the %zu finished samples\n", done.size());
      break;
    }
    o.seconds_generate = since(t0);
    const auto t1 = Clock::now();
    o.stats = capture_statistics(*cap);
    o.layer_values = o.stats.front().layer_means(slots);
    if (control_cap)
      for (const auto& v : capture_statistics(*control_cap).front().layer_means(slots)) o.control_moran.push_back(v.morans_i);
    o.seconds_stats = since(t1);
    if (done.empty()) {  // the first sample's maps and video for the figures ([F, 3, H, W] in [0, 1] -> [3, F, H, W] in [-1, 1])
      o.capture = cap;
      o.video = r.video.permute({1, 0, 2, 3}) * 2.0 - 1.0;
    }
    add_to_curves(o, curves);
    std::fprintf(stderr, "  %.2f s generation + %.3f s statistics | Moran's I per layer: %s\n", o.seconds_generate,
                 o.seconds_stats, moran_line(o.layer_values).c_str());
    done.push_back(std::move(o));
  }
  if (done.empty()) {
    std::fprintf(stderr, "no sample finished: nothing written\n");
    return cancelled ? 130 : 1;
  }

  const analysis::WeakLayerReport report = curves.detect(rule);
  const auto t_boot = Clock::now();
  const std::vector<analysis::LayerUncertainty> unc = analysis::bootstrap_weak_layers(
      analysis::WeakLayerDetector(rule), curves.moran(), curves.std_minmax(), curves.null_for(rule.reference));
  const double boot_s = since(t_boot);
  std::vector<int> weak_ids;
  for (int w : report.weak) weak_ids.push_back(layout.layers[static_cast<size_t>(w)]);

  FigureOptions fo;
  fo.weak = weak_ids;
  const std::vector<std::string> figures = {"fig1_similarity_mosaic.png", "fig2_layer_curves.png", "fig3_map_overlay.png"};
  render::save_png((fs::path(out_dir) / figures[0]).string(), similarity_mosaic(done.front(), fo));
  render::save_png((fs::path(out_dir) / figures[1]).string(), layer_curves(curves, report, layout.layers, "cond pass"));
  render::save_png((fs::path(out_dir) / figures[2]).string(), map_overlays(done.front(), fo));
  write_per_layer_csv((fs::path(out_dir) / "per_layer.csv").string(), done);

  AnalyzeSummary sum;
  sum.model_dir = b.release.root;
  sum.model_variant = b.variant;
  sum.settings = &st;
  sum.layers = layout.layers;
  sum.curves = &curves;
  sum.report = &report;
  sum.rule = &rule;
  sum.uncertainty = curves.samples() >= 2 ? &unc : nullptr;
  sum.capture_bytes_per_sample = layout.bytes();
  sum.capture_layout = layout.describe();
  sum.cancelled = cancelled;
  sum.seconds_total = since(t_start);
  sum.figures = figures;
  {
    nlohmann::json j = metrics_json(sum, done);
    j["architecture"] = "hunyuan-mmdit";
    j["double_stream_layers"] = b.cfg.mm_double_blocks_depth;
    std::ofstream mj(fs::path(out_dir) / "metrics.json");
    mj << j.dump(1) << "\n";
    if (!mj) fail(out_dir + "/metrics.json", "write failed");
  }
  print_weak_layer_table(layout.layers, unc, report, rule, curves.samples(), boot_s);
  std::string wl;
  for (int w : weak_ids) wl += (wl.empty() ? "" : ",") + std::to_string(w);
  std::printf("weak layers: %s\n", wl.empty() ? "none" : wl.c_str());
  std::printf("samples: %d | wrote %s/{metrics.json, per_layer.csv, %s, %s, %s} in %.1f s\n", curves.samples(),
              out_dir.c_str(), figures[0].c_str(), figures[1].c_str(), figures[2].c_str(), sum.seconds_total);
  return cancelled ? 130 : 0;
}

}  // namespace

bool try_analyze_hunyuan(const std::vector<std::string>& argv, int* rc) {
  if (hunyuan_release_arg(argv).empty()) return false;
  for (const auto& s : argv)
    if (s == "--help") {
      std::printf("usage: focalscope analyze --model-dir RELEASE_DIR --image REF.png --prompt TEXT --keywords W --out DIR "
                  "[options]\n%s", kHunyuanAnalyzeUsage);
      *rc = 0;
      return true;
    }
  *rc = run_hunyuan_analyze(argv);
  return true;
}

}  // namespace focalscope::cli
