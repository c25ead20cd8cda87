#include "engine/pipeline/hunyuan_pipeline.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/models/hunyuan/hunyuan_sampler.h"
#include "engine/pipeline/run_memory.h"

namespace focalscope {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Where a missing text-encoder folder is expected: beside the release folder (ckpts/<name>), as the release ships it.
std::string expected_folder(const HunyuanRelease& r, const char* name) {
  return (fs::path(r.root).parent_path() / name).string();
}

}  // namespace

HunyuanBundle HunyuanBundle::load(const std::string& dir, const HunyuanBundleOptions& opts) {
  HunyuanBundle b;
  b.options = opts;
  b.release = find_hunyuan_release(dir);
  const HunyuanRelease& r = b.release;
  if (r.text_encoder_i2v.empty())
    fail(expected_folder(r, "text_encoder_i2v"),
         "is missing (the release's MLLM text encoder, LLaVA-Llama-3-8B as a transformers folder with config.json)");
  if (r.text_encoder_2.empty())
    fail(expected_folder(r, "text_encoder_2"),
         "is missing (the release's CLIP-L text encoder as a transformers folder with config.json)");

  c10::InferenceMode guard;
  {
    const TensorSet w = load_hunyuan_release_dit(r, opts.load_key);
    b.cfg = hunyuan_config_from_weights(w, r.dit, r.dit_config);
    b.dit = std::make_shared<HunyuanModel>(
        naming_file(r.dit, [&] { return HunyuanModel::load(w, b.cfg, opts.dit_dtype, opts.device); }));
  }
  b.variant = hunyuan_variant(b.cfg, r);

  const HunyuanVaeConfig vcfg =
      naming_file(r.vae_config, [&] { return HunyuanVaeConfig::from_json(read_json_object_file(r.vae_config)); });
  b.vae = std::make_shared<HunyuanVAE>(naming_file(
      r.vae_weights, [&] { return HunyuanVAE::load(load_hunyuan_release_vae(r), vcfg, opts.vae_dtype, opts.device); }));
  if (vcfg.latent_channels != b.cfg.in_channels || vcfg.latent_channels != b.cfg.out_channels)
    fail(r.vae_config, "latent_channels " + std::to_string(vcfg.latent_channels) + " is not the DiT's in/out channels " +
                           std::to_string(b.cfg.in_channels) + "/" + std::to_string(b.cfg.out_channels));

  HunyuanTextEncoderOptions to;
  to.dtype = opts.text_dtype;
  b.mllm = std::make_shared<LlavaI2VTextEncoder>(
      naming_file(r.text_encoder_i2v, [&] { return LlavaI2VTextEncoder::from_folder(r.text_encoder_i2v, to); }));
  // The vision tower only when asked for and present (a whole CLIPModel folder; the release's is one, a text-only
  // clip_text_model folder is not): Focal Guidance then selects keywords by Eq. 6, else it needs them given.
  const bool vision = opts.clip_vision && naming_file(r.text_encoder_2 + "/config.json", [&] {
    return read_json_file(r.text_encoder_2 + "/config.json").value("model_type", std::string()) == "clip";
  });
  b.clip = std::make_shared<ClipLTextEncoder>(
      naming_file(r.text_encoder_2, [&] { return ClipLTextEncoder::from_folder(r.text_encoder_2, vision, opts.text_dtype); }));
  const int64_t llm_w = b.mllm->language_model().cfg.hidden_size, clip_w = b.clip->text_model().cfg.hidden_size;
  if (llm_w != b.cfg.text_states_dim)
    fail(r.text_encoder_i2v, "its language model's hidden_size " + std::to_string(llm_w) +
                                 " is not the DiT's text_states_dim " + std::to_string(b.cfg.text_states_dim) +
                                 " (txt_in.input_embedder in " + r.dit + ")");
  if (clip_w != b.cfg.text_states_dim_2)
    fail(r.text_encoder_2, "its text model's hidden_size " + std::to_string(clip_w) + " is not the DiT's text_states_dim_2 " +
                               std::to_string(b.cfg.text_states_dim_2) + " (vector_in in " + r.dit + ")");
  return b;
}

std::pair<int64_t, int64_t> hunyuan_bucket(int64_t h, int64_t w, int64_t base) {
  if (h <= 0 || w <= 0) fail("image", "has no pixels");
  const int64_t patch = 32;
  const double max_ratio = 4.0;
  const int64_t num_patches = std::llround(std::pow(double(base) / double(patch), 2.0));
  // generate_crop_size_list: (wp * patch, hp * patch) read as (h, w) by get_closest_ratio.
  std::vector<std::pair<int64_t, int64_t>> sizes;
  int64_t wp = num_patches, hp = 1;
  while (wp > 0) {
    if (double(std::max(wp, hp)) / double(std::min(wp, hp)) <= max_ratio) sizes.emplace_back(wp * patch, hp * patch);
    if ((hp + 1) * wp <= num_patches) ++hp;
    else --wp;
  }
  const double aspect = double(h) / double(w);
  size_t best = 0;
  double best_d = INFINITY;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const double r = std::round(double(sizes[i].first) / double(sizes[i].second) * 1e5) / 1e5;
    const double d = std::abs(r - aspect);
    if (d < best_d) best_d = d, best = i;  // argmin: the first of equal distances
  }
  return sizes.at(best);
}

