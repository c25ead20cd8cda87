// focalscope generate --image ref.png --prompt "..." --out out.mp4: one image-to-video run.
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/generate_hunyuan.h"
#include "app/cli/media.h"
#include "app/cli/model_arg.h"
#include "app/cli/progress.h"
#include "engine/core/error.h"
#include "engine/core/blas_check.h"
#include "app/cli/guidance_args.h"
#include "app/cli/hallucination_args.h"
#include "engine/guidance/guided_generate.h"
#include "engine/pipeline/i2v_pipeline.h"
#ifdef FOCALSCOPE_WITH_VIDEO
#include "render/video_writer.h"
#endif

namespace focalscope::cli {
namespace {

const char* kUsage =
    "usage: focalscope generate --image REF.png --prompt TEXT --out OUT.mp4 [options]\n"
    "  --negative TEXT     negative prompt (default: the model's)\n"
    "  --steps N           sampling steps (default: the model's)\n"
    "  --cfg X             classifier-free guidance scale (two-expert Wan2.2: both experts, unless --cfg-high)\n"
    "  --cfg-high X        Wan2.2 I2V-A14B: the high-noise expert's scale (--cfg is then the low-noise one's)\n"
    "  --shift X           flow shift\n"
    "  --solver NAME       unipc | dpm++ | euler\n"
    "  --frames N          pixel frames, 1 + 4k\n"
    "  --max-area N        pixel area of the generated video (keeps the image's aspect)\n"
    "  --seed N            noise seed (default 0)\n"
    "  --frames-png DIR    also write every frame as PNG\n"
    "  --model-dir DIR     a Wan2.1 release folder or a FocalScope model folder (default: the embedded Shapes model)\n"
    "  --threads N         CPU threads for libtorch\n"
    "hallucination metric (KV-Lock; docs/kv_lock.md), on for every run:\n"
    "  --hallucination-window W   steps in the sliding window of the x0 variance (default 10; 0 = off)\n"
    "  --hallucination-out FILE   write the per-step sigma2 (and, as .json, the per-step maps) to FILE.csv|.json\n"
    "  --tau X                    threshold shown in the summary (default: the model's calibrated kvlock.tau, else\n"
    "                             0.01, the paper's value on its own latent scale)\n";

int run(const std::vector<std::string>& argv0) {
  if (int rc = 0; try_generate_hunyuan(argv0, &rc)) return rc;  // --model-dir a HunyuanVideo-I2V release
  std::vector<std::string> argv = argv0;
  std::vector<formats::LoraSpec> loras = take_lora_args(argv);  // repeatable --lora FILE [--lora-strength S]
  std::set<std::string> opts = {"image", "prompt", "out", "negative", "steps", "cfg", "cfg-high", "shift", "solver", "frames",
                                "max-area", "seed", "frames-png", "model-dir", "threads",
                                "hallucination-window", "hallucination-out", "tau"};
  opts.insert(guidance_value_options().begin(), guidance_value_options().end());
  opts.insert(model_value_options().begin(), model_value_options().end());
  Args a(argv, opts, {"help", "keep-quantised"});
  if (a.flag("help")) {
    std::printf("%s%s%s%s", kUsage, kModelArgsUsage, kGuidanceUsage, kHunyuanGenerateUsage);
    return 0;
  }
  const GuidanceConfig guidance = guidance_from_args(a);
  if (guidance.kvlock.editing())
    fail("--guidance", "'" + guidance.kvlock.variant + "' edits a source video: use focalscope edit --video SRC --mask MASK");
  const std::string out = a.required("out");
  GenerateRequest req;
  req.image = load_image_tensor(a.required("image"));
  req.prompt = a.required("prompt");
  req.negative_prompt = a.str("negative");
  req.steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  req.guide_scale = a.number("cfg", -1, 0, 50);
  req.guide_scale_high = a.number("cfg-high", -1, 0, 50);
  req.shift = a.number("shift", -1, 0.01, 100);
  req.solver = a.str("solver");
  req.frames = static_cast<int>(a.integer("frames", -1, 1, 1025));
  req.max_area = a.integer("max-area", -1, 64, 4096LL * 4096);
  req.seed = a.integer("seed", 0, 0, (1LL << 62));
  req.hallucination_window = hallucination_window_flag(a);
  // An .mp4 goes into an existing folder (a frames folder is created with its parents when written).
  if (std::filesystem::path(out).extension() == ".mp4") check_output_folder(out, "--out");
  const std::string hall_out = hallucination_out_flag(a, req.hallucination_window);
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));  // ATen and OpenBLAS
#ifndef FOCALSCOPE_WITH_VIDEO
  if (std::filesystem::path(out).extension() == ".mp4") fail("--out", "this build has no FFmpeg (FOCALSCOPE_VIDEO=OFF): use --frames-png");
#endif

