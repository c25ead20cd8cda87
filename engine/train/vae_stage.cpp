#include "engine/train/vae_stage.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/train/checkpoint.h"
#include "engine/train/optimizer.h"
#include "engine/train/train_loop.h"

namespace focalscope::train {

VaeTrainConfig VaeTrainConfig::embedded() {
  VaeTrainConfig c;
  c.model.dim = 16;
  c.model.z_dim = 16;
  c.model.dim_mult = {1, 2, 4, 4};
  c.model.num_res_blocks = 1;
  c.model.temporal_downsample = {false, true, true};
  return c;
}

VaeTrainConfig VaeTrainConfig::tiny() {
  VaeTrainConfig c = embedded();
  c.model.dim = 4;
  c.model.dim_mult = {1, 2, 2, 2};
  c.world = {48, 48, 5, 8};
  c.crop = 0;
  c.image_steps = 14;
  c.image_batch = 4;
  c.distinct_clips = 4;
  c.image_lr = 1e-3;
  c.clip_frames = 5;
  c.batch = 2;
  c.steps = 20;
  c.lr = 1e-3;
  c.warmup = 2;
  c.eval_clips = 2;
  return c;
}

nlohmann::json VaeTrainConfig::to_json() const {
  return {{"model", model.to_json()}, {"world", world.to_json()},   {"crop", crop},
          {"image_steps", image_steps}, {"image_batch", image_batch}, {"image_lr", image_lr},
          {"clip_frames", clip_frames}, {"batch", batch},             {"steps", steps},
          {"lr", lr},                 {"warmup", warmup},             {"l2_weight", l2_weight},
          {"kl_weight", kl_weight},   {"max_objects", max_objects},   {"distinct_clips", distinct_clips},
          {"eval_clips", eval_clips}};
}

std::string vae_output_path(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / "vae" / "vae.safetensors").string();
}

WanVAE load_trained_vae(const std::string& path, c10::Device device) {
  auto file = SafetensorsFile::open(path);
  const auto& meta = file->metadata();
  auto it = meta.find("focalscope.vae_config");
  if (it == meta.end()) fail(path, "has no focalscope.vae_config metadata: not a VAE written by focalscope train");
  return WanVAE::load(load_tensor_file(path), naming_file(path, [&] { return VaeConfig::from_json(parse_json_text(it->second, path)); }), at::kFloat, device);
}