at::Tensor hunyuan_reference_image(const at::Tensor& image, int64_t H, int64_t W) {
  if (!image.defined() || image.dim() != 3 || image.size(0) != 3)
    fail("--image", "must be an RGB image [3, H, W]");
  at::Tensor x = image.to(at::kFloat).unsqueeze(0);
  const int64_t h = x.size(2), w = x.size(3);
  const double s = std::max(double(H) / double(h), double(W) / double(w));
  const int64_t nh = std::max<int64_t>(H, std::llround(h * s)), nw = std::max<int64_t>(W, std::llround(w * s));
  if (nh != h || nw != w) {
    const bool down = nh < h || nw < w;
    x = down ? at::_upsample_bilinear2d_aa(x, {nh, nw}, /*align_corners=*/false)
             : at::upsample_bilinear2d(x, {nh, nw}, /*align_corners=*/false);
  }
  const int64_t top = (nh - H) / 2, left = (nw - W) / 2;  // torchvision CenterCrop: int(round(...)) of the halves
  return x[0].narrow(1, top, H).narrow(2, left, W).clamp(-1, 1).contiguous();
}

HunyuanParams resolve_hunyuan_params(const HunyuanBundle& b, const HunyuanRequest& req) {
  HunyuanParams p;
  const int64_t tf = b.vae->cfg.temporal_factor(), sf = b.vae->cfg.spatial_factor();
  const int64_t mult = sf * b.cfg.patch_size[1];  // 8 * 2 = 16 with the release
  p.steps = req.steps > 0 ? req.steps : 50;
  if (p.steps > 1000) fail("--steps", "must be at most 1000");
  p.frames = req.frames > 0 ? req.frames : 129;
  if (p.frames < 1 + tf || (p.frames - 1) % tf != 0)
    fail("--frames", std::to_string(p.frames) + " must be 1 + " + std::to_string(tf) + "k with k >= 1 (e.g. " +
                         std::to_string(1 + tf) + ", " + std::to_string(1 + 2 * tf) + ", 129)");
  if ((req.height > 0) != (req.width > 0)) fail(req.height > 0 ? "--width" : "--height", "give --height and --width together");
  if (req.height > 0) {
    p.height = req.height;
    p.width = req.width;
  } else {
    if (!req.image.defined() || req.image.dim() != 3) fail("--image", "must be an RGB image [3, H, W]");
    std::tie(p.height, p.width) = hunyuan_bucket(req.image.size(1), req.image.size(2), 960);
  }
  if (p.height % mult != 0) fail("--height", std::to_string(p.height) + " must be a multiple of " + std::to_string(mult));
  if (p.width % mult != 0) fail("--width", std::to_string(p.width) + " must be a multiple of " + std::to_string(mult));
  p.lat_f = (p.frames - 1) / tf + 1;
  p.lat_h = p.height / sf;
  p.lat_w = p.width / sf;
  p.flow_shift = req.flow_shift > 0 ? req.flow_shift : (req.i2v_stability ? 7.0 : 17.0);
  p.embedded_guidance = req.embedded_guidance;
  p.cfg = req.cfg > 0 ? req.cfg : 1.0;
  if (p.cfg < 1.0) fail("--cfg", "must be >= 1 (1 = no classifier-free guidance, the release default)");
  if (p.cfg > 1.0) p.negative_prompt = req.negative_prompt.empty() ? kHunyuanNegativePromptI2V : req.negative_prompt;
  if (req.hallucination_window == 1) fail("--hallucination-window", "1 is too small: a variance needs 2 steps (0 turns it off)");
  return p;
}

