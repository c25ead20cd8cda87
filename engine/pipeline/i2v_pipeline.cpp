#include "engine/pipeline/i2v_pipeline.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/models/wan/conditioning.h"
#include "engine/pipeline/mmdit_run.h"
#include "engine/sched/scheduler.h"

namespace focalscope {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

std::pair<int64_t, int64_t> latent_size(int64_t h, int64_t w, long long max_area, int vae_stride, int patch_h, int patch_w) {
  // Upstream: aspect = h / w; lat = round(floor(floor(sqrt(max_area * aspect)) / stride / patch) * patch), done in
  // float64 so that e.g. 832x480 at 480P yields 58 (not 60) rows of latents.
  const double aspect = double(h) / double(w);
  const double lh = std::floor(std::floor(std::sqrt(double(max_area) * aspect) / vae_stride) / patch_h) * patch_h;
  const double lw = std::floor(std::floor(std::sqrt(double(max_area) / aspect) / vae_stride) / patch_w) * patch_w;
  return {static_cast<int64_t>(std::llround(lh)), static_cast<int64_t>(std::llround(lw))};
}

RunParams resolve_params(const ModelBundle& m, const GenerateRequest& req) {
  const auto& d = m.defaults;
  RunParams p;
  p.steps = req.steps > 0 ? req.steps : d.steps;
  p.shift = req.shift > 0 ? req.shift : d.shift;
  p.guide_scale = req.guide_scale >= 0 ? req.guide_scale : d.guide_scale;
  p.frames = req.frames > 0 ? req.frames : d.frames;
  p.max_area = req.max_area > 0 ? req.max_area : d.max_area;
  p.solver = req.solver.empty() ? d.solver : req.solver;
  p.negative_prompt = req.negative_prompt.empty() ? d.negative_prompt : req.negative_prompt;
  p.fps = d.fps;
  // A value the user did not type is named after where it came from: the model's manifest (sampling.*).
  const std::string manifest = m.layout.format == "focalscope" ? m.layout.dir + "/focalscope.json: sampling." : "model default ";
  auto src = [&](bool given, const char* flag, const char* key) { return given ? std::string(flag) : manifest + key; };
  if (p.steps < 1 || p.steps > 1000) fail(src(req.steps > 0, "--steps", "steps"), std::to_string(p.steps) + " is outside [1, 1000]");
  if (!(p.shift > 0 && p.shift <= 100)) fail(src(req.shift > 0, "--shift", "shift"), "must be in (0, 100]");
  if (!(p.guide_scale >= 0 && p.guide_scale <= 50)) fail(src(req.guide_scale >= 0, "--cfg", "guide_scale"), "guidance scale must be in [0, 50]");
  // Two experts (wan/image2video.py): a single scale applies to both experts, a pair (low, high) to each.
  p.guide_scale_high = p.guide_scale;
  p.boundary_timestep = -1;
  if (m.two_experts()) {
    p.guide_scale_high = req.guide_scale_high >= 0 ? req.guide_scale_high : req.guide_scale >= 0 ? req.guide_scale : d.guide_scale_high;
    if (!(p.guide_scale_high >= 0 && p.guide_scale_high <= 50))
      fail(src(req.guide_scale_high >= 0 || req.guide_scale >= 0, "--cfg-high", "guide_scale_high"), "guidance scale must be in [0, 50]");
    p.boundary_timestep = m.boundary_timestep();
  } else if (req.guide_scale_high >= 0) {
    fail("--cfg-high", "is the high-noise expert's scale of a two-expert model (Wan2.2 I2V-A14B); this model has one DiT");
  }
  const int ts = m.vae.cfg.temporal_stride();
  if (p.frames < 1 || (p.frames - 1) % ts != 0 || p.frames > 1 + ts * 256)
    fail(src(req.frames > 0, "--frames", "frames"), std::to_string(p.frames) + " is not 1 + " + std::to_string(ts) + "k (k <= 256)");
  if (p.max_area < 64 || p.max_area > 4096LL * 4096) fail(src(req.max_area > 0, "--max-area", "max_area"), "out of range");
  if (!req.image.defined() || req.image.dim() != 3 || req.image.size(0) != 3 || req.image.size(1) < 8 || req.image.size(2) < 8)
    fail("image", "expected an RGB image of at least 8x8 pixels");
  const int vs = m.vae.cfg.spatial_stride();
  const auto ps = m.patch_size();
  auto [lh, lw] = latent_size(req.image.size(1), req.image.size(2), p.max_area, vs, ps[1], ps[2]);
  if (lh < ps[1] || lw < ps[2]) fail("image", "aspect ratio too extreme for max_area " + std::to_string(p.max_area));
  p.lat_h = lh;
  p.lat_w = lw;
  p.lat_f = (p.frames - 1) / ts + 1;
  p.height = lh * vs;
  p.width = lw * vs;
  return p;
}

RunMemoryEstimate run_memory(const ModelBundle& m, const RunParams& P) {
  const auto ps = m.patch_size();
  RunMemoryInputs in;
  in.tokens = P.lat_f / ps[0] * (P.lat_h / ps[1]) * (P.lat_w / ps[2]);
  if (m.is_mmdit()) {
    in.tokens += m.text_row_offset() + m.text_len;
    in.dim = m.mmdit->cfg.hidden_size;
    in.ffn = m.mmdit->cfg.mlp_hidden();
  } else {
    in.dim = m.dit.cfg.dim;
    in.ffn = m.dit.cfg.ffn_dim;
  }
  in.rows = P.guide_scale != 1.0 || (m.two_experts() && P.guide_scale_high != 1.0) ? 2 : 1;
  in.latent_elems = int64_t{m.latent_channels()} * P.lat_f * P.lat_h * P.lat_w;
  in.vae_channels = int64_t{m.vae.cfg.dim} * *std::max_element(m.vae.cfg.dim_mult.begin(), m.vae.cfg.dim_mult.end());
  in.frames = P.frames;
  in.height = P.height;
  in.width = P.width;
  in.threads = at::get_num_threads();
  return estimate_run_memory(in);
}

at::Tensor encode_prompt(const ModelBundle& m, const std::string& prompt) {
  Tokenized tok = m.tokenizer->encode(prompt, m.text_len);
  auto ctx = m.t5.encode_trimmed(tok.ids_tensor().to(m.t5.device()), tok.mask_tensor().to(m.t5.device()));
  return ctx.at(0);
}

CrossContext text_cross_context(const ModelBundle& m, const std::string& text, int expert) {
  c10::InferenceMode guard;
  if (expert == 1 && !m.two_experts()) fail("text context", "this model has one DiT (no high-noise expert)");
  const WanModel& dit = expert == 1 ? *m.dit_high : m.dit;
  return dit.precompute_text_cross(dit.pad_context(encode_prompt(m, text).to(at::kFloat)));
}

double kvlock_tau(const ModelBundle& m, bool* calibrated, bool local) {
  if (local && !std::isnan(m.calibrated_kvlock_tau_local)) {
    if (calibrated) *calibrated = true;
    return m.calibrated_kvlock_tau_local;
  }
  const bool cal = !std::isnan(m.calibrated_kvlock_tau);
  if (calibrated) *calibrated = cal;
  return cal ? m.calibrated_kvlock_tau : kPaperHallucinationTau;
}

KvLockCost kvlock_cost(const ModelBundle& m, const RunParams& p, const KvLockConfig& c) {
  const auto& ps = m.dit.cfg.patch_size;
  const int64_t tokens = (p.lat_f / ps[0]) * (p.lat_h / ps[1]) * (p.lat_w / ps[2]);
  const int64_t bytes = c10::elementSize(m.dit.block_dtype());
  return kvlock_cost(m.dit.cfg.num_layers, tokens, m.dit.cfg.dim, bytes, c.lock ? locked_steps(c, p.steps) : 0, p.steps,
                     p.guide_scale != 1.0);
}

namespace {

// The source half of a KV-Lock edit: the source latent, its conditioning (one batch row) and the cache.
struct SourcePass {
  at::Tensor z;      // [16, lat_f, lat_h, lat_w] VAE latent of the source video
  at::Tensor noise;  // the epsilon it is noised with
  at::Tensor y, clip_fea;
  CrossContext cross;
  CrossContext cross_high;  // Wan2.2 I2V-A14B: the high-noise expert's projections of the same text
  std::unique_ptr<KvLockCache> cache;
};

// Checks the edit inputs against the run and maps the mask to the latent grid (local sigma2) and tokens (the lock).
at::Tensor edit_latent_mask(const ModelBundle& m, const RunParams& P, const KvLockRequest& kv) {
  const at::Tensor& pm = kv.pixel_mask;
  if (!pm.defined() || pm.dim() != 3 || pm.size(0) != P.frames || pm.size(1) != P.height || pm.size(2) != P.width)
    fail("mask", "must be [" + std::to_string(P.frames) + ", " + std::to_string(P.height) + ", " + std::to_string(P.width) +
                     "] (the run's frames and output size)" + (pm.defined() ? ", got " + shape_str(pm.sizes()) : ""));
  const at::Tensor lm = latent_mask_from_pixels(pm.to(at::kCPU), m.vae.cfg.temporal_stride(), m.vae.cfg.spatial_stride());
  const double cover = lm.mean().item<double>();
  if (cover == 0) fail("mask", "is empty: nothing to edit");
  if (kv.config.lock && cover == 1) fail("mask", "covers the whole video on the latent grid: no background left to lock");
  return lm;
}

}  // namespace

GenerateResult generate(const ModelBundle& m, const GenerateRequest& req, const RunHooks& hooks) {
  c10::InferenceMode guard;
  if (!req.allow_empty_prompt) validate_prompt(req.prompt, "prompt");
  check_prompt_text(req.prompt, "prompt");
  GenerateResult r;
  r.params = resolve_params(m, req);
  if (m.options.device.is_cpu()) check_run_memory(run_memory(m, r.params), "--frames / --max-area (or run with --device cuda)");
  const RunParams& P = r.params;
  // The negative prompt is named as what it is (the flag, or the model's default), never as "prompt".
  check_prompt_text(P.negative_prompt, req.negative_prompt.empty() ? "the model's default negative prompt" : "--negative");
  if (!at::isfinite(req.image).all().item<bool>()) fail("image", "contains NaN or Inf");
  const c10::Device dev = m.options.device;
  auto stage = [&](const char* s) { if (hooks.on_stage) hooks.on_stage(s); };

  auto t0 = Clock::now();
  stage("encode text");
  const bool use_cfg = P.guide_scale != 1.0 || (m.two_experts() && P.guide_scale_high != 1.0);
  if (m.is_mmdit()) {
    if (req.kvlock.config.editing()) fail("MMDiT model", "KV-Lock editing runs on Wan models only (its source pass caches Wan's attention)");
    if (hooks.edit_cross) fail("MMDiT model", "has no cross-attention context to edit: its knockout is RunHooks::hide_prompt_layers");
  } else if (!hooks.hide_prompt_layers.empty()) {
    fail("Wan model", "hide_prompt_layers is the MMDiT's joint-attention knockout; a Wan model's is edit_cross");
  }
  at::Tensor context;
  if (!m.is_mmdit()) {
    at::Tensor ctx = encode_prompt(m, req.prompt);
    std::vector<at::Tensor> ctxs{m.dit.pad_context(ctx.to(at::kFloat))};
    if (use_cfg) ctxs.push_back(m.dit.pad_context(encode_prompt(m, P.negative_prompt).to(at::kFloat)));
    context = at::cat(ctxs, 0);
  }
  const int64_t B = use_cfg ? 2 : 1;

  stage("encode image");
  at::Tensor image = req.image.to(dev, at::kFloat);
  at::Tensor clip_fea;
  // The MMDiT has no image cross-attention, but Focal Guidance's keyword selection (Eq. 6) reads the same CLIP tokens.
  if (m.is_mmdit() || m.dit.cfg.has_image_branch()) {
    clip_fea = m.clip_blocks > 0 ? m.clip.forward(m.clip.preprocess(image), m.clip_blocks) : m.clip.clip_fea(image);
    clip_fea = clip_fea.to(at::kFloat);
    r.clip_fea = clip_fea;
  }
  // Conditioning latent: bicubic resize (no clamp, as upstream), then [image, zeros...] through the VAE.
  at::Tensor resized = at::upsample_bicubic2d(image.unsqueeze(0), {P.height, P.width}, /*align_corners=*/false);
  at::Tensor video_in = at::cat({resized.unsqueeze(2), at::zeros({1, 3, P.frames - 1, P.height, P.width}, resized.options())}, 2);
  at::Tensor y;
  MmditConditioning mm;
  if (m.is_mmdit()) {
    // token_replace: frame 0 of VAE([image, zeros...]) (the causal VAE encodes it from the image alone) is the clean
    // latent the model sees as frame 0 at every step; the text is TinyMllm([image rows; prompt]).
    mm = mmdit_conditioning(m, image, m.vae.encode(video_in), req.prompt, P.negative_prompt, use_cfg);
  } else if (m.dit.cfg.is_i2v()) {
    at::Tensor lat = m.vae.encode(video_in);  // [1, 16, lat_f, lat_h, lat_w]
    y = at::cat({i2v_mask(P.lat_f, P.lat_h, P.lat_w).to(dev).unsqueeze(0), lat}, 1);
  }
  CrossContext cross;
  if (!m.is_mmdit())
    cross = m.dit.precompute_cross(context.to(dev), clip_fea.defined() ? clip_fea.expand({B, clip_fea.size(1), clip_fea.size(2)}) : clip_fea);
  // Two experts: each has its own text embedding and cross-attention projections, so its own per-run context.
  CrossContext cross_high;
  if (m.two_experts()) {
    cross_high = m.dit_high->precompute_cross(context.to(dev), at::Tensor());
  }
  if (hooks.edit_cross) {
    hooks.edit_cross(cross, m.two_experts() ? 0 : -1);
    if (m.two_experts()) hooks.edit_cross(cross_high, 1);
  }
  r.seconds_encode = since(t0);
  if (hooks.on_conditioned) {
    const auto ps = m.patch_size();
    // An image-less DiT (Wan2.2 I2V-A14B) given a CLIP (--clip): its tokens serve Focal Guidance's Eq. 6 only; the
    // DiT never reads them, so they are computed here and nowhere else.
    at::Tensor fsg_clip_fea = clip_fea;
    if (!fsg_clip_fea.defined() && !m.is_mmdit() && m.has_clip && m.clip.head.defined())
      fsg_clip_fea = (m.clip_blocks > 0 ? m.clip.forward(m.clip.preprocess(image), m.clip_blocks) : m.clip.clip_fea(image)).to(at::kFloat);
    RunConditioning rc{P, {P.lat_f / ps[0], P.lat_h / ps[1], P.lat_w / ps[2]}, fsg_clip_fea};
    hooks.on_conditioned(rc);
  }

  // KV-Lock editing: the mask on the latent grid (local sigma2) and, with the lock, the source pass.
  const KvLockConfig& kc = req.kvlock.config;
  at::Tensor edit_mask;
  SourcePass src;
  if (kc.editing()) {
    kc.validate("kvlock");
    if (!req.kvlock.pixel_mask.defined())
      fail("kvlock", "'" + kc.variant + "' is an editing mode: it needs a source video and a mask (focalscope edit)");
    edit_mask = edit_latent_mask(m, P, req.kvlock);
    r.kvlock_tau = kc.tau > 0 ? kc.tau : kvlock_tau(m, &r.kvlock_tau_calibrated, kc.local);
    r.kvlock_kappa = kc.lock ? locked_steps(kc, P.steps) : 0;
  }
  if (kc.editing() && kc.lock) {
    const at::Tensor& sv = req.kvlock.source_video;
    if (!sv.defined() || sv.dim() != 4 || sv.size(0) != 3 || sv.size(1) != P.frames || sv.size(2) != P.height || sv.size(3) != P.width)
      fail("source video", "must be [3, " + std::to_string(P.frames) + ", " + std::to_string(P.height) + ", " +
                               std::to_string(P.width) + "] (the run's frames and output size)" +
                               (sv.defined() ? ", got " + shape_str(sv.sizes()) : ""));
    if (!at::isfinite(sv).all().item<bool>()) fail("source video", "contains NaN or Inf");
    stage("encode source");
    src.z = m.vae.encode(sv.to(dev, at::kFloat).unsqueeze(0))[0];
    if (req.kvlock.source_image.defined()) {
      at::Tensor si = req.kvlock.source_image.to(dev, at::kFloat);
      if (m.dit.cfg.has_image_branch()) {  // a Wan2.2 expert reads no CLIP tokens
        src.clip_fea = m.clip_blocks > 0 ? m.clip.forward(m.clip.preprocess(si), m.clip_blocks) : m.clip.clip_fea(si);
        src.clip_fea = src.clip_fea.to(at::kFloat);
      }
      at::Tensor rs = at::upsample_bicubic2d(si.unsqueeze(0), {P.height, P.width}, false);
      at::Tensor vin = at::cat({rs.unsqueeze(2), at::zeros({1, 3, P.frames - 1, P.height, P.width}, rs.options())}, 2);
      src.y = at::cat({i2v_mask(P.lat_f, P.lat_h, P.lat_w).to(dev).unsqueeze(0), m.vae.encode(vin)}, 1);
    } else {
      src.clip_fea = clip_fea;
      src.y = y;
    }
    // One batch row: the edit's conditional text (row 0), or the source prompt's.
    if (req.kvlock.source_prompt.empty() && !req.kvlock.source_image.defined()) {
      auto first_row = [](const CrossContext& c) {
        auto row = [](const at::Tensor& t) { return t.defined() ? t.narrow(0, 0, 1) : t; };
        CrossContext o;
        o.text = row(c.text);
        o.img = row(c.img);
        for (const auto& l : c.layers) o.layers.push_back({row(l.k), row(l.v), row(l.k_img), row(l.v_img)});
        return o;
      };
      src.cross = first_row(cross);
      if (m.two_experts()) src.cross_high = first_row(cross_high);
    } else {
      const std::string& text = req.kvlock.source_prompt.empty() ? req.prompt : req.kvlock.source_prompt;
      if (!req.kvlock.source_prompt.empty()) validate_prompt(text, "source prompt");
      const at::Tensor ctx = m.dit.pad_context(encode_prompt(m, text).to(at::kFloat)).to(dev);
      src.cross = m.dit.precompute_cross(ctx, src.clip_fea.defined() ? src.clip_fea.expand({1, src.clip_fea.size(1), src.clip_fea.size(2)})
                                                                      : src.clip_fea);
      if (m.two_experts()) src.cross_high = m.dit_high->precompute_cross(ctx, at::Tensor());
    }
    const auto& ps = m.dit.cfg.patch_size;
    const at::Tensor background = 1 - token_mask_from_latent(edit_mask, {ps[0], ps[1], ps[2]}).reshape({-1});
    const c10::Device cache_dev = kc.cache_on_cpu ? c10::Device(c10::kCPU) : dev;
    src.cache = std::make_unique<KvLockCache>(m.dit.cfg.num_layers, background.to(dev), cache_dev);
  }

  // Noise from a seeded CPU generator so a seed gives the same video on any device.
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(req.seed));
  at::Tensor latent = at::randn({m.latent_channels(), P.lat_f, P.lat_h, P.lat_w}, gen, at::TensorOptions().dtype(at::kFloat)).to(dev);
  if (src.cache) {
    if (kc.shared_noise) {
      src.noise = latent;
    } else {  // an independent draw, from a generator derived from the seed
      auto g2 = at::detail::createCPUGenerator(static_cast<uint64_t>(req.seed) ^ 0x9E3779B97F4A7C15ULL);
      src.noise = at::randn(latent.sizes(), g2, at::TensorOptions().dtype(at::kFloat)).to(dev);
    }
  }