namespace {

at::Tensor render_clip(uint64_t world_seed_value, const WorldSpec& w, int max_objects) {
  const auto c = sample_case_robust(world_seed_value, w, std::nullopt, max_objects);
  return frames_to_tensor(shapes::render_case(c, w.config()));
}

// Batch of step s: clips by index, each cut to a random window / crop drawn from the step's own generator.
// Phase 1 (s < image_steps): one random frame per clip; phase 2: clip_frames frames from the start.
at::Tensor vae_batch(const StageOptions& opt, const VaeTrainConfig& cfg, int64_t s, int video_batch) {
  shapes::SplitMix64 rng(stream_seed(opt.seed, kStreamVaeStep, static_cast<uint64_t>(s)));
  const bool image = s < cfg.image_steps;
  const int B = image ? cfg.image_batch : video_batch;
  std::vector<at::Tensor> xs;
  for (int b = 0; b < B; ++b) {
    // Clip indices: phase 1 and phase 2 draw from disjoint ranges of the clip stream.
    uint64_t idx = static_cast<uint64_t>(s * B + b);
    if (cfg.distinct_clips > 0) idx %= static_cast<uint64_t>(cfg.distinct_clips);
    else if (!image) idx += 1ULL << 40;
    at::Tensor v = render_clip(world_seed(opt.seed, kStreamVaeClips, idx), cfg.world, cfg.max_objects);
    const int T = static_cast<int>(v.size(1)), H = static_cast<int>(v.size(2)), W = static_cast<int>(v.size(3));
    const int len = image ? 1 : std::min(cfg.clip_frames, T);
    const int t0 = rng.range(0, T - len);
    v = v.narrow(1, t0, len);
    if (cfg.crop > 0 && cfg.crop < std::min(H, W)) {
      const int y0 = rng.range(0, H - cfg.crop), x0 = rng.range(0, W - cfg.crop);
      v = v.narrow(2, y0, cfg.crop).narrow(3, x0, cfg.crop);
    }
    xs.push_back(v);
  }
  return at::stack(xs, 0).contiguous();
}

// The schedule belongs to the config (cfg.steps), not to where a run stops, so that stopping at step k and
// resuming is the same run as going straight through.
double lr_at(const VaeTrainConfig& cfg, int64_t s) {
  if (s < cfg.warmup) return cfg.image_lr * double(s + 1) / double(cfg.warmup);
  if (s < cfg.image_steps) return cfg.image_lr;
  // phase 2: linear decay to 10% over its last 30%
  const double len = double(std::max<int64_t>(1, cfg.steps - cfg.image_steps));
  const double u = (double(s - cfg.image_steps) / len - 0.7) / 0.3;
  return u <= 0 ? cfg.lr : cfg.lr * (1.0 - 0.9 * std::min(1.0, u));
}

// The init described in the header: upstream's U(+-1/sqrt(fan_in)) everywhere leaves the output nearly
// independent of the input at the start (measured: reconstruction std across a batch 0.02 vs 0.27 over pixels).
void init_for_training(WanVAE& vae, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::NoGradGuard ng;
  auto ends = [](const std::string& n, const char* suf) {
    const std::string x(suf);
    return n.size() >= x.size() && n.compare(n.size() - x.size(), x.size(), x) == 0;
  };
  vae.visit_parameters([&](const std::string& n, at::Tensor& t, const std::vector<int64_t>&, int64_t fan_in, bool gamma) {
    if (gamma) return;
    if (ends(n, ".bias")) {
      t.zero_();
    } else if (ends(n, "residual.6.weight") || ends(n, ".proj.weight")) {
      t.zero_();
    } else if (ends(n, "time_conv.weight")) {  // [out, in, 3, 1, 1]
      t.zero_();
      const int64_t co = t.size(0), ci = t.size(1);
      at::Tensor eye = at::eye(ci, t.options());
      auto tap = [&](int64_t row0, int64_t k, double w) { t.narrow(0, row0, ci).select(2, k).select(-1, 0).select(-1, 0).add_(eye * w); };
      if (co == 2 * ci) {  // upsample3d: both output frames start as copies of the current frame
        tap(0, 2, 1.0);
        tap(ci, 2, 1.0);
      } else {  // downsample3d: the mean of the two frames it merges
        tap(0, 1, 0.5);
        tap(0, 2, 0.5);
      }
    } else {
      t.normal_(0.0, std::sqrt(2.0 / double(fan_in)), gen);
    }
  });
  // Near-deterministic posterior (std e^-4) at the start: the decoder first sees the means, not unit noise.
  const int64_t z = vae.cfg.z_dim;
  vae.conv1.weight.narrow(0, z, z).zero_();
  vae.conv1.bias.narrow(0, z, z).fill_(-8.0);
}

TensorSet tensor_set(const NamedTensors& ps, const std::string& origin) {
  TensorSet set;
  set.origin = origin;
  for (const auto& [n, t] : ps) set.add(n, t.detach().clone(), origin);
  return set;
}

}  // namespace

