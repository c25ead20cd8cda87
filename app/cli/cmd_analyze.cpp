// focalscope analyze: similarity capture over one image + prompt (N seeds) or the first N benchmark cases, the
// per-layer Moran's I / std curves, the semantic-weak layers, and the paper's Fig. 1 / Fig. 2 style figures.
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "analysis/layer_stats.h"
#include "app/cli/analyze_figures.h"
#include "app/cli/analyze_hunyuan.h"
#include "app/cli/analyze_report.h"
#include "app/cli/analyze_run.h"
#include "app/cli/analyze_sanity.h"
#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/media.h"
#include "app/cli/model_arg.h"

#include <set>
#include "app/cli/progress.h"
#include "engine/core/error.h"
#include "engine/core/blas_check.h"
#include "engine/shapes/shapes_bench.h"
#include "engine/shapes/shapes_prompts.h"
#include "render/image.h"

namespace focalscope::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: focalscope analyze (--image REF.png --prompt TEXT | --suite shapes|DIR) --out DIR [options]\n"
    "Runs generations with similarity capture (paper Eq. 10: cos(V(k), z) per layer, step and latent frame),\n"
    "computes Moran's I and the std of each min-max normalised map (Eq. 3-5), finds the semantic-weak layers\n"
    "over all samples and writes metrics.json, per_layer.csv and three figures to DIR.\n"
    "samples:\n"
    "  --image, --prompt    one reference image and prompt; --samples N runs N seeds (--seed, --seed+1, ...)\n"
    "  --suite shapes|DIR   the Shapes benchmark set (assets/bench/shapes) or another set's root: its first N cases\n"
    "  --samples N          number of samples (default 1 with --image, 50 with --suite)\n"
    "  --interleave         with --suite: take cases round-robin over the dimensions instead of in index order\n"
    "  --keywords w1,w2     prompt words to capture (default: the prompt's object words, else its first word)\n"
    "sampling (default: the model's):\n"
    "  --steps N --frames N --max-area N --cfg X --shift X --solver NAME --negative TEXT --seed N\n"
    "capture:\n"
    "  --layers SPEC        layers to capture: all | 0,5,9 | 0-39 | 0-39:2 | even:10   (default all)\n"
    "  --capture-steps SPEC denoising steps to capture, same syntax (default all)\n"
    "  --stat-steps SPEC    steps averaged into a layer's value (default: every captured step)\n"
    "  --pass cond|uncond|both   passes to store (default cond; the statistics use cond when stored)\n"
    "  --z x_norm|x         visual state: norm3(x), the cross-attention input (default), or the residual stream x\n"
    "weak layers (see docs/statistics.md, docs/validation.md):\n"
    "  default rule: a layer is weak when its text response - how much its text cross-attention output moves when\n"
    "  the keywords are swapped for same-class words the image does not show, over the residual stream - is below\n"
    "  --response-ratio (0.4) times the depth trend of all layers' responses (a robust line through log response over\n"
    "  the layer index), median over samples (chosen and validated on planted models with validate-detector)\n"
    "  --weak-reference response|words|random|median   response: the default above; words: keyword maps' Moran's I vs\n"
    "                       the maps of the prompt's control words (content words naming no object); random: vs the\n"
    "                       random-direction null; median: robust z against the median layer (the original rule,\n"
    "                       with --z-threshold X --min-drop X --std-weight X)\n"
    "  --response-ratio X   response reference: weak below X times the depth trend (default 0.4)\n"
    "  --margin X           words / random reference: weak when the excess over the null is below -X (default 0.02)\n"
    "  --control other-words|absent   the words reference's controls: the prompt's other content words (default), or\n"
    "                       each colour / shape keyword's absent same-class words (tried and rejected, docs/validation.md)\n"
    "  --contiguous         force one contiguous band\n"
    "  --weak-layers LIST   override the detected set (e.g. 4,5,6); scores are still reported\n"
    "sanity checks (docs/validation.md):\n"
    "  --sanity             also run the sanity checks (a) value-projection randomisation, single and cascading,\n"
    "                       (b) keywords replaced by words absent from the image, (c) two objects' words peak apart\n"
    "  --sanity-samples N   samples per sanity check (default 8)\n"
    "  --random-directions N  random-direction baseline maps per layer (default 20; 0 = none)\n"
    "  --record-weak-layers write the detected set into the model folder's focalscope.json (\"weak_layers\", with\n"
    "                       the command and sample count under \"weak_layers_source\"); Focal Guidance then uses it\n"
    "figures:\n"
    "  --figure-keyword W   keyword shown in the mosaic and overlay (default: the first)\n"
    "  --frame N            latent frame shown in the mosaic (default: the middle one)\n"
    "  --columns N          steps (columns) in the mosaic (default 8)\n"
    "  --model-dir DIR      model folder (default: the embedded Shapes model)\n"
    "  --threads N          CPU threads for libtorch\n";

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<AnalyzeSample> collect_samples(const Args& a, const ModelBundle& m, std::vector<shapes::BenchCase>* cases_out) {
  const int64_t seed = a.integer("seed", 0, 0, 1LL << 60);
  std::vector<std::string> kw_arg;
  if (a.has("keywords")) {
    kw_arg = split_keyword_list(a.str("keywords"));
    if (kw_arg.empty()) fail("--keywords", "no keyword given");
  }
  std::vector<AnalyzeSample> out;
  if (a.has("suite")) {
    if (a.has("image") || a.has("prompt")) fail("--suite", "use either --suite or --image/--prompt");
    out = suite_samples(m, find_bench_root(a.str("suite")), static_cast<int>(a.integer("samples", 50, 1, 100000)),
                        a.flag("interleave"), seed, kw_arg, cases_out);
  } else {
    const std::string image = a.required("image");
    const std::string prompt = a.required("prompt");
    validate_prompt(prompt);
    const int n = static_cast<int>(a.integer("samples", 1, 1, 100000));
    at::Tensor img = load_image_tensor(image);
    for (int i = 0; i < n; ++i) {
      AnalyzeSample s;
      s.id = "seed_" + std::to_string(seed + i);
      s.image_path = image;
      s.image = img;
      s.prompt = prompt;
      s.keywords = kw_arg.empty() ? default_keywords(prompt, m) : kw_arg;
      s.seed = seed + i;
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::vector<int> parse_layer_ids(const std::string& spec, int count, const std::string& what) {
  std::vector<int> v = parse_index_list(spec, count, what);
  if (v.empty() && spec != "all") fail(what, "no layers given");
  return v;
}

int run(const std::vector<std::string>& argv0) {
  if (int rc = 0; try_analyze_hunyuan(argv0, &rc)) return rc;  // --model-dir a HunyuanVideo-I2V release
  std::vector<std::string> argv = argv0;
  const std::vector<formats::LoraSpec> loras = take_lora_args(argv);  // --lora / --lora-high / --lora-low, as generate
  std::set<std::string> opts = {"image", "prompt", "keywords", "samples", "suite", "out", "steps", "frames", "max-area", "cfg", "shift", "solver",
          "negative", "seed", "layers", "capture-steps", "stat-steps", "pass", "z", "weak-layers", "z-threshold",
          "min-drop", "std-weight", "figure-keyword", "frame", "columns", "model-dir", "threads", "random-directions", "sanity-samples", "weak-reference", "margin", "response-ratio", "control"};
  opts.insert(model_value_options().begin(), model_value_options().end());
  Args a(argv, opts, {"help", "contiguous", "interleave", "record-weak-layers", "sanity", "keep-quantised"});
  if (a.flag("help")) {
    std::printf("%s%s%s", kUsage, kModelArgsUsage, kHunyuanAnalyzeUsage);
    return 0;
  }
  if (!a.positional().empty()) fail(a.positional()[0], "unexpected argument (see --help)");
  const std::string out_dir = a.required("out");
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));  // ATen and OpenBLAS
  auto t_start = Clock::now();

  auto model = load_model_arg(model_args_from(a, loras));
  const int num_layers = model->num_layers();
  std::fprintf(stderr, "model: %s (%s), %d layers\n", model->layout.variant.c_str(), model->layout.dir.c_str(), num_layers);

  AnalyzeSettings st;
  st.base.steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  st.base.frames = static_cast<int>(a.integer("frames", -1, 1, 1025));
  st.base.max_area = a.integer("max-area", -1, 64, 4096LL * 4096);
  st.base.guide_scale = a.number("cfg", -1, 0, 50);
  st.base.shift = a.number("shift", -1, 0.01, 100);
  st.base.solver = a.str("solver");
  st.base.negative_prompt = a.str("negative");
  st.source = parse_capture_source(a.str("z", "x_norm"));
  const std::string pass = a.str("pass", "cond");
  if (pass != "cond" && pass != "uncond" && pass != "both") fail("--pass", "'" + pass + "' is not cond, uncond or both");
  st.selection.cond = pass != "uncond";
  st.selection.uncond = pass != "cond";
  st.selection.layers = parse_layer_ids(a.str("layers", "all"), num_layers, "--layers");
  st.random_directions = static_cast<int>(a.integer("random-directions", 20, 0, 1000));
  st.control_kind = parse_control_kind(a.str("control", "other-words"));
  if (model->is_mmdit()) {
    // Both read a Wan cross-attention's per-layer text keys / values for other texts (text_cross_context); the MMDiT's
    // text enters through joint attention, so its layer curves come from the similarity maps alone.
    if (st.control_kind == ControlKind::AbsentSameClass)
      fail("--control absent", "needs a cross-attention's text values per layer; the MMDiT model reads its text through joint attention (use --control other-words)");
    st.text_response = false;
    std::fprintf(stderr, "note: the text-response probe needs a cross-attention (Wan); on the MMDiT the weak-layer rule reads the Moran's I curves\n");
  }

  analysis::WeakLayerOptions rule = analysis::validated_weak_rule();  // docs/validation.md
  if (a.has("weak-reference")) rule.reference = analysis::parse_weak_reference(a.str("weak-reference"));
  rule.margin = a.number("margin", rule.margin, -1, 1);
  rule.response_ratio = a.number("response-ratio", rule.response_ratio, 0, 1);
  rule.z_threshold = a.number("z-threshold", rule.z_threshold, 0, 100);
  rule.min_drop = a.number("min-drop", rule.min_drop, 0, 100);
  rule.std_weight = a.number("std-weight", rule.std_weight, 0, 1);
  rule.contiguous = a.flag("contiguous");
  if (model->is_mmdit() && rule.reference == analysis::WeakReference::TextResponse) {
    if (a.has("weak-reference"))
      fail("--weak-reference response", "needs the text-response probe, which needs a cross-attention (Wan); use words, random or median on the MMDiT");
    rule.reference = analysis::WeakReference::ControlWords;  // keyword vs control-word Moran's I, margin rule.margin
    std::fprintf(stderr, "note: weak-layer rule on the MMDiT: --weak-reference words (margin %.3g)\n", rule.margin);
  }
  std::vector<int> override_ids;
  if (a.has("weak-layers")) override_ids = parse_layer_ids(a.str("weak-layers"), num_layers, "--weak-layers");

  std::vector<shapes::BenchCase> cases;
  std::vector<AnalyzeSample> samples = collect_samples(a, *model, &cases);
  // Steps depend on the resolved run parameters (the model's default step count when --steps is not given).
  {
    GenerateRequest probe = st.base;
    probe.image = samples.front().image.defined() ? samples.front().image : at::zeros({3, 64, 64});
    probe.prompt = samples.front().prompt;
    const RunParams P = resolve_params(*model, probe);
    st.selection.steps = parse_index_list(a.str("capture-steps", "all"), P.steps, "--capture-steps");
    st.stat_steps = parse_index_list(a.str("stat-steps", "all"), P.steps, "--stat-steps");
  }

  // Every sample's keywords resolve before anything runs (a bad word fails now, not after an hour of samples).
  for (const auto& s : samples) {
    try {
      resolve_keywords(*model->tokenizer, s.prompt, s.keywords, model->text_len, model->text_row_offset());
    } catch (const Error& e) {
      fail(s.id, e.what());
    }
  }
  for (int step : st.stat_steps)
    if (!st.selection.steps.empty() && !std::binary_search(st.selection.steps.begin(), st.selection.steps.end(), step))
      fail("--stat-steps", "step " + std::to_string(step) + " is not captured (see --capture-steps)");

  fs::create_directories(out_dir);
  std::atomic<bool>& cancel = install_cancel_on_sigint();
  std::vector<SampleOutcome> done;
  int64_t bytes_per_sample = 0;
  std::string layout_text;
  std::vector<int> layer_ids;
  std::unique_ptr<analysis::LayerCurves> curves, uncond_curves;
  bool cancelled = false;
  for (size_t i = 0; i < samples.size(); ++i) {
    AnalyzeSample& s = samples[i];
    if (!s.image.defined()) s.image = load_image_tensor(s.image_path);
    // The memory the maps will take, before the run starts.
    GenerateRequest probe = st.base;
    probe.image = s.image;
    probe.prompt = s.prompt;
    const RunParams P = resolve_params(*model, probe);
    const CaptureLayout plan = plan_capture(*model, st, P, static_cast<int64_t>(s.keywords.size()));
    if (i == 0) {
      bytes_per_sample = plan.bytes();
      layout_text = plan.describe();
      std::fprintf(stderr, "capture memory per sample: %s (%s per keyword); maps of sample 1 are kept for the figures\n",
                   layout_text.c_str(), format_bytes(plan.bytes_per_keyword()).c_str());
    }
    std::string kws;
    for (const auto& k : s.keywords) kws += (kws.empty() ? "" : ",") + k;
    std::fprintf(stderr, "[%zu/%zu] %s  seed %lld  keywords %s  \"%s\"\n", i + 1, samples.size(), s.id.c_str(),
                 static_cast<long long>(s.seed), kws.c_str(), s.prompt.c_str());
    RunHooks hooks;
    hooks.cancel = &cancel;
    const std::string label = "  sample " + std::to_string(i + 1) + "/" + std::to_string(samples.size());
    hooks.on_step = [&](const StepProgress& p) { print_progress(label, p.step, p.total, p.elapsed_s, p.eta_s); };
    SampleOutcome o = run_analysis_sample(*model, s, st, /*keep_maps=*/i == 0, hooks);
    end_progress();
    if (o.cancelled) {
      cancelled = true;
      std::fprintf(stderr, "cancelled: writing the results of the %zu finished samples\n", done.size());
      break;
    }
    if (!curves) {
      layer_ids = o.layout.layers;
      curves = std::make_unique<analysis::LayerCurves>(static_cast<int>(layer_ids.size()));
      if (o.stats.size() > 1) uncond_curves = std::make_unique<analysis::LayerCurves>(static_cast<int>(layer_ids.size()));
    }
    if (o.layout.layers != layer_ids) fail(s.id, "captured layers differ from the first sample's");
    add_to_curves(o, *curves);
    if (uncond_curves) uncond_curves->add_sample(o.stats.back().layer_means(stat_step_slots(o.layout, st.stat_steps)));
    // Layer values of this sample, compactly: the running picture while a long suite runs.
    std::fprintf(stderr, "  %.2f s generation + %.3f s statistics | Moran's I per layer: %s\n", o.seconds_generate,
                 o.seconds_stats, moran_line(o.layer_values).c_str());
    for (size_t x = 0; x < o.by_expert.size(); ++x) {  // Wan2.2: the same curve per expert
      const std::string el = moran_line(o.by_expert[x].layer_values);
      std::fprintf(stderr, "    %s-noise expert: %s\n", x == 1 ? "high" : "low", el.empty() ? "(ran none of the stat steps)" : el.c_str());
    }
    if (!o.text_response.empty()) {
      // Relative to this sample's median layer, as the default rule reads it.
      std::vector<double> sorted = o.text_response;
      std::sort(sorted.begin(), sorted.end());
      const size_t n = sorted.size();
      const double mid = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
      std::string line;
      for (double r : o.text_response) {
        char b[16];
        std::snprintf(b, sizeof b, "%s%.2f", line.empty() ? "" : " ", mid > 0 ? r / mid : 0.0);
        line += b;
      }
      std::fprintf(stderr, "  text response per layer (/ median layer): %s\n", line.c_str());
    }
    done.push_back(std::move(o));
  }
  if (done.empty()) {
    std::fprintf(stderr, "no sample finished: nothing written\n");
    return cancelled ? 130 : 1;
  }

  // Weak layers over all finished samples (override ids -> curve slots).
  if (!override_ids.empty()) {
    std::vector<int> slots;
    for (int id : override_ids) {
      auto it = std::find(layer_ids.begin(), layer_ids.end(), id);
      if (it == layer_ids.end()) fail("--weak-layers", "layer " + std::to_string(id) + " was not captured");
      slots.push_back(static_cast<int>(it - layer_ids.begin()));
    }
    rule.override_layers = slots;
  }
  const analysis::WeakLayerReport report = curves->detect(rule);
  // Every verdict's uncertainty: the samples resampled with replacement and the rule re-run (docs/statistics.md).
  const auto t_boot = Clock::now();
  const std::vector<analysis::LayerUncertainty> unc = analysis::bootstrap_weak_layers(
      analysis::WeakLayerDetector(rule), curves->moran(), curves->std_minmax(), curves->null_for(rule.reference));
  const double boot_s = since(t_boot);

  std::vector<int> weak_ids;
  for (int w : report.weak) weak_ids.push_back(layer_ids[static_cast<size_t>(w)]);

  // Wan2.2 I2V-A14B: the same rule and bootstrap once per expert, on the stat steps it ran — do the two experts have
  // the same weak layers? (Skipped for an expert that ran none of some sample's stat steps, and with --weak-layers.)
  std::vector<AnalyzeSummary::Expert> experts;
  if (!done.front().step_expert.empty() && !rule.override_layers) {
    for (int e : {1, 0}) {
      const bool ran = std::all_of(done.begin(), done.end(), [&](const SampleOutcome& o) {
        return o.by_expert.size() == 2 && !o.by_expert[static_cast<size_t>(e)].layer_values.empty();
      });
      if (!ran) {
        std::fprintf(stderr, "%s-noise expert: ran none of some sample's stat steps: no decision of its own\n", e == 1 ? "high" : "low");
        continue;
      }
      AnalyzeSummary::Expert x;
      x.name = e == 1 ? "high_noise" : "low_noise";
      x.curves = std::make_unique<analysis::LayerCurves>(static_cast<int>(layer_ids.size()));
      for (const auto& o : done) add_expert_to_curves(o, e, *x.curves);
      x.report = x.curves->detect(rule);
      const auto tb = Clock::now();
      x.uncertainty = analysis::bootstrap_weak_layers(analysis::WeakLayerDetector(rule), x.curves->moran(), x.curves->std_minmax(),
                                                      x.curves->null_for(rule.reference));
      x.bootstrap_seconds = since(tb);
      experts.push_back(std::move(x));
    }
  }

  // Figures.
  const SampleOutcome& first = done.front();
  FigureOptions fo;
  fo.weak = weak_ids;
  fo.frame = static_cast<int>(a.integer("frame", -1, -1, 100000));
  fo.columns = static_cast<int>(a.integer("columns", 8, 1, 64));
  if (a.has("figure-keyword")) {
    const std::string w = a.str("figure-keyword");
    fo.keyword = -1;
    for (size_t k = 0; k < first.keywords.size(); ++k)
      if (first.keywords[k].word == w || first.sample.keywords[k] == w) fo.keyword = static_cast<int>(k);
    if (fo.keyword < 0) fail("--figure-keyword", "'" + w + "' is not a keyword of the first sample");
  }
  const std::string pass_label = first.layout.passes.front() == PassRole::Cond ? "cond pass" : "uncond pass";
  std::vector<std::string> figures = {"fig1_similarity_mosaic.png", "fig2_layer_curves.png", "fig3_map_overlay.png"};
  render::save_png((fs::path(out_dir) / figures[0]).string(), similarity_mosaic(first, fo));
  render::save_png((fs::path(out_dir) / figures[1]).string(), layer_curves(*curves, report, layer_ids, pass_label));
  render::save_png((fs::path(out_dir) / figures[2]).string(), map_overlays(first, fo));
  for (const auto& x : experts) {  // Wan2.2: each expert's curves with its own verdicts
    figures.push_back("fig2_layer_curves_" + x.name + ".png");
    render::save_png((fs::path(out_dir) / figures.back()).string(),
                     layer_curves(*x.curves, x.report, layer_ids, pass_label + ", " + x.noise() + "-noise expert's steps"));
  }
  if (!first.step_expert.empty()) {  // Wan2.2: the mosaic and the overlay once per expert, from the steps it ran
    for (int e : {1, 0}) {
      FigureOptions xo = fo;
      std::vector<int> ready;
      for (int slot = 0; slot < first.capture->ready_steps(); ++slot) ready.push_back(slot);
      xo.step_slots = expert_step_slots(first.capture->layout(), first.step_expert, e, ready);
      const std::string noise = e == 1 ? "high" : "low";
      if (xo.step_slots.empty()) {
        std::fprintf(stderr, "%s-noise expert: none of its steps was captured: no mosaic / overlay of its own\n", noise.c_str());
        continue;
      }
      xo.label = noise + "-noise expert's steps";
      figures.push_back("fig1_similarity_mosaic_" + noise + "_noise.png");
      render::save_png((fs::path(out_dir) / figures.back()).string(), similarity_mosaic(first, xo));
      figures.push_back("fig3_map_overlay_" + noise + "_noise.png");
      render::save_png((fs::path(out_dir) / figures.back()).string(), map_overlays(first, xo));
    }
  }

  write_per_layer_csv((fs::path(out_dir) / "per_layer.csv").string(), done);
  AnalyzeSummary sum;
  sum.model_dir = model->layout.dir;
  sum.model_variant = model->layout.variant;
  sum.settings = &st;
  sum.layers = layer_ids;
  sum.curves = curves.get();
  sum.report = &report;
  sum.rule = &rule;
  sum.uncond_curves = uncond_curves.get();
  // One sample has no spread to resample: its "intervals" would have zero width and P(weak) would be 0 or 1, so
  // neither is reported (metrics.json omits them, the table says n/a).
  const bool has_intervals = curves->samples() >= 2;
  sum.uncertainty = has_intervals ? &unc : nullptr;
  sum.capture_bytes_per_sample = bytes_per_sample;
  sum.capture_layout = layout_text;
  sum.cancelled = cancelled;
  sum.seconds_total = since(t_start);
  sum.figures = figures;
  sum.experts = std::move(experts);
  {
    std::ofstream mj(fs::path(out_dir) / "metrics.json");
    mj << metrics_json(sum, done).dump(1) << "\n";
    if (!mj) fail(out_dir + "/metrics.json", "write failed");
  }

  print_weak_layer_table(layer_ids, unc, report, rule, curves->samples(), boot_s);
  // "4,5,6" / "none": the layer ids of a report's weak slots.
  auto weak_list = [&](const std::vector<int>& slots) {
    std::string out;
    for (int w : slots) out += (out.empty() ? "" : ",") + std::to_string(layer_ids[static_cast<size_t>(w)]);
    return out.empty() ? std::string("none") : out;
  };
  std::printf("weak layers%s: %s\n", report.overridden ? " (override)" : "", weak_list(report.weak).c_str());
  for (const auto& x : sum.experts) {
    std::printf("\n%s-noise expert (its own stat steps, same rule):\n", x.noise());
    print_weak_layer_table(layer_ids, x.uncertainty, x.report, rule, x.curves->samples(), x.bootstrap_seconds);
    std::printf("weak layers of the %s-noise expert: %s\n", x.noise(), weak_list(x.report.weak).c_str());
  }
  if (a.flag("record-weak-layers")) {
    if (cancelled) fail("--record-weak-layers", "the run was cancelled: not recording a partial result");
    if (model->layout.format != "focalscope") fail("--record-weak-layers", "only a FocalScope model folder has a manifest to record into");
    if (weak_ids.empty()) fail("--record-weak-layers", "no weak layers were detected: nothing to record");
    std::string command = "focalscope analyze";
    for (const auto& s2 : argv) command += " " + s2;
    record_weak_layers(model->layout.dir, weak_ids, {{"command", command}, {"samples", curves->samples()}});
    std::printf("recorded weak layers in %s/focalscope.json\n", model->layout.dir.c_str());
  }
  if (a.flag("sanity") && !cancelled) {
    SanityOptions so;
    so.samples = static_cast<int>(a.integer("sanity-samples", 8, 1, 1000));
    so.cancel = &cancel;
    std::vector<const shapes::BenchCase*> case_ptrs;
    for (const auto& c : cases) case_ptrs.push_back(&c);
    for (auto& s : samples)
      if (!s.image.defined()) s.image = load_image_tensor(s.image_path);
    const int sanity_total = so.samples * (1 + 2 * num_layers + 3);
    std::fprintf(stderr, "sanity checks: %d samples per check, about %d generations\n", so.samples, sanity_total);
    int sanity_done = 0;
    const auto sanity_t0 = Clock::now();
    so.on_generation = [&] {
      ++sanity_done;
      const double el = std::chrono::duration<double>(Clock::now() - sanity_t0).count();
      const int total = std::max(sanity_total, sanity_done);
      print_progress("[sanity] generations", sanity_done, total, el, el / sanity_done * (total - sanity_done));
    };
    const SanityResult sr = run_sanity_checks(*model, samples, case_ptrs, st, so);
    end_progress();
    if (sr.cancelled) {
      std::fprintf(stderr, "sanity checks cancelled\n");
    } else {
      for (const auto& line : sr.lines) std::printf("%s\n", line.c_str());
      std::ofstream sj(fs::path(out_dir) / "sanity.json");
      sj << sr.json.dump(1) << "\n";
      if (!sj) fail(out_dir + "/sanity.json", "write failed");
    }
  }
  std::string files = "metrics.json, per_layer.csv";
  for (const auto& f : sum.figures) files += ", " + f;
  std::printf("samples: %d | wrote %s/{%s} in %.1f s\n", curves->samples(), out_dir.c_str(), files.c_str(), sum.seconds_total);
  return cancelled ? 130 : 0;
}

}  // namespace

FOCALSCOPE_COMMAND("analyze", "similarity capture -> per-layer Moran's I / std, weak layers, Fig. 1/2 style figures", run);

}  // namespace focalscope::cli
