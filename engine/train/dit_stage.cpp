#include "engine/train/dit_stage.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/clip/clip_vision.h"
#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"
#include "engine/models/wan/conditioning.h"
#include "engine/models/wan/wan_model.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/text/tokenizer.h"
#include "engine/train/checkpoint.h"
#include "engine/train/clip_stage.h"
#include "engine/train/flow_matching.h"
#include "engine/train/latent_pool.h"
#include "engine/train/optimizer.h"
#include "engine/train/train_loop.h"
#include "engine/train/vae_stage.h"

namespace focalscope::train {

DitTrainConfig DitTrainConfig::embedded() {
  DitTrainConfig c;
  WanConfig& d = c.dit;
  d.model_type = "i2v";
  d.patch_size = {1, 1, 1};
  d.text_len = 32;
  d.in_dim = 36;
  d.dim = 128;
  d.ffn_dim = 512;
  d.freq_dim = 256;
  d.text_dim = 64;
  d.out_dim = 16;
  d.num_heads = 4;
  d.num_layers = 12;
  d.clip_dim = 128;
  UMT5Config& t = c.t5;
  t.vocab = 256;
  t.dim = 64;
  t.dim_attn = 64;
  t.dim_ffn = 128;
  t.num_heads = 4;
  t.num_layers = 2;
  t.num_buckets = 32;
  t.shared_pos = false;
  return c;
}

DitTrainConfig DitTrainConfig::tiny() {
  DitTrainConfig c = embedded();
  c.world = {48, 48, 5, 8};
  c.dit.dim = 32;
  c.dit.ffn_dim = 64;
  c.dit.freq_dim = 32;
  c.dit.num_heads = 2;
  c.dit.num_layers = 2;
  c.dit.text_dim = 16;
  c.dit.text_len = 16;
  c.dit.clip_dim = 32;
  c.t5.dim = 16;
  c.t5.dim_attn = 16;
  c.t5.dim_ffn = 32;
  c.t5.num_heads = 2;
  c.t5.num_layers = 1;
  c.batch = 4;
  c.steps = 20;
  c.lr = 2e-3;
  c.warmup = 2;
  c.pool_initial = 8;
  c.pool_rate = 0.5;
  c.pool_max = 16;
  c.pool_chunk = 4;
  c.single_until = 4;
  c.double_until = 8;
  return c;
}

nlohmann::json DitTrainConfig::to_json() const {
  return {{"dit", dit.to_json()},
          {"t5", t5.to_json()},
          {"world", world.to_json()},
          {"batch", batch},
          {"lr", lr},
          {"warmup", warmup},
          {"weight_decay", weight_decay},
          {"ema_decay", ema_decay},
          {"shift", shift},
          {"uniform_share", uniform_share},
          {"text_dropout", text_dropout},
          {"change_weight", change_weight},
          {"change_scale", change_scale},
          {"pool", {{"initial", pool_initial}, {"rate", pool_rate}, {"max", pool_max}, {"chunk", pool_chunk}}},
          {"curriculum", {{"single_until", single_until}, {"double_until", double_until}}},
          {"clip_blocks", clip_blocks}};
}

std::string dit_checkpoint_path(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / "dit" / "checkpoint.safetensors").string();
}
std::string tokenizer_output_path(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / "tokenizer" / "spiece.model").string();
}