void fold_latent_statistics(WanVAE& vae, const at::Tensor& mean_in, const at::Tensor& std_in) {
  at::NoGradGuard ng;
  const int64_t z = vae.cfg.z_dim;
  at::Tensor m = mean_in.to(at::kDouble), s = std_in.to(at::kDouble).clamp_min(1e-6);
  at::Tensor wm = vae.latent_mean.to(at::kDouble), ws = vae.latent_std.to(at::kDouble);
  // Wanted: normalize(mu') = (mu' - wm) / ws = (mu - m) / s  =>  mu' = a * mu + b.
  at::Tensor a = ws / s, b = wm - a * m;
  auto& W1 = vae.conv1.weight;  // [2z, 2z, 1, 1, 1]: rows 0..z-1 give mu, z..2z-1 log_var
  auto& B1 = vae.conv1.bias;
  at::Tensor w1 = W1.to(at::kDouble).clone(), b1 = B1.to(at::kDouble).clone();
  w1.narrow(0, 0, z).mul_(a.view({z, 1, 1, 1, 1}));
  b1.narrow(0, 0, z).mul_(a).add_(b);
  b1.narrow(0, z, z).add_(2.0 * a.log());  // the posterior variance scales by a^2
  // conv2 reads mu': conv2(mu) = W2 (mu' - b) / a + B2.
  auto& W2 = vae.conv2.weight;  // [z, z, 1, 1, 1]
  auto& B2 = vae.conv2.bias;
  at::Tensor w2 = W2.to(at::kDouble).clone(), b2 = B2.to(at::kDouble).clone();
  at::Tensor w2m = w2.view({z, z});
  b2 = b2 - at::matmul(w2m, b / a);
  w2 = (w2m / a.view({1, z})).view(W2.sizes());
  W1.copy_(w1.to(W1.scalar_type()));
  B1.copy_(b1.to(B1.scalar_type()));
  W2.copy_(w2.to(W2.scalar_type()));
  B2.copy_(b2.to(B2.scalar_type()));
}

