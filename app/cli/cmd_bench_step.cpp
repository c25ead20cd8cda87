// focalscope bench-step: seconds per sampling step of a Wan DiT at a given size on a device, random weights built
// in memory (no checkpoint needed), both CFG passes as upstream runs them (a conditional and an unconditional
// forward per step, cross-attention context computed once per run), similarity capture off and on.
//
// Beside the measured time it prints the physical bound: the forward's FLOPs (dit_forward_flops) over a large
// matmul's throughput measured in the same run and precision. The 14B/480p/81-frame default is the figure
// docs/real_weights.md records for a GPU.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/device_args.h"
#include "engine/capture/similarity_capture.h"
#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/weights.h"
#include "engine/formats/quantised_weight.h"
#include "engine/models/wan/wan_model.h"
#include "engine/pipeline/run_memory.h"
#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/models/hunyuan/hunyuan_release.h"

namespace focalscope::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Waits for the device: a scalar read forces every queued kernel to finish (also on libtorch builds without the
// CUDA headers at hand).
void sync(const at::Tensor& t) { (void)t.flatten()[0].item<float>(); }

// Dense GEMM throughput of this device in `dtype` (TFLOP/s, best of a few), the bound's denominator.
double matmul_tflops(c10::Device dev, c10::ScalarType dtype, int64_t n) {
  const auto o = at::TensorOptions().device(dev).dtype(dtype);
  at::Tensor a = at::randn({n, n}, o), b = at::randn({n, n}, o);
  at::Tensor c = at::matmul(a, b);
  sync(c);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const int reps = dev.is_cpu() ? 1 : 10;
    auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) c = at::matmul(a, b);
    sync(c);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count() / reps);
  }
  return 2.0 * double(n) * n * n / best / 1e12;
}

WanConfig config_named(const std::string& name) {
  WanConfig c;  // defaults: Wan2.1-I2V-14B
  if (name == "14b") return c;
  if (name == "toy") {  // the embedded Shapes model's shape
    c.patch_size = {1, 1, 1};
    c.dim = 128; c.num_heads = 4; c.num_layers = 12; c.ffn_dim = 512;
    c.text_dim = 64; c.text_len = 32; c.clip_dim = 128;
    return c;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(name, ec)) fail("--config", "'" + name + "' is neither 14b, toy nor a readable config.json");
  const nlohmann::json j = read_json_object_file(name);
  return naming_file(name, [&] { return WanConfig::from_json(j.contains("constructor_args") ? j.at("constructor_args") : j); });
}

// Bytes of the model's dense tensors (kept codes not included; views of packed q/k/v counted once).
int64_t weight_bytes(const WanModel& m) {
  int64_t n = 0;
  std::set<const void*> seen;
  for (const auto& [name, t] : m.named_parameters())
    if (t.defined() && seen.insert(t.data_ptr()).second) n += t.numel() * static_cast<int64_t>(t.element_size());
  return n;
}

// Times `steps` steps after one untimed warm-up step, printing each; returns the mean seconds per timed step.
// one_step(i) runs (and waits for) step i.
template <class F>
double time_steps(int steps, int first_step, F&& one_step) {
  double total = 0;
  for (int s = 0; s <= steps; ++s) {
    auto ts = Clock::now();
    one_step(first_step + s);
    const double sec = std::chrono::duration<double>(Clock::now() - ts).count();
    if (s > 0) total += sec;
    std::printf("  step %d%s: %.3f s\n", s, s == 0 ? " (warm-up)" : "", sec);
    std::fflush(stdout);
  }
  return total / steps;
}

// A HunyuanVideo config: the release by name, a release folder (sizes from its DiT), or a config.json with its
// constructor arguments.
bool is_hunyuan_config(const std::string& name, HunyuanConfig* out) {
  if (name == "hunyuan-i2v-720p") {
    *out = HunyuanConfig::release_i2v_720p();
    return true;
  }
  if (is_hunyuan_release(name)) {  // the release folder: sizes read off the DiT's weights (random ones are timed)
    const HunyuanRelease r = find_hunyuan_release(name);
    *out = hunyuan_config_from_weights(load_hunyuan_release_dit(r), r.dit, r.dit_config);
    return true;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(name, ec)) return false;
  const nlohmann::json j = read_json_object_file(name);
  const nlohmann::json& args = j.contains("constructor_args") ? j.at("constructor_args") : j;
  if (!args.is_object() || !args.contains("mm_double_blocks_depth")) return false;
  *out = naming_file(name, [&] { return HunyuanConfig::from_json(j); });
  return true;
}