  auto sched = make_scheduler(P.solver);
  sched->set_timesteps(P.steps, P.shift);
  const auto timesteps = sched->timesteps();
  ForwardOptions opt;
  opt.listener = hooks.listener;
  opt.cross = &cross;
  opt.roles = use_cfg ? std::vector<PassRole>{PassRole::Cond, PassRole::Uncond} : std::vector<PassRole>{PassRole::Cond};
  at::Tensor yB = y.defined() ? y.expand({B, y.size(1), y.size(2), y.size(3), y.size(4)}) : y;
  std::unique_ptr<HallucinationTracker> hallucination;
  if (kc.editing() && req.hallucination_window <= 0)
    fail("kvlock", "its schedules read the hallucination metric, which is off (window 0)");
  if (req.hallucination_window > 0) {
    // An edit reads sigma2 inside its mask (local) unless the variant is global.
    const at::Tensor& hm = req.hallucination_mask.defined() || !kc.editing() || !kc.local ? req.hallucination_mask : edit_mask;
    if (hm.defined() && (hm.dim() != 3 || hm.size(0) != P.lat_f || hm.size(1) != P.lat_h || hm.size(2) != P.lat_w))
      fail("hallucination mask", "must be the latent grid [" + std::to_string(P.lat_f) + ", " + std::to_string(P.lat_h) +
                                     ", " + std::to_string(P.lat_w) + "]");
    hallucination = std::make_unique<HallucinationTracker>(req.hallucination_window, hm);
  }
  const DynCfgConfig& dc = req.dyncfg;
  if (dc.enabled) {
    dc.validate("dynamic CFG");
    if (!use_cfg) fail("dynamic CFG", "needs classifier-free guidance: the run's CFG scale is 1 (no unconditional pass)");
    if (dc.omega && !hallucination) fail("dynamic CFG", "the omega schedule reads the hallucination metric, which is off (window 0)");
    r.dyncfg_omega0 = dc.omega0 > 0 ? dc.omega0 : P.guide_scale;
    r.dyncfg_tau = dc.tau > 0 ? dc.tau : kvlock_tau(m, &r.dyncfg_tau_calibrated, kc.editing() && kc.local);
    r.dyncfg_kappa = dc.omega ? scheduled_steps(dc, P.steps) : 0;
  }
  auto ts = Clock::now();
  for (int i = 0; i < P.steps; ++i) {
    if (hooks.cancel && hooks.cancel->load()) {
      r.cancelled = true;
      break;
    }
    DitInputs in;
    in.x = latent.unsqueeze(0).expand({B, latent.size(0), latent.size(1), latent.size(2), latent.size(3)});
    in.t = at::full({B}, static_cast<double>(timesteps[i]), at::TensorOptions().dtype(at::kDouble));
    in.y = yB;
    in.clip_fea = clip_fea;
    opt.step = i;
    // Wan2.2 (image2video.py _prepare_model_for_timestep): t >= boundary -> the high-noise expert and guide_scale[1].
    const bool high = m.high_noise_step(timesteps[i]);
    const WanModel& dit = high ? *m.dit_high : m.dit;
    const double guide = high ? P.guide_scale_high : P.guide_scale;
    if (m.two_experts()) {
      opt.expert = high ? 1 : 0;
      opt.cross = high ? &cross_high : &cross;
      r.step_expert.push_back(opt.expert);
    }
    r.step_guide_scale.push_back(guide);
    const double sigma2_prev = hallucination && hallucination->trace().steps() > 0 ? hallucination->trace().curve().back()
                                                                                   : std::numeric_limits<double>::quiet_NaN();
    ProbeChain chain;
    if (kc.editing()) {
      KvLockStep ks;
      ks.step = i;
      ks.sigma2 = sigma2_prev;
      ks.scheduled = kc.lock && i >= P.steps - r.kvlock_kappa;
      ks.alpha = kvlock_alpha(kc, i, P.steps, r.kvlock_tau, sigma2_prev);
      if (src.cache && ks.alpha > 0) {
        // The source at this step's noise level, x_sigma = (1 - sigma) z + sigma eps, through the model once.
        const double sg = sched->sigmas()[i];
        DitInputs sx;
        sx.x = ((1 - sg) * src.z + sg * src.noise).unsqueeze(0);
        sx.t = at::full({1}, static_cast<double>(timesteps[i]), at::TensorOptions().dtype(at::kDouble));
        sx.y = src.y;
        sx.clip_fea = src.clip_fea;
        ForwardOptions so;
        so.step = i;
        so.cross = high && m.two_experts() ? &src.cross_high : &src.cross;
        so.expert = opt.expert;
        so.roles = {PassRole::Cond};
        so.listener = src.cache.get();
        src.cache->record_next();
        dit.forward(sx, so);  // Wan2.2: the expert of this step, whose K / V the target pass then reads
        r.kvlock_cache_bytes = std::max(r.kvlock_cache_bytes, src.cache->bytes());
        src.cache->fuse_next(ks.alpha);
        ks.source_pass = true;
        chain.add(src.cache.get());
        chain.add(hooks.listener);
        opt.listener = &chain;
      }
      r.kvlock.push_back(ks);
    }
    at::Tensor out;
    if (m.is_mmdit()) {
      latent = with_image_frame(latent, mm.image_latent);
      out = mmdit_velocity(m, mm, latent, sched->sigmas()[i] * 1000.0, opt, hooks.hide_prompt_layers);  // t = 1000 sigma unrounded, as trained
    } else {
      out = dit.forward(in, opt);
    }
    opt.listener = hooks.listener;
    if (src.cache) src.cache->idle();
    at::Tensor v;
    if (use_cfg && dc.enabled) {
      DynCfgStep st;
      st.step = i;
      st.sigma2 = sigma2_prev;
      st.scheduled = dc.omega && i >= P.steps - r.dyncfg_kappa;
      st.omega = dyncfg_omega(dc, i, P.steps, r.dyncfg_omega0, r.dyncfg_tau, st.sigma2);
      v = cfg_zero_star_combine(out[1], out[0], st.omega, dc.sstar, &st.sstar);
      r.dyncfg.push_back(st);
    } else {
      v = use_cfg ? cfg_combine(out[1], out[0], guide) : out[0];
    }
    latent = sched->step(v, timesteps[i], latent);
    if (m.is_mmdit()) latent = with_image_frame(latent, mm.image_latent);
    if (hallucination) hallucination->add(sched->last_step().x0_pred);
    if (hooks.on_step) {
      StepProgress sp;
      sp.step = i + 1;
      sp.total = P.steps;
      sp.elapsed_s = since(ts);
      sp.eta_s = sp.elapsed_s / (i + 1) * (P.steps - i - 1);
      sp.timestep = timesteps[i];
      sp.x0 = sched->last_step().x0_pred;
      if (hallucination) sp.hallucination = &hallucination->trace();
      hooks.on_step(sp);
    }
  }
  r.seconds_sample = since(ts);
  r.latent = latent;
  if (hallucination) r.hallucination = hallucination->trace();
  if (r.cancelled) return r;

  stage("decode");
  auto td = Clock::now();
  r.video = m.vae.decode(latent.unsqueeze(0))[0].to(at::kCPU);
  r.seconds_decode = since(td);
  return r;
}

}  // namespace focalscope
