// focalscope edit --video SRC --mask MASK --prompt TEXT --out OUT.mp4: mask-based video editing (KV-Lock,
// docs/kv_lock.md). The reference is the source's first frame (or --image); --guidance off is the plain edit.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/edit_inputs.h"
#include "app/cli/guidance_args.h"
#include "app/cli/hallucination_args.h"
#include "app/cli/media.h"
#include "app/cli/model_arg.h"
#include "app/cli/progress.h"
#include "analysis/edit_metrics.h"
#include "app/cli/bench_runner.h"
#include "engine/core/blas_check.h"
#include "engine/core/error.h"
#include "engine/guidance/guided_edit.h"
#ifdef FOCALSCOPE_WITH_VIDEO
#include "render/video_writer.h"
#endif

namespace focalscope::cli {
namespace {

const char* kUsage =
    "usage: focalscope edit --video SRC.mp4|DIR --mask MASK.png|MASKVIDEO|DIR --prompt TEXT --out OUT.mp4 [options]\n"
    "  --video SRC         the source video: a video file or a folder of PNG/JPEG frames; its first frames are used\n"
    "  --mask MASK         what may change (white = edit): one image for every frame, or a mask video / folder\n"
    "  --prompt TEXT       what the edited video shows\n"
    "  --source-prompt T   what the source shows (the source pass's text; default: the edit prompt)\n"
    "  --image REF         an edited first frame (default: the source's first frame)\n"
    "  --guidance MODE     kvlock (default) | off (the plain edit) | any kvlock variant, + fsg / ac / fg (below)\n"
    "  --negative --steps --cfg --shift --solver --frames --seed --model-dir --threads   as in generate\n"
    "  --frames-png DIR    also write every frame as PNG\n"
    "  --hallucination-out FILE   the per-step sigma2 (.csv|.json)\n";

int run(const std::vector<std::string>& argv0) {
  std::vector<std::string> argv = argv0;
  const std::vector<formats::LoraSpec> loras = take_lora_args(argv);  // --lora / --lora-high / --lora-low, as generate
  std::set<std::string> opts = {"video", "mask", "prompt", "source-prompt", "image", "out", "negative", "steps", "cfg",
                                "shift", "solver", "frames", "seed", "frames-png", "model-dir", "threads",
                                "hallucination-out"};
  opts.insert(guidance_value_options().begin(), guidance_value_options().end());
  opts.insert(model_value_options().begin(), model_value_options().end());
  Args a(argv, opts, {"help", "keep-quantised"});
  if (a.flag("help")) {
    std::printf("%s%s%s", kUsage, kModelArgsUsage, kGuidanceUsage);
    return 0;
  }
  const GuidanceConfig guidance = guidance_from_args(a, true, "kvlock");
  const std::string out = a.required("out");
  if (std::filesystem::path(out).extension() == ".mp4") check_output_folder(out, "--out");
  const std::string hall_out = hallucination_out_flag(a, /*window=*/-1);
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));
#ifndef FOCALSCOPE_WITH_VIDEO
  if (std::filesystem::path(out).extension() == ".mp4") fail("--out", "this build has no FFmpeg (FOCALSCOPE_VIDEO=OFF): use a folder");
#endif

  EditRequest req;
  req.gen.prompt = a.required("prompt");
  req.gen.negative_prompt = a.str("negative");
  req.gen.steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  req.gen.guide_scale = a.number("cfg", -1, 0, 50);
  req.gen.shift = a.number("shift", -1, 0.01, 100);
  req.gen.solver = a.str("solver");
  req.gen.frames = static_cast<int>(a.integer("frames", -1, 1, 1025));
  req.gen.seed = a.integer("seed", 0, 0, (1LL << 62));
  req.source_prompt = a.str("source-prompt");
  const std::string video = a.required("video"), mask = a.required("mask");
  if (a.has("image")) req.image = load_image_tensor(a.str("image"));

