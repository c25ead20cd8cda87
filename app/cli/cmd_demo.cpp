// focalscope demo: the headless main job on the embedded default (what scripts/run.sh runs without a display).
// Picks a benchmark case, runs the layer analysis on it (video, Fig. 1 mosaic, Fig. 2 curves, overlays), then the same
// case with Focal Guidance, and writes baseline / FG / side-by-side A/B videos with the strict checker's verdicts.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "analysis/shapes_checker.h"
#include "app/cli/args.h"
#include "app/cli/bench_runner.h"
#include "app/cli/command.h"
#include "app/cli/media.h"
#include "app/cli/model_arg.h"
#include "engine/core/error.h"
#include "engine/guidance/guided_generate.h"
#include "render/canvas.h"
#ifdef FOCALSCOPE_WITH_VIDEO
#include "render/video_writer.h"
#endif

namespace fs = std::filesystem;

namespace focalscope::cli {
namespace {

std::string bench_root() {
  std::vector<fs::path> c;
  if (std::string m = default_model_dir(); !m.empty()) c.push_back(fs::path(m).parent_path().parent_path() / "bench" / "shapes");
  c.emplace_back("assets/bench/shapes");
  for (const auto& p : c)
    if (fs::exists(p / "index.json")) return p.string();
  fail("demo", "the Shapes benchmark set (assets/bench/shapes) was not found");
}

void write_video(const std::string& path_no_ext, const std::vector<render::Image>& frames, int fps) {
#ifdef FOCALSCOPE_WITH_VIDEO
  render::write_mp4(path_no_ext + ".mp4", frames, fps);
#else
  write_frames_png(path_no_ext + "_frames", frames);
#endif
}

// Side by side with a caption strip, upscaled so the 64 px model output is watchable.
std::vector<render::Image> side_by_side(const std::vector<render::Image>& a, const std::vector<render::Image>& b,
                                        const std::string& la, const std::string& lb, int scale) {
  std::vector<render::Image> out;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const int w = a[i].width * scale, h = a[i].height * scale, strip = 28;
    render::Canvas c(2 * w + 8, h + strip, render::Color{20, 20, 24});
    c.draw_image(render::resize_nearest(a[i], w, h), 0, strip, w, h, false);
    c.draw_image(render::resize_nearest(b[i], w, h), w + 8, strip, w, h, false);
    c.text(4, 6, la, render::Color{235, 235, 235}, 2);
    c.text(w + 12, 6, lb, render::Color{235, 235, 235}, 2);
    out.push_back(c.image());
  }
  return out;
}

int run(const std::vector<std::string>& argv) {
  Args a(argv, {"out", "case", "model-dir", "seed"}, {"help", "no-analysis"});
  if (a.flag("help")) {
    std::printf("usage: focalscope demo [--out DIR] [--case ID] [--seed N] [--model-dir DIR] [--no-analysis]\n"
                "Headless demo on the embedded model: layer analysis of one benchmark case (figures + video), then the\n"
                "same case with Focal Guidance; writes baseline/FG/A-B videos and the checker's verdicts to DIR.\n");
    return 0;
  }
  const std::string out = a.str("out", "demo_out");
  fs::create_directories(out);
  const std::string model_dir = resolve_model_dir(a.str("model-dir"));
  auto model = load_model_bundle(model_dir);
  auto cases = shapes::read_bench_set(bench_root());
  const std::string want = a.str("case");
  const shapes::BenchCase* bc = nullptr;
  for (const auto& c : cases)
    if ((want.empty() && c.c.dim == shapes::Dimension::Motion) || c.id == want) { bc = &c; break; }
  if (!bc) fail("--case", "'" + want + "' is not in the benchmark set");
  std::printf("demo case %s: \"%s\"\n", bc->id.c_str(), bc->c.prompt.c_str());
  const int64_t seed = a.integer("seed", 0, 0, 1LL << 60);

  if (!a.flag("no-analysis")) {  // the analyzer's view: every layer's keyword maps while it denoises
    for (const auto& c : commands())
      if (c.name == "analyze") {
        std::vector<std::string> args = {"--image", bc->ref_path, "--prompt", bc->c.prompt, "--out", out + "/analysis",
                                         "--seed", std::to_string(seed), "--model-dir", model_dir};
        if (c.run(args) != 0) fail("demo", "analysis failed");
      }
  }
  GenerateRequest req;
  req.image = load_image_tensor(bc->ref_path);
  req.prompt = bc->c.prompt;
  req.seed = seed;
  GenerateResult base = generate(*model, req);
  auto base_frames = video_to_images(base.video);
  write_video(out + "/baseline", base_frames, base.params.fps);
  auto verdict = analysis::check_case(video_to_rgb_frames(base.video), bc->c.annotation);
  std::printf("baseline: %s%s\n", verdict.pass ? "PASS" : "FAIL", verdict.pass ? "" : (" (" + verdict.failures() + ")").c_str());
  std::ofstream summary(out + "/summary.txt");
  summary << "case " << bc->id << ": " << bc->c.prompt << "\nbaseline: " << (verdict.pass ? "pass" : "fail: " + verdict.failures()) << "\n";

  GuidanceConfig g;
  g.set_mode("fg");
  if (model->weak_layers.empty()) {
    std::printf("focal guidance skipped: the model records no semantic-weak layers (run `focalscope analyze --suite shapes`)\n");
    summary << "focal guidance: skipped (no weak layers recorded)\n";
  } else {
    GuidedResult fg = generate_guided(*model, req, g);
    for (const auto& w : fg.noops) std::printf("warning: %s\n", w.c_str());
    auto fg_frames = video_to_images(fg.run.video);
    write_video(out + "/focal_guidance", fg_frames, fg.run.params.fps);
    write_video(out + "/ab", side_by_side(base_frames, fg_frames, "baseline", "focal guidance", 4), fg.run.params.fps);
    auto v2 = analysis::check_case(video_to_rgb_frames(fg.run.video), bc->c.annotation);
    std::printf("focal guidance: %s | keywords:", v2.pass ? "PASS" : "FAIL");
    for (const auto& k : fg.plan.keywords) std::printf(" %s", k.word.c_str());
    std::printf("\n");
    summary << "focal guidance: " << (v2.pass ? "pass" : "fail: " + v2.failures()) << "\n";

    // The Attention Cache alone, at the model's calibrated tau_cache (manifest "calibration"): what it touched and
    // whether the video moved — the toggle is never a silent no-op.
    GuidanceConfig ac;
    ac.set_mode("ac");
    GuidedResult acr = generate_guided(*model, req, ac);
    for (const auto& w : acr.noops) std::printf("warning: %s\n", w.c_str());
    const double diff = (acr.run.video - base.video).abs().mean().item<double>();
    std::printf("attention cache alone (tau_cache %.4f%s): mean |video - baseline| = %.5f | tokens touched per weak layer:",
                acr.config.tau_cache, std::isnan(model->calibrated_tau_cache) ? ", not calibrated" : ", calibrated", diff);
    for (const auto& l : acr.stats.weak)
      std::printf(" %d:%lld/%lld", l.layer, static_cast<long long>(l.ac_tokens_touched), static_cast<long long>(l.ac_tokens_seen));
    std::printf("\n");
    auto ac_frames = video_to_images(acr.run.video);
    write_video(out + "/attention_cache", ac_frames, acr.run.params.fps);
    summary << "attention cache alone: mean |video - baseline| " << diff << ", tokens touched "
            << acr.stats.ac_tokens_touched() << "\n";
  }
  std::printf("wrote %s/ (baseline video, A/B video, analysis/ figures)\n", out.c_str());
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("demo", "headless demo on the embedded model: analysis figures + baseline/FG A/B videos", run);

}  // namespace focalscope::cli
