// focalscope bench-capture: what similarity capture + statistics add to a full generation. Runs the same
// generation with capture off and on, alternating (off, on, off, on, ...) so machine load drifts hit both alike,
// after one untimed warm-up of each. Last line: "ratio X.XX" = time(capture on) / time(capture off), the median
// over the back-to-back pairs,
// where "on" includes the maps' Moran's I / std (exactly what `focalscope analyze` does per sample).
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "app/cli/analyze_run.h"
#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/media.h"
#include "app/cli/model_arg.h"
#include "engine/core/error.h"
#include "engine/core/blas_check.h"
#include "engine/shapes/shapes_prompts.h"

namespace focalscope::cli {
namespace {

using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: focalscope bench-capture [options]\n"
    "Times a full generation (encode, sampling, decode) with and without similarity capture + statistics,\n"
    "alternating, and prints per-run times, the medians and finally 'ratio X.XX' = on / off (median over pairs).\n"
    "  --reps N            timed pairs (default 5)\n"
    "  --image PNG         reference image (default: a synthetic red disc on a grey-blue background)\n"
    "  --prompt TEXT       (default: \"The red circle moves to the right.\")\n"
    "  --keywords w1,w2    (default: the prompt's object words)\n"
    "  --layers SPEC --capture-steps SPEC --pass cond|uncond|both --z x_norm|x   capture settings (default: all, cond)\n"
    "  --steps N --frames N --max-area N   sampling (default: the model's)\n"
    "  --model-dir DIR --threads N\n"
    "  --text-response-cost  time the analysis with the per-layer text response (on) against the same analysis\n"
    "                      without it (off) instead of analysis against plain generation\n"
    "  --hallucination     time plain generation with KV-Lock's hallucination metric (on, window 10) against the same\n"
    "                      generation without it (off)\n";

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A 96x96 red disc on a muted background (a Shapes-like scene) when no image is given.
at::Tensor synthetic_image() {
  at::Tensor img = at::empty({3, 96, 96});
  auto a = img.accessor<float, 3>();
  for (int y = 0; y < 96; ++y)
    for (int x = 0; x < 96; ++x) {
      const bool disc = (x - 40) * (x - 40) + (y - 48) * (y - 48) < 14 * 14;
      const float rgb[3] = {disc ? 0.85f : -0.3f, disc ? -0.7f : -0.15f, disc ? -0.7f : 0.1f};
      for (int c = 0; c < 3; ++c) a[c][y][x] = rgb[c];
    }
  return img;
}

int run(const std::vector<std::string>& argv) {
  Args a(argv, {"reps", "image", "prompt", "keywords", "layers", "capture-steps", "pass", "z", "steps", "frames",
                "max-area", "model-dir", "threads"},
         {"help", "text-response-cost", "hallucination"});
  if (a.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));  // ATen and OpenBLAS
  const int reps = static_cast<int>(a.integer("reps", 5, 1, 1000));
  auto model = load_model_arg(a.str("model-dir"));

  AnalyzeSample s;
  s.id = "bench";
  s.image = a.has("image") ? load_image_tensor(a.str("image")) : synthetic_image();
  s.image_path = a.has("image") ? a.str("image") : "(synthetic)";
  s.prompt = a.str("prompt", "The red circle moves to the right.");
  s.keywords = a.has("keywords") ? split_keyword_list(a.str("keywords")) : shapes::object_words(s.prompt);
  if (s.keywords.empty()) fail("--keywords", "the prompt has no object words: name the keywords");
  s.seed = 0;

  AnalyzeSettings st;
  st.base.steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  st.base.frames = static_cast<int>(a.integer("frames", -1, 1, 1025));
  st.base.max_area = a.integer("max-area", -1, 64, 4096LL * 4096);
  st.source = parse_capture_source(a.str("z", "x_norm"));
  const std::string pass = a.str("pass", "cond");
  if (pass != "cond" && pass != "uncond" && pass != "both") fail("--pass", "'" + pass + "' is not cond, uncond or both");
  st.selection.cond = pass != "uncond";
  st.selection.uncond = pass != "cond";
  st.selection.layers = parse_index_list(a.str("layers", "all"), model->num_layers(), "--layers");
  GenerateRequest req = st.base;
  req.image = s.image;
  req.prompt = s.prompt;
  req.seed = s.seed;
  const RunParams P = resolve_params(*model, req);
  st.selection.steps = parse_index_list(a.str("capture-steps", "all"), P.steps, "--capture-steps");
  const CaptureLayout plan = plan_capture(*model, st, P, static_cast<int64_t>(s.keywords.size()));

