#include "engine/train/vae_decoder_stage.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/shapes/shapes_world.h"
#include "engine/train/checkpoint.h"
#include "engine/train/latent_pool.h"
#include "engine/train/optimizer.h"
#include "engine/train/train_loop.h"
#include "engine/train/vae_stage.h"
#include "engine/vae/wan_vae.h"

namespace focalscope::train {
namespace fs = std::filesystem;

VaeDecoderTrainConfig VaeDecoderTrainConfig::embedded() { return {}; }

VaeDecoderTrainConfig VaeDecoderTrainConfig::tiny() {
  VaeDecoderTrainConfig c;
  c.world = {48, 48, 5, 8};
  c.clip_frames = 5;
  c.batch = 1;
  c.steps = 8;
  c.warmup = 2;
  c.lr = 1e-3;
  c.eval_clips = 2;
  c.distinct_clips = 1;
  return c;
}

nlohmann::json VaeDecoderTrainConfig::to_json() const {
  return {{"world", world.to_json()}, {"clip_frames", clip_frames},     {"batch", batch},
          {"steps", steps},           {"lr", lr},                       {"warmup", warmup},
          {"object_weight", object_weight}, {"latent_noise", latent_noise}, {"l2_weight", l2_weight},
          {"max_objects", max_objects}, {"distinct_clips", distinct_clips}, {"eval_clips", eval_clips}};
}

std::string vae_decoder_output_path(const std::string& out_dir) {
  return (fs::path(out_dir) / "vae_decoder" / "vae.safetensors").string();
}

namespace {

std::string checkpoint_path(const std::string& out_dir) {
  return (fs::path(out_dir) / "vae_decoder" / "checkpoint.safetensors").string();
}

bool is_decoder_param(const std::string& n) { return n.rfind("decoder.", 0) == 0 || n.rfind("conv2.", 0) == 0; }

struct ClipWithMask {
  at::Tensor video;  // [3, T, H, W] in [-1, 1]
  at::Tensor mask;   // [1, T, H, W]: 1 on object pixels (and one pixel around them)
};

// The clip and where its objects are: the same annotation rendered with every object hidden gives the bare
// background, and whatever differs from it (by more than noise) is object.
ClipWithMask clip_with_mask(uint64_t world_seed_value, const VaeDecoderTrainConfig& cfg) {
  const auto c = sample_case_robust(world_seed_value, cfg.world, std::nullopt, cfg.max_objects);
  at::Tensor video = frames_to_tensor(shapes::render_case(c, cfg.world.config()));
  nlohmann::json hidden = c.annotation;
  for (auto& frame : hidden.at("states"))
    for (auto& s : frame) s["opacity"] = 0.0;
  at::Tensor bg = frames_to_tensor(shapes::render_annotation(hidden));
  at::Tensor m = (video - bg).abs().amax(0, /*keepdim=*/true).gt(0.08).to(at::kFloat);  // > ~10 RGB units
  m = at::max_pool3d(m.unsqueeze(0), {1, 3, 3}, {1, 1, 1}, {0, 1, 1}).squeeze(0);
  return {video, m};
}

}  // namespace

std::string refined_vae_for_export(const std::string& out_dir) {
  const std::string refined = vae_decoder_output_path(out_dir);
  if (!fs::exists(refined)) return "";
  const auto file = SafetensorsFile::open(refined);  // keep it alive: metadata() refers into it
  const auto& meta = file->metadata();
  auto it = meta.find("focalscope.base_vae");
  if (it == meta.end()) fail(refined, "has no focalscope.base_vae metadata, so its encoder's origin is unknown");
  const std::string base = vae_output_path(out_dir);
  if (it->second != file_fingerprint(base))
    fail(refined, "was refined from another " + base + " (its encoder no longer matches): rerun --stage vae-decoder");
  return refined;
}

StageResult train_vae_decoder(const StageOptions& opt, const VaeDecoderTrainConfig& cfg) {
  const std::string base_path = vae_output_path(opt.out_dir);
  if (!fs::exists(base_path)) fail(base_path, "missing: train the vae stage before refining its decoder");
  const std::string base_fp = file_fingerprint(base_path);
  const int B = opt.batch > 0 ? opt.batch : cfg.batch;
  const int64_t target = opt.steps > 0 ? opt.steps : cfg.steps;
  const std::string ckpt = checkpoint_path(opt.out_dir);

  WanVAE vae = load_trained_vae(base_path, opt.device);
  if (cfg.world.width % vae.cfg.spatial_stride() != 0 || cfg.world.height % vae.cfg.spatial_stride() != 0)
    fail(base_path, "its spatial stride does not divide the world's frame size");
  if ((cfg.clip_frames - 1) % vae.cfg.temporal_stride() != 0 || cfg.clip_frames > cfg.world.frames)
    fail("vae-decoder stage", "clip_frames must be 1 + (temporal stride)k and at most the world's frames");
  vae.set_requires_grad(false);
  NamedTensors trainable;
  for (auto& [n, t] : vae.named_parameters())
    if (is_decoder_param(n)) {
      t.requires_grad_(true);
      trainable.emplace_back(n, t);
    }
  AdamW adam(trainable, AdamW::Options{0.9, 0.99, 1e-8, 0.0, 1.0});
  int64_t start = 0;
  if (opt.resume) {
    if (auto ck = read_checkpoint(ckpt)) {
      if (ck->meta.value("stage", "") != "vae_decoder") fail(ckpt, "not a VAE-decoder checkpoint");
      if (ck->meta.value("base_vae", "") != base_fp)
        fail(ckpt, "was refined from another " + base_path + ": delete it to start over");
      copy_named(trainable, ck->tensors, "param.");
      adam.load_state(ck->tensors, ck->meta.value("adam_t", ck->step));
      start = ck->step;
      if (!opt.quiet) std::fprintf(stderr, "[vae_decoder] resuming from step %lld\n", static_cast<long long>(start));
    }
  }
  int64_t n_train = 0;
  for (auto& [n, t] : trainable) n_train += t.numel();
  if (!opt.quiet)
    std::fprintf(stderr, "[vae_decoder] %lld of %lld parameters train (encoder frozen); batches of %d x %d frames, object weight %.0f; target %lld steps\n",
                 static_cast<long long>(n_train), static_cast<long long>(vae.num_parameters()), B, cfg.clip_frames,
                 cfg.object_weight, static_cast<long long>(target));

  auto lr_at = [&](int64_t s) {
    if (s < cfg.warmup) return cfg.lr * double(s + 1) / double(cfg.warmup);
    const double u = (double(s) / double(std::max<int64_t>(1, cfg.steps)) - 0.7) / 0.3;
    return u <= 0 ? cfg.lr : cfg.lr * (1.0 - 0.9 * std::min(1.0, u));
  };
  auto weighted_error = [&](const at::Tensor& rec, const at::Tensor& x, const at::Tensor& mask) {
    at::Tensor w = (1.0 + cfg.object_weight * mask).expand_as(x);
    at::Tensor d = rec - x;
    at::Tensor norm = w.sum();
    return std::make_pair((w * d.abs()).sum() / norm, (w * d.pow(2)).sum() / norm);
  };

  LoopSpec spec;
  spec.stage = "vae_decoder";
  spec.columns = {"loss", "l1w", "l2w", "object_frac", "lr", "grad_norm"};
  spec.samples_per_step = B;
  spec.start_step = start;
  spec.target_steps = target;
  spec.step = [&](int64_t s) -> std::vector<double> {
    shapes::SplitMix64 rng(stream_seed(opt.seed, kStreamVaeDecoderStep, static_cast<uint64_t>(s)));
    std::vector<at::Tensor> xs, ms;
    for (int b = 0; b < B; ++b) {
      uint64_t idx = static_cast<uint64_t>(s * B + b);
      if (cfg.distinct_clips > 0) idx %= static_cast<uint64_t>(cfg.distinct_clips);
      ClipWithMask c = clip_with_mask(world_seed(opt.seed, kStreamVaeDecoderClips, idx), cfg);
      const int T = static_cast<int>(c.video.size(1)), len = std::min(cfg.clip_frames, T);
      const int t0 = rng.range(0, T - len);
      xs.push_back(c.video.narrow(1, t0, len));
      ms.push_back(c.mask.narrow(1, t0, len));
    }
    at::Tensor x = at::stack(xs, 0).to(opt.device), mask = at::stack(ms, 0).to(opt.device);
    at::Tensor z;
    {
      at::NoGradGuard ng;
      z = vae.encode(x);
    }
    z = z.clone();  // a normal tensor (encode may hand back an inference tensor)
    at::Generator gen = at::detail::createCPUGenerator(stream_seed(opt.seed, kStreamVaeDecoderStep, static_cast<uint64_t>(s)) ^ 0xdec);
    z = z + cfg.latent_noise * at::randn(z.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(z.device());
    at::Tensor rec = vae.decode_unclamped(z);
    auto [l1, l2] = weighted_error(rec, x, mask);
    at::Tensor loss = l1 + cfg.l2_weight * l2;
    loss.backward();
    const double lr = lr_at(s);
    const double gn = adam.step(lr);
    return {loss.item<double>(), l1.item<double>(), l2.item<double>(), mask.mean().item<double>(), lr, gn};
  };
  spec.checkpoint = [&](int64_t done) {
    NamedTensors ts;
    append_prefixed(ts, trainable, "param.");
    adam.append_state(ts);
    write_checkpoint(ckpt, ts,
                     {{"stage", "vae_decoder"}, {"step", done}, {"seed", opt.seed}, {"adam_t", adam.t()},
                      {"base_vae", base_fp}, {"config", cfg.to_json()}});
  };
  StageResult r = run_loop(opt, spec);

  // Save the refined VAE and compare it with the base on held-out clips (inference path: encode -> decode).
  vae.set_requires_grad(false);
  const std::string out_path = vae_decoder_output_path(opt.out_dir);
  // The file names its base VAE and step, so it is self-describing without the (larger) checkpoint beside it.
  vae.save(out_path, {{"focalscope.base_vae", base_fp}, {"focalscope.vae_decoder_step", std::to_string(r.steps_done)}});
  const WanVAE base = load_trained_vae(base_path, opt.device);
  at::NoGradGuard ng;
  double err_base = 0, err_new = 0, obj_base = 0, obj_new = 0, n_obj = 0, n = 0;
  for (int i = 0; i < cfg.eval_clips; ++i) {
    ClipWithMask c = clip_with_mask(world_seed(opt.seed, kStreamVaeEval, static_cast<uint64_t>(i)), cfg);
    at::Tensor x = c.video.unsqueeze(0).to(opt.device), m = c.mask.unsqueeze(0).to(opt.device);
    at::Tensor z = base.encode(x);
    at::Tensor e0 = (base.decode(z) - x).abs().mul(127.5), e1 = (vae.decode(z) - x).abs().mul(127.5);
    err_base += e0.sum().item<double>();
    err_new += e1.sum().item<double>();
    obj_base += (e0 * m).sum().item<double>();
    obj_new += (e1 * m).sum().item<double>();
    n_obj += m.sum().item<double>() * 3;
    n += static_cast<double>(e0.numel());
  }
  char buf[300];
  std::snprintf(buf, sizeof buf, "held-out MAE (RGB) on %d clips: all pixels %.2f -> %.2f, object pixels %.2f -> %.2f",
                cfg.eval_clips, err_base / n, err_new / n, obj_base / std::max(1.0, n_obj), obj_new / std::max(1.0, n_obj));
  r.summary = buf;
  if (!opt.quiet) std::fprintf(stderr, "[vae_decoder] %s -> %s\n", buf, out_path.c_str());
  return r;
}

}  // namespace focalscope::train