HunyuanResult generate_hunyuan(const HunyuanBundle& b, const HunyuanRequest& req) {
  if (!b.dit || !b.vae || !b.mllm || !b.clip) fail("HunyuanVideo-I2V", "the bundle is not loaded");
  if (req.prompt.empty()) fail("--prompt", "is empty");
  if (!req.image.defined() || req.image.dim() != 3 || req.image.size(0) != 3) fail("--image", "must be an RGB image [3, H, W]");
  HunyuanResult r;
  r.params = resolve_hunyuan_params(b, req);
  const HunyuanParams& P = r.params;
  c10::InferenceMode guard;
  const c10::Device dev = b.dit->device();
  if (dev.is_cpu()) {  // refuse a run the machine cannot hold before encoding anything (run_memory.h)
    const auto& c = b.dit->cfg;
    RunMemoryInputs m;
    m.tokens = P.lat_f / c.patch_size[0] * (P.lat_h / c.patch_size[1]) * (P.lat_w / c.patch_size[2]) +
               b.mllm->options().text_len + 256;  // text rows: at most text_len + the image rows kept (144 for the release)
    m.dim = c.hidden_size;
    m.ffn = c.mlp_hidden();
    m.rows = P.cfg > 1 ? 2 : 1;
    m.latent_elems = int64_t{c.out_channels} * P.lat_f * P.lat_h * P.lat_w;
    m.vae_channels = *std::max_element(b.vae->cfg.block_out_channels.begin(), b.vae->cfg.block_out_channels.end());
    m.frames = P.frames;
    m.height = P.height;
    m.width = P.width;
    m.threads = at::get_num_threads();
    check_run_memory(estimate_run_memory(m), "--frames / --height / --width (or run with --device cuda)");
  }
  auto stage = [&](const char* s) {
    if (req.on_stage) req.on_stage(s);
  };

  // Reference image -> img_latents (frame 0 of every step).
  auto t0 = Clock::now();
  stage("encode image");
  r.reference = hunyuan_reference_image(req.image, P.height, P.width);
  const at::Tensor pix = r.reference.unsqueeze(0).unsqueeze(2).to(b.vae->device(), b.vae->dtype());
  r.img_latents = b.vae->encode_scaled(pix).to(dev, at::kFloat);

  // Text: MLLM with the original image (its processor resizes), CLIP-L pooled; CFG: negative + black image.
  stage("encode text");
  const at::Tensor img_u8 = image_m11_to_u8_hwc(req.image.to(at::kFloat).cpu());
  auto encode = [&](const std::string& prompt, const at::Tensor& image_u8) {
    const MllmEncoding e = b.mllm->encode({prompt}, {image_u8});
    HunyuanText t;
    t.states = e.states.to(dev, at::kFloat);
    t.mask = e.mask.to(dev);
    t.pooled = b.clip->pooled({prompt}).to(dev, at::kFloat);
    r.visual_rows = e.image_rows;
    r.text_rows = e.states.size(1);
    return t;
  };
  const HunyuanText text = encode(req.prompt, img_u8);
  HunyuanText negative;
  if (P.cfg > 1.0) negative = encode(P.negative_prompt, at::zeros_like(img_u8));
  r.seconds_encode = since(t0);

  // Noise from the seed (CPU generator, float32), then the loop.
  t0 = Clock::now();
  stage("sample");
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(req.seed));
  const at::Tensor noise =
      at::randn({1, b.cfg.in_channels, P.lat_f, P.lat_h, P.lat_w}, gen, at::TensorOptions().dtype(at::kFloat)).to(dev);
  HunyuanSampleOptions so;
  so.steps = P.steps;
  so.flow_shift = P.flow_shift;
  so.i2v_stability = req.i2v_stability;
  so.cfg_scale = P.cfg;
  if (b.cfg.guidance_embed) so.embedded_guidance_scale = P.embedded_guidance;
  else so.embedded_guidance_scale.reset();
  so.listener = req.listener;
  so.cancel = req.cancel;
  so.visual_rows_begin = r.visual_rows > 0 ? 0 : -1;
  so.visual_rows_count = r.visual_rows;
  std::unique_ptr<HallucinationTracker> tracker;
  if (req.hallucination_window > 0) {
    tracker = std::make_unique<HallucinationTracker>(req.hallucination_window);
    so.on_x0_pred = [&](int, const at::Tensor& x0) { tracker->add(x0[0]); };
  }
  const auto ts = Clock::now();
  r.latent = sample_hunyuan_i2v(*b.dit, noise, r.img_latents, text, P.cfg > 1.0 ? &negative : nullptr, so, nullptr,
                                [&](int i, const at::Tensor&) {
                                  if (req.on_step) req.on_step(i + 1, P.steps, since(ts));
                                });
  if (tracker) r.hallucination = tracker->trace();
  r.seconds_sample = since(t0);
  if (req.cancel && req.cancel->load()) {
    r.cancelled = true;
    return r;
  }

  t0 = Clock::now();
  stage("decode");
  const at::Tensor video = b.vae->decode_to_unit(r.latent.to(b.vae->device(), b.vae->dtype()));  // [1, 3, F, H, W]
  r.video = video[0].permute({1, 0, 2, 3}).to(at::kCPU, at::kFloat).contiguous();
  r.seconds_decode = since(t0);
  return r;
}

}  // namespace focalscope