StageResult train_dit(const StageOptions& opt, DitTrainConfig cfg) {
  namespace fs = std::filesystem;
  const std::string tok_path = tokenizer_output_path(opt.out_dir), vae_path = vae_output_path(opt.out_dir),
                    clip_path = clip_output_path(opt.out_dir), ckpt_path = dit_checkpoint_path(opt.out_dir);
  require_stage_output(tok_path, "tokenizer");
  require_stage_output(vae_path, "vae");
  require_stage_output(clip_path, "clip");
  WanTokenizer tok(tok_path);
  cfg.t5.vocab = tok.vocab_size();

  // Frozen parts, loaded from the files the exporter ships (so training sees exactly the inference weights).
  WanVAE vae = load_trained_vae(vae_path, opt.device);
  auto clip_file = SafetensorsFile::open(clip_path);
  const ClipVisionConfig vcfg = naming_file(clip_path, [&] { return ClipVisionConfig::from_json(parse_json_text(clip_file->metadata().at("clip_vision_config"), clip_path), clip_path); });
  ClipVision clip = ClipVision::load(load_tensor_file(clip_path), vcfg, "visual.", at::kFloat, opt.device);
  const int clip_blocks = cfg.clip_blocks > 0 ? cfg.clip_blocks : vcfg.num_layers - 1;
  cfg.dit.clip_dim = vcfg.dim;
  if (vcfg.image_size != cfg.world.width) fail(clip_path, "CLIP image size differs from the world canvas");
  cfg.dit.validate();
  cfg.t5.validate();
  if (cfg.t5.dim != cfg.dit.text_dim) fail("dit stage", "umT5 width must equal the DiT's text_dim");

  WanModel dit = WanModel::init(cfg.dit, stream_seed(opt.seed, kStreamInit, 4));
  if (opt.device != c10::Device(c10::kCPU)) dit.to(opt.device, at::kFloat);
  UMT5Encoder t5 = UMT5Encoder::random(cfg.t5, stream_seed(opt.seed, kStreamInit, 5), at::kFloat, opt.device);
  NamedTensors params;
  append_prefixed(params, dit.named_parameters(), "dit.");
  append_prefixed(params, t5.named_parameters(), "t5.");
  AdamW adam(params, AdamW::Options{0.9, 0.99, 1e-8, cfg.weight_decay, 1.0});
  Ema ema(params, cfg.ema_decay);

  const int B = opt.batch > 0 ? opt.batch : cfg.batch;
  const int64_t target = opt.steps > 0 ? opt.steps : cfg.steps;
  int64_t start = 0;
  const std::string fingerprint = file_fingerprint(vae_path);
  if (opt.resume) {
    if (auto ck = read_checkpoint(ckpt_path)) {
      if (ck->meta.value("stage", "") != "dit") fail(ckpt_path, "not a DiT checkpoint");
      if (ck->meta.at("config").at("dit") != cfg.dit.to_json() || ck->meta.at("config").at("t5") != cfg.t5.to_json())
        fail(ckpt_path, "was trained with another DiT / umT5 config");
      if (ck->meta.value("vae", "") != fingerprint)
        fail(ckpt_path, "was trained on latents of another VAE (" + vae_path + " changed)");
      copy_named(params, ck->tensors, "param.");
      adam.load_state(ck->tensors, ck->meta.value("adam_t", ck->step));
      ema.load_state(ck->tensors);
      start = ck->step;
      if (!opt.quiet) std::fprintf(stderr, "[dit] resuming from step %lld\n", static_cast<long long>(start));
      if (!opt.quiet) note_cooldown_change(ck->meta, start, target, opt.lr_cooldown, ckpt_path, "dit");
    }
  }

  fs::create_directories(fs::path(opt.out_dir) / "dit");
  const PoolSchedule sched{cfg.pool_initial, cfg.pool_rate, cfg.pool_max, cfg.pool_chunk, cfg.single_until, cfg.double_until, opt.seed};
  // Records are a function of (VAE, seed, curriculum, index): a pool written for the same recipe is reused even by a
  // fresh run; a stale one is an error when resuming and discarded otherwise.
  const std::string recipe = sched.recipe(fingerprint);
  LatentPool pool((fs::path(opt.out_dir) / "dit" / "pool.bin").string(), cfg.world, recipe);
  pool.open_existing(/*discard_other_recipe=*/!opt.resume);
  auto seed_of = [&](int64_t i) { return sched.seed_of(i); };
  auto objects_of = [&](int64_t i) { return sched.objects_of(i); };
  auto pool_target = [&](int64_t s) { return sched.target(s); };
  if (!opt.quiet) {
    std::fprintf(stderr, "[dit] DiT %lld + umT5 %lld parameters, %d-token context, batch %d, target %lld steps; pool %lld clips on disk\n",
                 cfg.dit.num_params(), [&] { int64_t n = 0; for (auto& [k, t] : t5.named_parameters()) n += t.numel(); return (long long)n; }(),
                 cfg.dit.text_len, B, static_cast<long long>(target), static_cast<long long>(pool.size()));
  }
  const int64_t lat_f = (cfg.world.frames - 1) / vae.cfg.temporal_stride() + 1;
  const int64_t lat_h = cfg.world.height / vae.cfg.spatial_stride(), lat_w = cfg.world.width / vae.cfg.spatial_stride();
  const at::Tensor mask = i2v_mask(lat_f, lat_h, lat_w).to(opt.device);

  LoopSpec spec;
  spec.stage = "dit";
  spec.columns = {"loss", "mse", "sigma", "lr", "grad_norm", "pool"};
  spec.samples_per_step = B;
  spec.start_step = start;
  spec.target_steps = target;
  spec.step = [&](int64_t s) -> std::vector<double> {
    const int64_t n = pool_target(s);
    {
      at::NoGradGuard ng;
      pool.ensure(n, vae, seed_of, objects_of, cfg.pool_chunk);
    }
    shapes::SplitMix64 rng(stream_seed(opt.seed, kStreamDitStep, static_cast<uint64_t>(s)));
    auto [x0s, ys, refs, changes, prompts, sigmas] =
        draw_pool_batch(pool, n, B, rng, cfg.text_dropout, cfg.shift, cfg.uniform_share);
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    at::Tensor x0 = at::stack(x0s, 0).to(opt.device, at::kFloat);
    at::Tensor ylat = at::stack(ys, 0).to(opt.device, at::kFloat);
    at::Tensor ref = at::stack(refs, 0).to(at::kFloat).div(127.5).sub(1.0).to(opt.device);
    at::Tensor sig = at::tensor(sigmas, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat).to(opt.device);
    at::Generator gen = at::detail::createCPUGenerator(stream_seed(opt.seed, kStreamDitStep, static_cast<uint64_t>(s)) ^ 0xe95);
    at::Tensor eps = at::randn(x0.sizes(), gen, f32).to(opt.device);
    at::Tensor sv = sig.view({B, 1, 1, 1, 1});
    DitInputs in;
    in.x = (1.0 - sv) * x0 + sv * eps;
    in.t = sig.to(at::kDouble) * 1000.0;
    in.y = at::cat({mask.unsqueeze(0).expand({B, mask.size(0), lat_f, lat_h, lat_w}), ylat}, 1);
    {
      at::NoGradGuard ng;
      in.clip_fea = clip.forward(clip.preprocess(ref), clip_blocks);
    }
    auto [ids, tmask] = tok.encode_batch(prompts, cfg.dit.text_len);
    ids = ids.to(opt.device);
    tmask = tmask.to(opt.device);
    in.context = t5.forward(ids, tmask) * tmask.unsqueeze(-1).to(at::kFloat);
    at::Tensor v = dit.forward(in);
    at::Tensor target_v = eps - x0;
    at::Tensor change = at::stack(changes, 0).to(opt.device, at::kFloat).unsqueeze(1);  // [B,1,F,h,w]
    auto [loss, mse] = weighted_flow_loss(v, target_v, change, {cfg.change_weight, cfg.change_scale});
    loss.backward();
    const double lr = (s < cfg.warmup ? cfg.lr * double(s + 1) / double(cfg.warmup) : cfg.lr) *
                      lr_cooldown_factor(s, target, opt.lr_cooldown);
    const double gn = adam.step(lr);
    ema.update(params, adam.t());
    return {loss.item<double>(), mse, sig.mean().item<double>(), lr, gn, double(n)};
  };
  spec.checkpoint = [&](int64_t done) {
    NamedTensors ts;
    append_prefixed(ts, params, "param.");
    adam.append_state(ts);
    ema.append_state(ts);
    write_checkpoint(ckpt_path, ts,
                     {{"stage", "dit"}, {"step", done}, {"seed", opt.seed}, {"adam_t", adam.t()}, {"vae", fingerprint},
                      {"clip_blocks", clip_blocks}, {"pool", pool.size()}, {"config", cfg.to_json()},
                      {"lr_cooldown", {{"steps", opt.lr_cooldown}, {"target", target}}}});
  };
  // Steps grow the pool a chunk at a time; a fresh or resumed run first encodes every clip its first step draws from.
  if (start < target &&
      !prefill_pool(pool, pool_target(start), vae, seed_of, objects_of, cfg.pool_chunk, opt.device.is_cuda(), opt.quiet, "dit")) {
    StageResult stopped;
    stopped.first_step = stopped.steps_done = start;
    stopped.summary = "stopped by signal while encoding the latent pool (" + std::to_string(pool.size()) + " of " +
                      std::to_string(pool_target(start)) + " clips kept; --resume continues)";
    return stopped;
  }
  StageResult r = run_loop(opt, spec);
  char buf[200];
  std::snprintf(buf, sizeof buf, "%lld steps, %lld pooled clips, %.2f samples/s", static_cast<long long>(r.steps_done),
                static_cast<long long>(pool.size()), r.samples_per_s);
  r.summary = buf;
  return r;
}

}  // namespace focalscope::train