// HunyuanVideo-I2V steps as the release runs them: one forward per step (embedded guidance, cfg 1 by default; --cfg
// adds the unconditional row as a batch of 2), the 396-row MLLM text (144 image + 252 text rows) and token_replace.
int run_hunyuan(const Args& a, const HunyuanConfig& cfg) {
  const c10::Device dev = parse_device_flag(a.str("device", at::hasCUDA() ? "cuda" : "cpu"));
  const c10::ScalarType dtype = parse_dtype_flag(a.str("dtype", dev.is_cpu() ? "f32" : "bf16"));
  const int64_t frames = a.integer("frames", 129, 1, 1001), height = a.integer("height", 720, 16, 8192),
                width = a.integer("width", 1280, 16, 8192);
  if ((frames - 1) % 4 != 0) fail("--frames", "must be 1 + 4k (the VAE's temporal stride), got " + std::to_string(frames));
  const auto& p = cfg.patch_size;
  if (height % (8 * p[1]) != 0 || width % (8 * p[2]) != 0)
    fail("--height/--width", "must be multiples of " + std::to_string(8 * p[1]) + " for this patch size");
  const int64_t Fl = (frames - 1) / 4 + 1, Hl = height / 8, Wl = width / 8;
  const int steps = static_cast<int>(a.integer("steps", 3, 1, 1000));
  const int64_t Lt = a.integer("text-tokens", 396, 1, 4096);
  const int64_t B = a.flag("cfg") ? 2 : 1;
  const int64_t Li = (Fl / p[0]) * (Hl / p[1]) * (Wl / p[2]);

  if (dev.is_cpu()) {  // the weights alone; refuse before allocating rather than be killed
    const double need = double(cfg.num_params()) * double(c10::elementSize(dtype));
    const double have = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGE_SIZE));
    if (need > 0.8 * have)
      fail("--config", "the weights alone need " + std::to_string(static_cast<int>(need / 1e9)) + " GB on the CPU; this "
                       "machine has " + std::to_string(static_cast<int>(have / 1e9)) + " GB (use --device cuda or a smaller config.json)");
  }
  c10::InferenceMode guard;
  const double peak = matmul_tflops(dev, dtype, a.integer("matmul", dev.is_cpu() ? 1024 : 8192, 64, 65536));
  std::printf("device %s, %s; GEMM throughput %.3g TFLOP/s\n", dev.str().c_str(), dtype_flag_name(dtype), peak);
  auto t0 = Clock::now();
  const HunyuanModel m = HunyuanModel::random(cfg, dtype, dev);
  sync(m.final_linear.w);
  std::printf("model: HunyuanVideo, hidden %d, %d double + %d single blocks, %d heads, %.3gB parameters, built on the "
              "device in %.1f s\n", cfg.hidden_size, cfg.mm_double_blocks_depth, cfg.mm_single_blocks_depth, cfg.heads_num,
              cfg.num_params() / 1e9, std::chrono::duration<double>(Clock::now() - t0).count());
  const auto fo = at::TensorOptions().device(dev).dtype(at::kFloat);
  HunyuanInputs in;
  in.x = at::randn({B, cfg.in_channels, Fl, Hl, Wl}, fo);
  in.t = at::full({B}, 500.0, fo);
  in.text_states = at::randn({B, Lt, cfg.text_states_dim}, fo);
  in.text_mask = at::ones({B, Lt}, at::TensorOptions().device(dev).dtype(at::kLong));
  in.text_states_2 = at::randn({B, cfg.text_states_dim_2}, fo);
  if (cfg.guidance_embed) in.guidance = at::full({B}, 6000.0, fo);
  std::tie(in.freqs_cos, in.freqs_sin) = m.rope_for_latent(Fl, Hl, Wl);
  const double flops = double(B) * hunyuan_forward_flops(cfg, Li, Lt);
  std::printf("video %lldx%lldx%lld px -> latent %lldx%lldx%lld -> %lld image + %lld text tokens; %.3f PFLOP per step "
              "(%lld row%s)\n", (long long)frames, (long long)height, (long long)width, (long long)Fl, (long long)Hl,
              (long long)Wl, (long long)Li, (long long)Lt, flops / 1e15, (long long)B, B > 1 ? "s" : "");
  const double bound = flops / (peak * 1e12);
  auto run_steps = [&](ProbeListener* listener, int first_step) {
    return time_steps(steps, first_step, [&](int step) {
      HunyuanForwardOptions opt;
      opt.step = step;
      opt.listener = listener;
      sync(m.forward(in, opt));
    });
  };
  std::printf("capture off:\n");
  const double off = run_steps(nullptr, 0);
  std::printf("capture off: %.3f s/step, %.3g TFLOP/s achieved; bound %.3f s/step (%.0f%% of it)\n", off,
              flops / off / 1e12, bound, 100 * bound / off);
  if (!a.flag("no-capture")) {
    CaptureSelection sel;  // every layer and step, conditional rows (all rows are Cond without --cfg roles)
    const int layers = cfg.mm_double_blocks_depth + cfg.mm_single_blocks_depth;
    CaptureLayout layout = make_capture_layout(sel, layers, 2 * (steps + 1), 1, {Fl / p[0], Hl / p[1], Wl / p[2]});
    std::printf("capture on (%s):\n", layout.describe().c_str());
    const int64_t row = std::min<int64_t>(150, Lt - 1);  // a text row past the release's 144 image rows
    SimilarityCapture cap({CaptureKeyword{"keyword", {row}}}, layout);
    const double on = run_steps(&cap, steps + 1);
    cap.finish();
    std::printf("capture on: %.3f s/step (x%.3f of capture off)\n", on, on / off);
  }
  std::printf("seconds per step %.3f, bound %.3f, ratio bound/measured %.2f\n", off, bound, bound / off);
  return 0;
}

