// focalscope calibrate: per-model Focal Guidance thresholds from the model's own statistics on training-range cases
// (fresh Shapes cases from the training seed range, never the benchmark's):
//   tau_cache  the P-th percentile (default 90) of the aggregated Attention Cache values (Eq. 11: mean over the
//              responsive layers of cos(V(k), z)) that the weak layers receive, so the cache keeps the top (100-P)% of
//              token x keyword positions on typical inputs. A fixed threshold cannot carry over between models: the
//              cosine's scale depends on the width and training of each model (0.2 keeps nothing on the embedded one).
//   tau_sel    the threshold on Eq. 6's max_n S that best separates the prompt's object words (colour and shape words,
//              which name objects in the image) from its other content words (Youden's J over the two score
//              distributions); function words are never candidates.
// Prints both distributions; --write records the thresholds and their provenance in the manifest ("calibration"),
// from where generate / bench / sweep / the app take them unless a threshold is given explicitly.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "analysis/weak_layers.h"
#include "app/cli/args.h"
#include "engine/guidance/guided_edit.h"
#include "engine/pipeline/kv_lock.h"
#include "engine/shapes/shapes_edit.h"
#include "app/cli/command.h"
#include "app/cli/model_arg.h"
#include "app/cli/progress.h"
#include "engine/core/blas_check.h"
#include "engine/core/error.h"
#include "engine/sched/dyn_cfg.h"
#include "engine/guidance/guided_generate.h"
#include "engine/shapes/shapes_prompts.h"
#include "engine/train/shapes_data.h"
#include "engine/train/train_options.h"