StageResult train_vae(const StageOptions& opt, const VaeTrainConfig& cfg) {
  namespace fs = std::filesystem;
  cfg.model.validate();
  if ((cfg.clip_frames - 1) % cfg.model.temporal_stride() != 0 || cfg.clip_frames > cfg.world.frames)
    fail("vae stage", "clip_frames must be 1 + 4k and at most the world's frames");
  if (cfg.crop % cfg.model.spatial_stride() != 0) fail("vae stage", "crop must be a multiple of the spatial stride");
  const int B = opt.batch > 0 ? opt.batch : cfg.batch;
  const int64_t target = opt.steps > 0 ? opt.steps : cfg.steps;
  const std::string ckpt_path = (fs::path(opt.out_dir) / "vae" / "checkpoint.safetensors").string();

  WanVAE vae = WanVAE::init(cfg.model, stream_seed(opt.seed, kStreamInit, 1));
  init_for_training(vae, stream_seed(opt.seed, kStreamInit, 11));
  AdamW adam(vae.named_parameters(), AdamW::Options{0.9, 0.99, 1e-8, 0.0, 1.0});
  int64_t start = 0;
  if (opt.resume) {
    if (auto ck = read_checkpoint(ckpt_path)) {
      if (ck->meta.value("stage", "") != "vae") fail(ckpt_path, "not a VAE checkpoint");
      if (ck->meta.at("config").at("model") != cfg.model.to_json())
        fail(ckpt_path, "was trained with another VAE config: " + ck->meta.at("config").at("model").dump());
      copy_named(vae.named_parameters(), ck->tensors, "param.");
      adam.load_state(ck->tensors, ck->meta.value("adam_t", ck->step));
      start = ck->step;
      if (!opt.quiet) std::fprintf(stderr, "[vae] resuming from step %lld\n", static_cast<long long>(start));
    }
  }
  if (!opt.quiet)
    std::fprintf(stderr, "[vae] %lld parameters; %dx%d px crops: %lld steps of %d single frames, then batches of %d x %d frames; target %lld steps\n",
                 static_cast<long long>(vae.num_parameters()), cfg.crop ? cfg.crop : cfg.world.width,
                 cfg.crop ? cfg.crop : cfg.world.height, static_cast<long long>(cfg.image_steps), cfg.image_batch, B,
                 cfg.clip_frames, static_cast<long long>(target));

  LoopSpec spec;
  spec.stage = "vae";
  spec.columns = {"loss", "l1", "l2", "kl", "lr", "grad_norm"};
  spec.samples_per_step = B;  // clips of phase 2; phase 1 counts its frames (samples_at)
  spec.samples_at = [&](int64_t s) -> int64_t { return s < cfg.image_steps ? cfg.image_batch : B; };
  spec.start_step = start;
  spec.target_steps = target;
  spec.step = [&](int64_t s) -> std::vector<double> {
    at::Tensor x = vae_batch(opt, cfg, s, B).to(opt.device);
    at::Generator gen = at::detail::createCPUGenerator(stream_seed(opt.seed, kStreamVaeStep, static_cast<uint64_t>(s)) ^ 0x5a5a);
    at::Tensor h = vae.apply_conv1(vae.encoder_full(x));
    auto parts = h.chunk(2, 1);
    at::Tensor mu = parts[0], log_var = parts[1].clamp(-30.0, 20.0);
    at::Tensor eps = at::randn(mu.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(mu.device());
    at::Tensor zs = mu + at::exp(0.5 * log_var) * eps;
    at::Tensor rec = vae.decoder_full(vae.apply_conv2(zs));
    at::Tensor diff = rec - x;
    at::Tensor l1 = diff.abs().mean(), l2 = diff.pow(2).mean();
    at::Tensor kl = 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).mean();
    at::Tensor loss = l1 + cfg.l2_weight * l2 + cfg.kl_weight * kl;
    loss.backward();
    const double lr = lr_at(cfg, s);
    const double gn = adam.step(lr);
    return {loss.item<double>(), l1.item<double>(), l2.item<double>(), kl.item<double>(), lr, gn};
  };
  spec.checkpoint = [&](int64_t done) {
    NamedTensors ts;
    append_prefixed(ts, vae.named_parameters(), "param.");
    adam.append_state(ts);
    write_checkpoint(ckpt_path, ts, {{"stage", "vae"}, {"step", done}, {"seed", opt.seed}, {"adam_t", adam.t()}, {"config", cfg.to_json()}});
  };
  StageResult r = run_loop(opt, spec);

  // Finalise a copy: the checkpoint keeps the raw weights, the exported file the normalised ones.
  vae.set_requires_grad(false);
  WanVAE out = WanVAE::load(tensor_set(vae.named_parameters(), ckpt_path), cfg.model, at::kFloat, opt.device);
  at::NoGradGuard ng;
  std::vector<at::Tensor> mus;
  double abs_err = 0, sq_err = 0, bad = 0, n = 0;
  for (int i = 0; i < cfg.eval_clips; ++i) {
    at::Tensor v = render_clip(world_seed(opt.seed, kStreamVaeEval, static_cast<uint64_t>(i)), cfg.world, cfg.max_objects)
                       .unsqueeze(0).to(opt.device);
    mus.push_back(out.encode_mu(v));
    at::Tensor rec = out.decode(out.encode(v));  // the inference path: chunked, cached, clamped
    at::Tensor e = (rec - v).mul(127.5).abs().to(at::kCPU);  // RGB units
    abs_err += e.sum().item<double>();
    sq_err += e.pow(2).sum().item<double>();
    bad += e.amax(1).gt(24.0).sum().item<double>();  // pixels off by more than 24 RGB units in some channel
    n += static_cast<double>(e.numel());
  }
  at::Tensor all = at::cat(mus, 0).transpose(0, 1).reshape({cfg.model.z_dim, -1});
  fold_latent_statistics(out, all.mean(1), all.std(1));
  // Verify the fold on one clip: the normalised latent should now be ~zero-mean, unit-std.
  at::Tensor z = out.encode(render_clip(world_seed(opt.seed, kStreamVaeEval, 0), cfg.world, cfg.max_objects).unsqueeze(0).to(opt.device));
  const std::string path = vae_output_path(opt.out_dir);
  out.save(path);
  const double pixels = n / 3.0;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "reconstruction on %d held-out clips: MAE %.2f RGB, PSNR %.1f dB, %.2f%% pixels off by > 24; "
                "normalised latent mean %.3f std %.3f",
                cfg.eval_clips, abs_err / n, 10.0 * std::log10(255.0 * 255.0 / (sq_err / n)), 100.0 * bad / pixels,
                z.mean().item<double>(), z.std().item<double>());
  r.summary = buf;
  if (!opt.quiet) std::fprintf(stderr, "[vae] %s -> %s\n", buf, path.c_str());
  return r;
}

}  // namespace focalscope::train