int run(const std::vector<std::string>& argv) {
  Args a(argv, {"config", "device", "dtype", "frames", "height", "width", "steps", "text-tokens", "image-tokens", "matmul", "kept"},
         {"help", "no-capture", "cfg", "kept-only"});
  if (a.flag("help")) {
    std::printf(
        "usage: focalscope bench-step [--config 14b|toy|hunyuan-i2v-720p|CONFIG.json] [--device cuda] [--dtype bf16]\n"
        "                             [--frames 81] [--height 480] [--width 832] [--steps 3] [--no-capture] [--cfg]\n"
        "Times sampling steps (conditional + unconditional forward, cross context cached) of a DiT with random\n"
        "weights of the config's shapes, made on the device, first without and then with similarity capture (one\n"
        "keyword, every layer, conditional pass). Prints seconds per step, achieved TFLOP/s, and the bound\n"
        "FLOPs / (GEMM throughput measured in the same run and precision).\n"
        "  --frames/--height/--width  video size in pixels (latent: (F-1)/4+1 x H/8 x W/8)\n"
        "  --steps N        timed steps per variant after one warm-up step (default 3)\n"
        "  --text-tokens N  prompt tokens in the context (default 512: upstream pads to text_len)\n"
        "  --image-tokens N CLIP tokens (default 257: ViT-H/14 at 224 px)\n"
        "  --matmul N       size of the GEMM that measures the device's throughput (default 8192; 1024 on CPU)\n"
        "  --kept F         then the same steps with the blocks' weights as random F codes (q8_0, q4_k, fp8) kept\n"
        "                   quantised and decoded per block (--keep-quantised): weights held and s/step vs dense\n"
        "  --kept-only      with --kept: build the dense weights on the CPU and time only the kept model on the device,\n"
        "                   so the device's peak memory (nvidia-smi, scripts/gpu_check.sh) is the kept run's alone\n"
        "HunyuanVideo (hunyuan-i2v-720p, a release folder, or a config.json with its constructor arguments): one forward per step\n"
        "(embedded guidance; --cfg: a batch of 2), defaults 129 frames at 720x1280, 396 text rows (--text-tokens).\n");
    return 0;
  }
  if (HunyuanConfig hc; is_hunyuan_config(a.str("config", "14b"), &hc)) return run_hunyuan(a, hc);
  const WanConfig cfg = config_named(a.str("config", "14b"));
  cfg.validate();
  const c10::Device dev = parse_device_flag(a.str("device", at::hasCUDA() ? "cuda" : "cpu"));
  const c10::ScalarType dtype = parse_dtype_flag(a.str("dtype", dev.is_cpu() ? "f32" : "bf16"));
  const int64_t frames = a.integer("frames", 81, 1, 1001), height = a.integer("height", 480, 8, 8192),
                width = a.integer("width", 832, 8, 8192);
  if ((frames - 1) % 4 != 0) fail("--frames", "must be 1 + 4k (the VAE's temporal stride), got " + std::to_string(frames));
  const int64_t Fl = (frames - 1) / 4 + 1, Hl = height / 8, Wl = width / 8;
  const auto& p = cfg.patch_size;
  if (height % (8 * p[1]) != 0 || width % (8 * p[2]) != 0)
    fail("--height/--width", "must be multiples of " + std::to_string(8 * p[1]) + " for this patch size");
  const int steps = static_cast<int>(a.integer("steps", 3, 1, 1000));
  const int64_t n_text = a.integer("text-tokens", cfg.text_len, 1, cfg.text_len);
  const int64_t n_img = a.integer("image-tokens", 257, 1, 100000);
  const int64_t L = (Fl / p[0]) * (Hl / p[1]) * (Wl / p[2]);

  // --kept is checked before anything runs (its timing comes after the dense one).
  const auto kept_format = a.has("kept") ? formats::quantised_format_from_flag(a.str("kept"), "--kept") : formats::QuantisedWeight::Format::Q8_0;
  const bool kept_only = a.flag("kept-only");
  if (kept_only && !a.has("kept")) fail("--kept-only", "needs --kept F (the format to keep)");
  if (dev.is_cpu()) {  // weights + one forward's activations must fit: refuse with the numbers before allocating
    RunMemoryInputs mi;
    mi.tokens = L;
    mi.dim = cfg.dim;
    mi.ffn = cfg.ffn_dim;
    mi.latent_elems = int64_t{cfg.out_dim} * Fl * Hl * Wl;
    mi.threads = at::get_num_threads();
    const double weights = double(cfg.num_params()) * double(c10::elementSize(dtype));
    const double need = weights + estimate_run_memory(mi).sampling_bytes, have = available_memory_bytes();
    if (need > have) {
      char b[256];
      std::snprintf(b, sizeof b, "a step at this size needs ~%.1f GB (weights %.1f GB + activations %.1f GB); this machine has "
                    "%.1f GB available: lower them (or --device cuda)", need / 1e9, weights / 1e9, (need - weights) / 1e9, have / 1e9);
      fail("--frames / --height / --width", b);
    }
  }
  c10::InferenceMode guard;
  const double peak = matmul_tflops(dev, dtype, a.integer("matmul", dev.is_cpu() ? 1024 : 8192, 64, 65536));
  std::printf("device %s, %s; GEMM throughput %.3g TFLOP/s\n", dev.str().c_str(), dtype_flag_name(dtype), peak);

  auto t0 = Clock::now();
  // --kept-only: the dense weights never reach the device (only the kept model's codes and its other tensors do).
  const c10::Device build_dev = kept_only ? c10::Device(c10::kCPU) : dev;
  WanModel m = WanModel::init(cfg, 1, at::TensorOptions().device(build_dev).dtype(dtype));
  m.head.w = at::randn_like(m.head.w) * 0.02;  // a non-zero head: the output depends on every op
  sync(m.head.w);
  std::printf("model: dim %d, %d layers, %d heads, ffn %d, %.3gB parameters, built on the %s in %.1f s\n", cfg.dim,
              cfg.num_layers, cfg.num_heads, cfg.ffn_dim, cfg.num_params() / 1e9, kept_only ? "CPU" : "device",
              std::chrono::duration<double>(Clock::now() - t0).count());

  const auto fo = at::TensorOptions().device(dev).dtype(at::kFloat);
  DitInputs in;
  in.x = at::randn({1, cfg.out_dim, Fl, Hl, Wl}, fo);
  in.y = cfg.is_i2v() ? at::randn({1, cfg.in_dim - cfg.out_dim, Fl, Hl, Wl}, fo) : at::Tensor();
  in.t = at::full({1}, 500.0, fo);
  const at::Tensor ctx_cond = at::randn({1, n_text, cfg.text_dim}, fo), ctx_uncond = at::randn({1, n_text, cfg.text_dim}, fo);
  const at::Tensor clip = cfg.has_image_branch() ? at::randn({1, n_img, cfg.clip_dim}, fo) : at::Tensor();
  const double flops = dit_forward_flops(cfg, L, cfg.text_len, cfg.has_image_branch() ? n_img : 0, /*cached_context=*/true);
  std::printf("video %lldx%lldx%lld px -> latent %lldx%lldx%lld -> %lld tokens; %.3f PFLOP per forward, 2 forwards per step\n",
              (long long)frames, (long long)height, (long long)width, (long long)Fl, (long long)Hl, (long long)Wl,
              (long long)L, flops / 1e15);
  const double bound = 2 * flops / (peak * 1e12);

  // `model`'s steps: the conditional and the unconditional forward, each with its precomputed context.
  auto model_steps = [&](const WanModel& model, const CrossContext& cond, const CrossContext& uncond, ProbeListener* listener,
                         int first_step) {
    return time_steps(steps, first_step, [&](int step) {
      for (PassRole role : {PassRole::Cond, PassRole::Uncond}) {
        ForwardOptions opt;
        opt.step = step;
        opt.roles = {role};
        opt.listener = listener;
        opt.cross = role == PassRole::Cond ? &cond : &uncond;
        sync(model.forward(in, opt));
      }
    });
  };
  double off = std::nan("");
  if (!kept_only) {
    const CrossContext cross_cond = m.precompute_cross(ctx_cond, clip), cross_uncond = m.precompute_cross(ctx_uncond, clip);
    auto run_steps = [&](ProbeListener* listener, int first_step) { return model_steps(m, cross_cond, cross_uncond, listener, first_step); };

    std::printf("capture off:\n");
    off = run_steps(nullptr, 0);
    std::printf("capture off: %.3f s/step, %.3g TFLOP/s achieved; bound %.3f s/step (%.0f%% of it)\n", off,
                2 * flops / off / 1e12, bound, 100 * bound / off);
    if (!a.flag("no-capture")) {
      CaptureSelection sel;  // every layer and step, conditional pass
      const int total_steps = 2 * (steps + 1);
      CaptureLayout layout = make_capture_layout(sel, cfg.num_layers, total_steps, 1,
                                                 {Fl / p[0], Hl / p[1], Wl / p[2]});
      std::printf("capture on (%s):\n", layout.describe().c_str());
      SimilarityCapture cap({CaptureKeyword{"keyword", {1, 2}}}, layout);
      const double on = run_steps(&cap, steps + 1);
      cap.finish();
      std::printf("capture on: %.3f s/step (x%.3f of capture off)\n", on, on / off);
    }
    std::printf("seconds per step %.3f, bound %.3f, ratio bound/measured %.2f\n", off, bound, bound / off);
  }

  if (a.has("kept")) {
    // The same model with its block projections replaced by random codes of the format, kept as codes and decoded
    // per block while it runs (--keep-quantised); the dense block weights are released first.
    const int64_t dense_bytes = weight_bytes(m);
    formats::QuantisedWeights kept;
    TensorSet rest;
    for (const auto& [name, t] : m.named_parameters()) {
      if (formats::keepable_dit_weight(name)) kept.emplace(name, formats::random_quantised(kept_format, t.sizes().vec(), dev));
      else rest.add(name, t, "random");
    }
    m = WanModel();
    const WanModel km = WanModel::load(rest, cfg, dtype, dev, &kept);
    rest = TensorSet();
    const int64_t kept_bytes = weight_bytes(km) + km.kept_bytes();
    std::printf("weights kept as %s codes: DiT weights held %.3f GB (dense %s: %.3f GB, x%.2f)\n", kept.begin()->second.label.c_str(),
                kept_bytes / 1e9, dtype_flag_name(dtype), dense_bytes / 1e9, double(kept_bytes) / double(dense_bytes));
    const CrossContext kc = km.precompute_cross(ctx_cond, clip), ku = km.precompute_cross(ctx_uncond, clip);
    const double kept_s = model_steps(km, kc, ku, nullptr, 0);
    if (kept_only)
      std::printf("kept %s: %.3f s/step (dense not run: --kept-only); weights x%.2f of dense\n", kept.begin()->second.label.c_str(),
                  kept_s, double(kept_bytes) / double(dense_bytes));
    else
      std::printf("kept %s: %.3f s/step (x%.3f of dense %s); weights x%.2f of dense\n", kept.begin()->second.label.c_str(), kept_s,
                  kept_s / off, dtype_flag_name(dtype), double(kept_bytes) / double(dense_bytes));
  }
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("bench-step", "seconds per sampling step of a DiT config on a device (random weights)", run);

}  // namespace focalscope::cli
