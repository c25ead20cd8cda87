#include "app/cli/generate_hunyuan.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>

#include "app/cli/args.h"
#include "app/cli/device_args.h"
#include "app/cli/guidance_args.h"
#include "app/cli/hallucination_args.h"
#include "app/cli/media.h"
#include "app/cli/progress.h"
#include "engine/core/blas_check.h"
#include "engine/core/error.h"
#include "engine/models/hunyuan/hunyuan_release.h"
#include "engine/guidance/hunyuan_release_guidance.h"
#include "engine/pipeline/hunyuan_pipeline.h"
#ifdef FOCALSCOPE_WITH_VIDEO
#include "render/video_writer.h"
#endif

namespace focalscope::cli {

const char* kHunyuanGenerateUsage =
    "HunyuanVideo-I2V (--model-dir a release folder: ckpts/ or hunyuan-video-i2v-720p/, with text_encoder_i2v/ and\n"
    "text_encoder_2/ beside it):\n"
    "  --steps N (50)  --frames N (129, 1 + 4k)  --height H --width W (multiples of 16; default the image's 720p bucket)\n"
    "  --shift X (17; 7 with --i2v-stability)  --embedded-cfg X (6.0)  --cfg X (1: off; > 1 encodes --negative with a\n"
    "  black image)  --seed N  --load-key module|ema  --device cpu|cuda  --dtype f32|bf16 (DiT)  --frames-png DIR\n"
    "  --hallucination-window W  --hallucination-out FILE  --tau X  --threads N\n"
    "  --guidance fsg|ac|fg [--keywords W1,W2] [--weak-layers L] [--tau-sel X ... as for Wan]: Focal Guidance on the\n"
    "  MMDiT (keywords by CLIP-L, Eq. 6, when text_encoder_2 has its vision tower; weak layers default to the paper's\n"
    "  single-stream 17-32 on the release's 40 single blocks)\n";

namespace {

int run_hunyuan(const std::vector<std::string>& argv) {
  for (const auto& s : argv)
    for (const char* g : {"--lora"})
      if (s == g || s.rfind(std::string(g) + "=", 0) == 0)
        fail(g, "is not supported for a HunyuanVideo-I2V release yet (LoRAs are merged into Wan DiTs)");
  std::set<std::string> opts = {"image", "prompt", "out", "negative", "steps", "cfg", "shift", "embedded-cfg", "frames",
                                "height", "width", "seed", "frames-png", "model-dir", "threads", "hallucination-window",
                                "hallucination-out", "tau", "load-key", "device", "dtype"};
  opts.insert(guidance_value_options().begin(), guidance_value_options().end());
  Args a(argv, opts, {"i2v-stability"});
  const GuidanceConfig guidance = guidance_from_args(a);
  if (guidance.dyncfg.enabled || guidance.kvlock.editing())
    fail("--guidance", "dynamic CFG and KV-Lock run on Wan models; on a HunyuanVideo-I2V release: fsg, ac or fg");
  const std::string out = a.required("out");
  HunyuanRequest req = hunyuan_request_from_args(a);
  req.seed = a.integer("seed", 0, 0, (1LL << 62));
  req.hallucination_window = hallucination_window_flag(a);
  if (std::filesystem::path(out).extension() == ".mp4") check_output_folder(out, "--out");
  const std::string hall_out = hallucination_out_flag(a, req.hallucination_window);
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));
#ifndef FOCALSCOPE_WITH_VIDEO
  if (std::filesystem::path(out).extension() == ".mp4") fail("--out", "this build has no FFmpeg (FOCALSCOPE_VIDEO=OFF): use --frames-png");
#endif
  HunyuanBundleOptions bo;
  bo.load_key = a.str("load-key", "module");
  bo.clip_vision = guidance.active();  // Eq. 6 reads CLIP-L's vision tower when the folder has it
  if (a.has("device")) bo.device = parse_device_flag(a.str("device"));
  if (a.has("dtype")) bo.dit_dtype = parse_dtype_flag(a.str("dtype"));