namespace focalscope::cli {
namespace {

constexpr uint64_t kStreamCalibrate = 0x43414c01;  // fixed forever, like the streams in train_options.h
constexpr uint64_t kStreamCalibrateEdit = 0x43414c02;

const char* kUsage =
    "usage: focalscope calibrate [--model-dir DIR] [--cases N] [--percentile P] [--kvlock-percentile P] [--seed S]\n"
    "                            [--write] [--out FILE]\n"
    "Calibrates the model's Focal Guidance thresholds on N fresh training-range Shapes cases per dimension\n"
    "(default 10; never benchmark cases): tau_cache = the P-th percentile (default 90) of the Attention Cache values\n"
    "the weak layers receive (Eq. 11), tau_sel = the Eq. 6 score that best separates object words from the other\n"
    "content words (Youden's J). Prints both distributions; --write stores the thresholds with their provenance under\n"
    "\"calibration\" in the model's focalscope.json, where guidance takes them unless given explicitly; --out FILE\n"
    "writes the distributions as JSON. Needs the model's weak layers (focalscope analyze --record-weak-layers).\n"
    "The same runs give KV-Lock's tau on this model's latent scale: the --kvlock-percentile P-th percentile (default\n"
    "90) of the hallucination metric over the steps dynamic CFG schedules (the last kappa of each run), stored under\n"
    "\"kvlock\" with its distribution (docs/kv_lock.md); and, from N plain edits per dimension of training-range Shapes\n"
    "edit cases, tau_local: the same percentile of sigma2 inside each edit's mask over KV-Lock's locked steps (what an\n"
    "edit's alpha and omega read).\n";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!s.empty() && !std::isalnum(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

nlohmann::json summary(const std::vector<double>& v) {
  if (v.empty()) return {{"n", 0}};
  return {{"n", v.size()}, {"min", analysis::quantile(v, 0)}, {"p10", analysis::quantile(v, 0.1)},
          {"p50", analysis::quantile(v, 0.5)}, {"p90", analysis::quantile(v, 0.9)}, {"p99", analysis::quantile(v, 0.99)},
          {"max", analysis::quantile(v, 1)}};
}

// The threshold t maximising J = TPR - FPR for "score > t" (positives above, negatives below); candidates are the
// midpoints between consecutive distinct scores.
std::pair<double, double> youden_threshold(const std::vector<double>& pos, const std::vector<double>& neg) {
  std::vector<double> all = pos;
  all.insert(all.end(), neg.begin(), neg.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  double best_t = all.empty() ? 0.0 : all.front(), best_j = -2;
  for (size_t i = 0; i + 1 < all.size(); ++i) {
    const double t = (all[i] + all[i + 1]) / 2;
    const double tpr = double(std::count_if(pos.begin(), pos.end(), [&](double x) { return x > t; })) / double(pos.size());
    const double fpr = double(std::count_if(neg.begin(), neg.end(), [&](double x) { return x > t; })) / double(neg.size());
    if (tpr - fpr > best_j) best_j = tpr - fpr, best_t = t;
  }
  return {best_t, best_j};
}

int run(const std::vector<std::string>& argv) {
  Args a(argv, {"model-dir", "cases", "percentile", "kvlock-percentile", "seed", "out", "threads"}, {"help", "write"});
  if (a.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (!a.positional().empty()) fail(a.positional()[0], "unexpected argument (see --help)");
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));
  const int per_dim = static_cast<int>(a.integer("cases", 10, 1, 1000));
  const double pct = a.number("percentile", 90, 1, 99.9);
  const double kv_pct = a.number("kvlock-percentile", 90, 1, 99.9);
  const uint64_t seed = static_cast<uint64_t>(a.integer("seed", 11, 0, 1LL << 62));
  auto model = load_model_arg(a.str("model-dir"));
  if (model->weak_layers.empty())
    fail(model->layout.dir, "no weak layers in the manifest: the Attention Cache has nowhere to act (run `focalscope analyze "
                            "--record-weak-layers` first)");
  if (!model->clip_text) fail(model->layout.dir, "the model has no CLIP text tower: keyword selection (Eq. 6) cannot be calibrated");

  train::WorldSpec world;
  world.frames = model->defaults.frames;
  world.fps = model->defaults.fps;
  world.width = world.height = model->clip.cfg.image_size;
  GuidanceConfig g;
  g.set_mode("ac");
  g.tau_cache = 1.0;  // keeps nothing: the run is the baseline, and every aggregated value is recorded
  g.tau_cache_given = true;
  std::vector<double> cache, obj_scores, other_scores;
  std::vector<double> late_sigma2;  // the hallucination metric over the steps dynamic CFG schedules (the last kappa)
  const DynCfgConfig dyn_defaults;
  std::atomic<bool>& cancel = install_cancel_on_sigint();
  const int total = per_dim * 3;
  int idx = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (shapes::Dimension dim : shapes::all_dimensions())
    for (int k = 0; k < per_dim && !cancel.load(); ++k, ++idx) {
      const uint64_t ws = train::world_seed(seed, kStreamCalibrate, static_cast<uint64_t>(idx));
      const auto c = train::sample_case_robust(ws, world, dim, 3);
      GenerateRequest req;
      req.image = train::frame_to_tensor(shapes::render_reference(c));
      req.prompt = c.prompt;
      req.seed = static_cast<int64_t>(ws % 1000003);
      g.keywords = shapes::object_words(c.prompt);  // the words the cache serves (Eq. 6 scores every word regardless)
      RunHooks hooks;
      hooks.cancel = &cancel;
      GuidedResult r = generate_guided(*model, req, g, hooks, /*record_cache_values=*/true);
      if (r.run.cancelled) break;
      for (float v : r.stats.cache_samples) cache.push_back(v);
      const auto& sig = r.run.hallucination.global;
      const int steps = r.run.hallucination.steps();
      for (int s = steps - scheduled_steps(dyn_defaults, steps); s < steps; ++s)
        if (s >= 0 && std::isfinite(sig[static_cast<size_t>(s)])) late_sigma2.push_back(sig[static_cast<size_t>(s)]);
      std::set<std::string> objects;
      for (const auto& w : shapes::object_words(c.prompt)) objects.insert(lower(w));
      for (const auto& w : r.plan.words) {
        if (!std::isfinite(w.clip_max) || w.tokens.empty()) continue;
        if (objects.count(lower(w.word))) obj_scores.push_back(w.clip_max);
        else if (!is_function_word(lower(w.word))) other_scores.push_back(w.clip_max);
      }
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      print_progress("[calibrate] cases", idx + 1, total, el, el / (idx + 1) * (total - idx - 1));
    }
  end_progress();
  // The local reading: plain edits of training-range Shapes edit cases, sigma2 inside each edit's mask over the
  // steps the lock is scheduled in (what KV-Lock's alpha and an edit's omega read).
  std::vector<double> local_sigma2;
  const KvLockConfig lock_defaults;
  int edits = 0;
  const auto te = std::chrono::steady_clock::now();
  for (shapes::Dimension dim : shapes::all_dimensions())
    for (int k = 0; k < per_dim && !cancel.load(); ++k, ++edits) {
      const uint64_t ws = train::world_seed(seed, kStreamCalibrateEdit, static_cast<uint64_t>(edits)) % shapes::kTrainSeedLimit;
      const shapes::EditCase ec = shapes::sample_edit_case(ws, world.config(), dim);
      std::vector<at::Tensor> frames;
      for (const auto& f : shapes::render_annotation(ec.source.annotation)) frames.push_back(train::frame_to_tensor(f));
      EditRequest er;
      er.source_video = at::stack(frames, 1);
      er.mask = at::from_blob(const_cast<uint8_t*>(ec.mask.data()), {1, ec.mask_h, ec.mask_w}, at::kByte).to(at::kFloat);
      er.gen.prompt = ec.instruction();
      er.gen.seed = static_cast<int64_t>(ws % 1000003);
      EditJob job = prepare_edit(*model, er, GuidanceConfig{});
      job.gen.hallucination_mask = latent_mask_from_pixels(job.gen.kvlock.pixel_mask, model->vae.cfg.temporal_stride(),
                                                           model->vae.cfg.spatial_stride());
      RunHooks hooks;
      hooks.cancel = &cancel;
      const EditResult r = run_edit(*model, job, hooks);
      if (r.guided.run.cancelled) break;
      const auto& sig = r.guided.run.hallucination.local;
      const int steps = r.guided.run.hallucination.steps();
      for (int s = steps - locked_steps(lock_defaults, steps); s < steps; ++s)
        if (s >= 0 && std::isfinite(sig[static_cast<size_t>(s)])) local_sigma2.push_back(sig[static_cast<size_t>(s)]);
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
      print_progress("[calibrate] edits", edits + 1, total, el, el / (edits + 1) * (total - edits - 1));
    }
  end_progress();
  if (cancel.load()) {
    std::fprintf(stderr, "cancelled: nothing written\n");
    return 130;
  }
  if (cache.empty()) fail(model->layout.dir, "no Attention Cache values were produced (no responsive layer before the weak ones?)");
  if (obj_scores.empty() || other_scores.empty()) fail("calibrate", "too few words to calibrate tau_sel; raise --cases");
  if (late_sigma2.empty()) fail("calibrate", "no hallucination metric values in the scheduled steps (too few steps?)");
  const double tau_cache = analysis::quantile(cache, pct / 100.0);
  const double kv_tau = analysis::quantile(late_sigma2, kv_pct / 100.0);
  if (local_sigma2.empty()) fail("calibrate", "no hallucination metric values inside the edit masks in the locked steps");
  const double kv_tau_local = analysis::quantile(local_sigma2, kv_pct / 100.0);
  const auto [tau_sel, j] = youden_threshold(obj_scores, other_scores);
  nlohmann::json dist = {{"cache_values", summary(cache)}, {"object_word_scores", summary(obj_scores)},
                         {"other_word_scores", summary(other_scores)}, {"youden_j", j}};
  std::string command = "focalscope calibrate";
  for (const auto& s : argv) command += " " + s;
  nlohmann::json cal = {{"tau_cache", tau_cache}, {"tau_sel", tau_sel},
                        {"source", {{"command", command}, {"cases", idx}, {"seed", seed}, {"percentile", pct},
                                    {"weak_layers", model->weak_layers}, {"distributions", dist}}}};
  std::printf("model %s, weak layers", model->layout.variant.c_str());
  for (int l : model->weak_layers) std::printf(" %d", l);
  std::printf(" | %d training-range cases\n", idx);
  std::printf("attention cache values (Eq. 11): n %zu, median %.4f, p90 %.4f, p99 %.4f, max %.4f\n", cache.size(),
              analysis::quantile(cache, 0.5), analysis::quantile(cache, 0.9), analysis::quantile(cache, 0.99),
              analysis::quantile(cache, 1));
  std::printf("  -> tau_cache = p%.0f = %.4f (was %.2f by default: keeps %.1f%% of values)\n", pct, tau_cache,
              GuidanceConfig{}.tau_cache,
              100.0 * double(std::count_if(cache.begin(), cache.end(), [](double v) { return v > GuidanceConfig{}.tau_cache; })) /
                  double(cache.size()));
  std::printf("Eq. 6 scores: object words n %zu median %.3f [p10 %.3f]; other content words n %zu median %.3f [p90 %.3f]\n",
              obj_scores.size(), analysis::quantile(obj_scores, 0.5), analysis::quantile(obj_scores, 0.1),
              other_scores.size(), analysis::quantile(other_scores, 0.5), analysis::quantile(other_scores, 0.9));
  std::printf("  -> tau_sel = %.3f (Youden's J %.2f)\n", tau_sel, j);
  std::printf("hallucination sigma2 over the last %d of %d steps (dynamic CFG's scheduled steps): n %zu, p10 %.3g, "
              "median %.3g, p90 %.3g, max %.3g\n", scheduled_steps(dyn_defaults, model->defaults.steps),
              model->defaults.steps, late_sigma2.size(), analysis::quantile(late_sigma2, 0.1),
              analysis::quantile(late_sigma2, 0.5), analysis::quantile(late_sigma2, 0.9), analysis::quantile(late_sigma2, 1));
  std::printf("  -> kvlock tau = p%.0f = %.4g (the paper's 0.01 on its own latent scale would flag %.1f%% of these steps)\n",
              kv_pct, kv_tau,
              100.0 * double(std::count_if(late_sigma2.begin(), late_sigma2.end(), [](double v) { return v > 0.01; })) /
                  double(late_sigma2.size()));
  std::printf("sigma2 inside the edit mask over the last %d steps of %d plain edits (KV-Lock's locked steps): n %zu, "
              "p10 %.3g, median %.3g, p90 %.3g, max %.3g\n", locked_steps(lock_defaults, model->defaults.steps), edits,
              local_sigma2.size(), analysis::quantile(local_sigma2, 0.1), analysis::quantile(local_sigma2, 0.5),
              analysis::quantile(local_sigma2, 0.9), analysis::quantile(local_sigma2, 1));
  std::printf("  -> kvlock tau_local = p%.0f = %.4g\n", kv_pct, kv_tau_local);
  const nlohmann::json kvlock = {{"tau", kv_tau},
                                 {"tau_local", kv_tau_local},
                                 {"source", {{"command", command}, {"cases", idx}, {"seed", seed}, {"percentile", kv_pct},
                                             {"steps", "the last kappa (dynamic CFG's scheduled steps) of each run"},
                                             {"sigma2", summary(late_sigma2)}}},
                                 {"source_local", {{"command", command}, {"edits", edits}, {"seed", seed}, {"percentile", kv_pct},
                                                   {"runs", "plain edits (guidance off) of training-range Shapes edit cases"},
                                                   {"steps", "the last kappa (KV-Lock's locked steps) of each edit"},
                                                   {"sigma2", summary(local_sigma2)}}}};
  if (a.has("out")) {
    std::ofstream out(a.str("out"));
    out << nlohmann::json{{"calibration", cal}, {"kvlock", kvlock}}.dump(1) << "\n";
    if (!out) fail(a.str("out"), "cannot write");
  }
  if (a.flag("write")) {
    if (model->layout.format != "focalscope") fail("--write", "only a FocalScope model folder has a manifest to record into");
    record_calibration(model->layout.dir, cal);
    record_kvlock(model->layout.dir, kvlock);
    std::printf("recorded in %s/focalscope.json (\"calibration\", \"kvlock\")\n", model->layout.dir.c_str());
  }
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("calibrate", "per-model Focal Guidance thresholds (tau_cache, tau_sel) from training-range cases", run);

}  // namespace focalscope::cli