  std::printf("model: %s | %d layers | %d steps, %d frames, %lldx%lld | threads %d\n", model->layout.variant.c_str(),
              model->num_layers(), P.steps, P.frames, static_cast<long long>(P.width),
              static_cast<long long>(P.height), at::get_num_threads());
  std::printf("capture: %s\n", plan.describe().c_str());

  // Wall time is what the user waits for; process CPU time (all threads) is printed beside it because on a
  // shared machine it is far less sensitive to other processes' load.
  double cpu_s = 0;
  auto timed = [&](auto&& fn) {
    const std::clock_t c0 = std::clock();
    auto t0 = Clock::now();
    fn();
    cpu_s = double(std::clock() - c0) / CLOCKS_PER_SEC;
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  double stats_s = 0;
  const bool response_cost = a.flag("text-response-cost"), hallucination = a.flag("hallucination");
  if (response_cost && hallucination) fail("--hallucination", "choose one of --hallucination and --text-response-cost");
  AnalyzeSettings st_without = st;
  st_without.text_response = false;
  GenerateRequest req_plain = req;  // "off": no similarity capture and no hallucination metric either
  req_plain.hallucination_window = 0;
  auto time_off = [&] {
    if (response_cost) return timed([&] { run_analysis_sample(*model, s, st_without, /*keep_maps=*/false); });
    return timed([&] { generate(*model, hallucination ? req_plain : req); });
  };
  if (response_cost) std::printf("off = analysis without the text response, on = with it\n");
  if (hallucination) std::printf("off = generation without the hallucination metric, on = with it (window %d)\n", req.hallucination_window);
  auto time_on = [&] {
    if (hallucination) {
      int steps = 0;
      const double t = timed([&] { steps = generate(*model, req).hallucination.steps(); });
      if (steps != P.steps) fail("bench-capture", "the hallucination metric recorded no steps");  // nothing timed
      return t;
    }
    return timed([&] { stats_s = run_analysis_sample(*model, s, st, /*keep_maps=*/false).seconds_stats; });
  };
  time_off();  // warm-up: allocator, thread pool, lazily built tables
  time_on();
  std::vector<double> off, on, stat, cpu_off, cpu_on;
  std::printf("%4s %10s %10s %10s %10s %10s\n", "rep", "off_s", "on_s", "stats_s", "off_cpu_s", "on_cpu_s");
  for (int i = 0; i < reps; ++i) {
    off.push_back(time_off());
    cpu_off.push_back(cpu_s);
    on.push_back(time_on());
    cpu_on.push_back(cpu_s);
    stat.push_back(stats_s);
    std::printf("%4d %10.3f %10.3f %10.4f %10.3f %10.3f\n", i + 1, off.back(), on.back(), stat.back(), cpu_off.back(),
                cpu_on.back());
    std::fflush(stdout);
  }
  // Each pair ran back to back, so its ratio sees one machine load; the median of the pair ratios is robust to
  // load that drifts between pairs (other processes on a shared machine).
  std::vector<double> pair;
  for (size_t i = 0; i < off.size(); ++i) pair.push_back(on[i] / off[i]);
  const double ratio = median(pair);
  std::vector<double> cpu_pair;
  for (size_t i = 0; i < off.size(); ++i) cpu_pair.push_back(cpu_on[i] / cpu_off[i]);
  std::printf("cpu time: off %.3f s, on %.3f s; median of on/off per pair %.3f\n", median(cpu_off), median(cpu_on),
              median(cpu_pair));
  std::printf("median: off %.3f s, on %.3f s (statistics %.4f s); median of on/off per pair %.3f (%+.1f%%)\n",
              median(off), median(on), median(stat), ratio, 100.0 * (ratio - 1.0));
  std::printf("ratio %.2f\n", ratio);
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("bench-capture", "generation time with similarity capture + statistics vs. without (ends 'ratio X.XX')", run);

}  // namespace focalscope::cli