  auto t0 = std::chrono::steady_clock::now();
  const HunyuanBundle b = HunyuanBundle::load(a.str("model-dir"), bo);
  const HunyuanParams P = resolve_hunyuan_params(b, req);  // size / frame errors before any work
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "model: %s (%s), loaded in %.2f s\n", b.variant.c_str(), b.release.root.c_str(), load_s);

  req.on_stage = [](const std::string& s) { std::fprintf(stderr, "%s...\n", s.c_str()); };
  req.on_step = [](int done, int total, double el) {
    print_progress("sampling", done, total, el, done > 0 ? el / done * (total - done) : 0.0);
  };
  // Focal Guidance (engine/guidance/hunyuan_release_guidance.h): planned before the run from the prompt and image,
  // attached as the DiT's probe listener.
  std::unique_ptr<FocalGuidance> fg;
  HunyuanGuidanceSetup gs;
  if (guidance.active()) {
    const auto& ps = b.cfg.patch_size;
    gs = plan_hunyuan_focal_guidance(b, req.prompt, req.image, guidance, P.lat_h / ps[1], P.lat_w / ps[2]);
    for (const auto& n : gs.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    GuidanceConfig gc = gs.config;
    gc.weak_layers = gs.weak_layers;
    fg = std::make_unique<FocalGuidance>(gc, b.cfg.mm_double_blocks_depth + b.cfg.mm_single_blocks_depth, gs.weak_layers,
                                         gs.anchors, gs.plan);
    req.listener = fg.get();
  }
  auto tg = std::chrono::steady_clock::now();
  const HunyuanResult r = generate_hunyuan(b, req);
  end_progress();
  if (fg) print_guidance_summary(guidance, fg->weak_layers(), gs.plan, fg->stats(), guidance_noops(gs.config, gs.plan, fg->stats()));
  const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - tg).count();
  if (req.hallucination_window > 0) {  // no calibrated tau for HunyuanVideo models yet
    const HallucinationTau tau = a.has("tau") ? HallucinationTau{a.number("tau", kPaperHallucinationTau, 1e-12, 1e6), "--tau"}
                                              : HallucinationTau{kPaperHallucinationTau,
                                                                 "tau is the paper's value, not calibrated for this model"};
    report_hallucination(r.hallucination, tau, hall_out);
  }
  // [F, 3, H, W] in [0, 1] -> the writer's [3, F, H, W] in [-1, 1].
  const auto frames = video_to_images(r.video.permute({1, 0, 2, 3}) * 2.0 - 1.0);
#ifdef FOCALSCOPE_WITH_VIDEO
  if (std::filesystem::path(out).extension() == ".mp4") render::write_mp4(out, frames, P.fps);
  else
#endif
    write_frames_png(out, frames);
  if (a.has("frames-png")) write_frames_png(a.str("frames-png"), frames);
  std::fprintf(stderr,
               "wrote %s: %zu frames %lldx%lld @ %d fps | %d steps, flow shift %.3g, embedded guidance %.3g, cfg %.2g, "
               "seed %lld | %lld text rows (%lld image) | generation %.2f s (encode %.2f, sample %.2f, decode %.2f)\n",
               out.c_str(), frames.size(), static_cast<long long>(P.width), static_cast<long long>(P.height), P.fps,
               P.steps, P.flow_shift, P.embedded_guidance, P.cfg, static_cast<long long>(req.seed),
               static_cast<long long>(r.text_rows), static_cast<long long>(r.visual_rows), gen_s, r.seconds_encode,
               r.seconds_sample, r.seconds_decode);
  return 0;
}

}  // namespace

HunyuanRequest hunyuan_request_from_args(const Args& a) {
  HunyuanRequest req;
  req.image = load_image_tensor(a.required("image"));
  req.prompt = a.required("prompt");
  req.negative_prompt = a.str("negative");
  req.steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  req.cfg = a.number("cfg", -1, 1, 50);
  req.flow_shift = a.number("shift", -1, 0.01, 100);
  req.embedded_guidance = a.number("embedded-cfg", 6.0, 0, 50);
  req.frames = static_cast<int>(a.integer("frames", -1, 1, 1025));
  req.height = a.integer("height", -1, 1, 16384);
  req.width = a.integer("width", -1, 1, 16384);
  req.i2v_stability = a.flag("i2v-stability");
  return req;
}

std::string hunyuan_release_arg(const std::vector<std::string>& argv) {
  std::string dir;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--model-dir" && i + 1 < argv.size()) dir = argv[i + 1];
    if (argv[i].rfind("--model-dir=", 0) == 0) dir = argv[i].substr(12);
  }
  return !dir.empty() && is_hunyuan_release(dir) ? dir : std::string();
}

bool try_generate_hunyuan(const std::vector<std::string>& argv, int* rc) {
  if (hunyuan_release_arg(argv).empty()) return false;
  for (const auto& s : argv)
    if (s == "--help") {
      std::printf("usage: focalscope generate --model-dir RELEASE_DIR --image REF.png --prompt TEXT --out OUT.mp4 [options]\n%s",
                  kHunyuanGenerateUsage);
      *rc = 0;
      return true;
    }
  *rc = run_hunyuan(argv);
  return true;
}

}  // namespace focalscope::cli