  auto t0 = std::chrono::steady_clock::now();
  auto model = load_model_arg(model_args_from(a, loras));
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "model: %s (%s), loaded in %.2f s\n", model->layout.variant.c_str(), model->layout.dir.c_str(), load_s);

  std::atomic<bool>& cancel = install_cancel_on_sigint();
  RunHooks hooks;
  hooks.cancel = &cancel;
  hooks.on_stage = [](const std::string& s) { std::fprintf(stderr, "%s...\n", s.c_str()); };
  hooks.on_step = [](const StepProgress& p) { print_progress("sampling", p.step, p.total, p.elapsed_s, p.eta_s); };
  auto tg = std::chrono::steady_clock::now();
  GuidedResult gr = generate_guided(*model, req, guidance, hooks);
  end_progress();
  GenerateResult& r = gr.run;
  print_guidance_summary(guidance, gr.weak_layers, gr.plan, gr.stats, gr.noops);
  if (r.cancelled) {
    std::fprintf(stderr, "cancelled\n");
    return 130;
  }
  const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - tg).count();
  if (!r.step_expert.empty()) {  // Wan2.2 I2V-A14B: which expert ran which steps (t >= boundary: high-noise)
    int n_high = 0;
    for (int e : r.step_expert) n_high += e == 1;
    std::fprintf(stderr, "experts: high-noise %d steps (cfg %.3g), low-noise %d steps (cfg %.3g); boundary t >= %g\n", n_high,
                 r.params.guide_scale_high, static_cast<int>(r.step_expert.size()) - n_high, r.params.guide_scale,
                 r.params.boundary_timestep);
  }
  if (guidance.dyncfg.enabled) std::fprintf(stderr, "%s\n", dyncfg_summary(r, guidance.dyncfg).c_str());
  if (req.hallucination_window > 0) report_hallucination(r.hallucination, hallucination_tau(*model, a), hall_out);
  auto frames = video_to_images(r.video);
#ifdef FOCALSCOPE_WITH_VIDEO
  if (std::filesystem::path(out).extension() == ".mp4") render::write_mp4(out, frames, r.params.fps);
  else
#endif
    write_frames_png(out, frames);
  if (a.has("frames-png")) write_frames_png(a.str("frames-png"), frames);
  std::fprintf(stderr,
               "wrote %s: %zu frames %lldx%lld @ %d fps | %d steps, cfg %.2g, seed %lld | generation %.2f s "
               "(encode %.2f, sample %.2f, decode %.2f)\n",
               out.c_str(), frames.size(), static_cast<long long>(r.params.width), static_cast<long long>(r.params.height),
               r.params.fps, r.params.steps, r.params.guide_scale, static_cast<long long>(req.seed), gen_s,
               r.seconds_encode, r.seconds_sample, r.seconds_decode);
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("generate", "image + prompt -> video (MP4 via FFmpeg), embedded model by default", run);

}  // namespace focalscope::cli