  auto t0 = std::chrono::steady_clock::now();
  auto model = load_model_arg(model_args_from(a, loras));
  if (model->is_mmdit())
    fail(model->layout.dir, "KV-Lock editing caches Wan's attention in its source pass; it does not run on the MMDiT model yet");
  std::fprintf(stderr, "model: %s (%s), loaded in %.2f s\n", model->layout.variant.c_str(), model->layout.dir.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  // Only the frames the model makes are decoded.
  load_edit_inputs(video, mask, req.gen.frames > 0 ? req.gen.frames : model->defaults.frames, req);
  const EditJob job = prepare_edit(*model, req, guidance);
  std::fprintf(stderr, "edit %s: %d frames %lldx%lld, mask covers %.1f%% of the pixels\n", job.guidance.mode().c_str(),
               job.params.frames, static_cast<long long>(job.params.width), static_cast<long long>(job.params.height),
               100 * job.mask_fraction);
  if (job.guidance.kvlock.lock)
    std::fprintf(stderr, "kv lock: cache %.2f MB on %s (K and V of %d layers, one row); extra cost: at most %d source forwards "
                 "(+%.0f%% of the edit's %d forward rows)\n",
                 job.cost.cache_bytes / 1048576.0, job.guidance.kvlock.cache_on_cpu ? "the CPU" : model->options.device.str().c_str(),
                 model->num_layers(), job.cost.source_forwards, 100 * job.cost.extra_fraction(), job.cost.edit_forward_rows);
  if (job.guidance.kvlock.cache_on_cpu && model->options.device.is_cpu())
    std::fprintf(stderr, "note: --kv-cache cpu changes nothing here: the model already runs on the CPU\n");

  std::atomic<bool>& cancel = install_cancel_on_sigint();
  RunHooks hooks;
  hooks.cancel = &cancel;
  hooks.on_stage = [](const std::string& s) { std::fprintf(stderr, "%s...\n", s.c_str()); };
  hooks.on_step = [](const StepProgress& p) { print_progress("sampling", p.step, p.total, p.elapsed_s, p.eta_s); };
  auto tg = std::chrono::steady_clock::now();
  EditResult er = run_edit(*model, job, hooks);
  end_progress();
  const GenerateResult& r = er.guided.run;
  for (const auto& w : er.noops) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (r.cancelled) {
    std::fprintf(stderr, "cancelled\n");
    return 130;
  }
  const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - tg).count();
  if (job.guidance.kvlock.lock) std::fprintf(stderr, "%s\n", kvlock_summary(r).c_str());
  if (job.guidance.dyncfg.enabled) std::fprintf(stderr, "%s\n", dyncfg_summary(r, job.guidance.dyncfg).c_str());
  report_hallucination(r.hallucination, hallucination_tau(*model, a, r.hallucination.has_local()), hall_out);
  // How well the background was kept: the edit against the source outside the mask (frames 1..N).
  const auto edited = video_to_rgb_frames(r.video), source = video_to_rgb_frames(er.source);
  const StaticMask bg = union_mask(er.mask);
  std::fprintf(stderr, "background (outside the mask, frames 1-%zu) vs the source: PSNR %.2f dB, SSIM %.4f\n", edited.size() - 1,
               analysis::background_psnr(edited, source, bg.data, bg.width, bg.height),
               analysis::background_ssim(edited, source, bg.data, bg.width, bg.height));
  auto frames = video_to_images(r.video);
#ifdef FOCALSCOPE_WITH_VIDEO
  if (std::filesystem::path(out).extension() == ".mp4") render::write_mp4(out, frames, r.params.fps);
  else
#endif
    write_frames_png(out, frames);
  if (a.has("frames-png")) write_frames_png(a.str("frames-png"), frames);
  std::fprintf(stderr, "wrote %s: %zu frames %lldx%lld @ %d fps | %s, %d steps, cfg %.2g, seed %lld | %.2f s\n", out.c_str(),
               frames.size(), static_cast<long long>(r.params.width), static_cast<long long>(r.params.height), r.params.fps,
               job.guidance.mode().c_str(), r.params.steps, r.params.guide_scale, static_cast<long long>(req.gen.seed), gen_s);
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("edit", "source video + mask + prompt -> edited video (KV-Lock background lock; plain edit with --guidance off)", run);

}  // namespace focalscope::cli
