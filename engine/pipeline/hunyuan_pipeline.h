// HunyuanVideo-I2V image + prompt -> video from a release folder, as HunyuanVideoSampler.predict +
// HunyuanVideoPipeline.__call__ run it (ARCHITECTURE.md §10; docs/architectures.md "Generating with
// HunyuanVideo-I2V"):
//
//   reference image -> resize (cover) + centre crop to H x W -> VAE encode, mode * scaling_factor = img_latents
//   prompt + original image -> LLaVA MLLM encode (image rows, then text; mask) ; prompt -> CLIP-L pooled
//   (cfg > 1: the negative prompt with a black image of the same size, as upstream encode_prompt)
//   noise [1, C, 1 + (F-1)/4, H/8, W/8] from the seed -> sample_hunyuan_i2v (FlowMatchDiscrete, token_replace,
//   embedded guidance) -> VAE decode (tiled) -> [F, 3, H, W] in [0, 1]
//
// The DiT / VAE / text encoders are loaded once into a HunyuanBundle; generate_hunyuan runs one request on it.
#pragma once
#include <ATen/ATen.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/models/hunyuan/hunyuan_release.h"
#include "engine/models/hunyuan/hunyuan_vae.h"
#include "engine/models/hunyuan/text/hunyuan_text_encoders.h"
#include "engine/models/probe.h"
#include "engine/pipeline/hallucination.h"

namespace focalscope {

// NEGATIVE_PROMPT_I2V (hyvideo/constants.py): the default negative prompt when cfg > 1.
inline constexpr const char* kHunyuanNegativePromptI2V =
    "deformation, a poor composition and deformed video, bad teeth, bad eyes, bad limbs";

struct HunyuanBundleOptions {
  std::string load_key = "module";                 // the DiT checkpoint's entry: module | ema
  bool clip_vision = false;  // also load CLIP-L's vision tower + projections when the folder has them (FG's Eq. 6)
  c10::ScalarType dit_dtype = at::kFloat;          // bf16 = upstream's mixed precision (HunyuanModel::load)
  c10::ScalarType vae_dtype = at::kFloat;
  c10::ScalarType text_dtype = at::kFloat;         // the text encoders (always on the CPU)
  c10::Device device = c10::Device(c10::kCPU);     // DiT and VAE
};

struct HunyuanBundle {
  HunyuanRelease release;
  HunyuanConfig cfg;
  std::string variant;  // hunyuan_variant()
  std::shared_ptr<HunyuanModel> dit;
  std::shared_ptr<HunyuanVAE> vae;
  std::shared_ptr<LlavaI2VTextEncoder> mllm;
  std::shared_ptr<ClipLTextEncoder> clip;
  HunyuanBundleOptions options;

  // Loads everything from a release folder (ckpts/ or hunyuan-video-i2v-*/). Errors are one line naming the file or
  // folder: a missing text_encoder_i2v/ or text_encoder_2/, a text encoder whose width is not the DiT's
  // text_states_dim / text_states_dim_2, a VAE whose latent channels are not the DiT's in_channels.
  static HunyuanBundle load(const std::string& dir, const HunyuanBundleOptions& opts = {});
};

struct HunyuanRequest {
  at::Tensor image;               // [3, h, w] float in [-1, 1] (load_image_tensor), any size
  std::string prompt;
  std::string negative_prompt;    // cfg > 1 only; "" -> kHunyuanNegativePromptI2V
  int64_t seed = 0;
  int steps = -1;                 // <= 0: 50 (release)
  int frames = -1;                // pixel frames 1 + 4k; <= 0: 129 (release)
  int64_t height = -1, width = -1;  // multiples of 16; <= 0: the 720p bucket of the image (both or neither)
  double flow_shift = -1;         // <= 0: 17 (7 with i2v_stability), the release scripts' values
  double embedded_guidance = 6.0; // fed to guidance_in (x1000); every release script passes 6.0
  double cfg = -1;                // <= 0: 1 (no classifier-free guidance, the release default)
  bool i2v_stability = false;
  int hallucination_window = 10;  // 0 = off
  // Analysis seam: the listener sees every DiT call; visual rows = the MLLM's image rows [0, image_rows).
  ProbeListener* listener = nullptr;
  std::function<void(const std::string&)> on_stage;           // "encode image", "encode text", "sample", "decode"
  std::function<void(int step, int total, double elapsed_s)> on_step;  // after every step
  const std::atomic<bool>* cancel = nullptr;  // checked between steps; a cancelled run returns cancelled = true, no video
};

struct HunyuanParams {
  int steps = 0, frames = 0, fps = 24;  // fps: upstream saves at 24
  int64_t height = 0, width = 0;
  int64_t lat_f = 0, lat_h = 0, lat_w = 0;
  double flow_shift = 0, embedded_guidance = 0, cfg = 1;
  std::string negative_prompt;  // "" without CFG
};

struct HunyuanResult {
  HunyuanParams params;
  at::Tensor video;         // [F, 3, H, W] float32 in [0, 1]
  at::Tensor latent;        // final latents [1, C, lat_f, lat_h, lat_w] (float32, scaled space)
  at::Tensor img_latents;   // [1, C, 1, lat_h, lat_w] (scaled space)
  at::Tensor reference;     // [3, H, W] in [-1, 1]: the resized / cropped image the VAE encoded
  int64_t visual_rows = 0;  // MLLM image rows at the front of the text (144 with the release)
  int64_t text_rows = 0;    // total MLLM rows (396 with the release)
  HallucinationTrace hallucination;  // one value per step; window 0 when off
  double seconds_encode = 0, seconds_sample = 0, seconds_decode = 0;
  bool cancelled = false;
};

// generate_crop_size_list(base, 32) + get_closest_ratio (hyvideo/utils/data_utils.py): the (h, w) bucket for an
// image of h x w pixels; base 960 = 720p, 720 = 540p, 480 = 360p.
std::pair<int64_t, int64_t> hunyuan_bucket(int64_t h, int64_t w, int64_t base = 960);

// [3, h, w] in [-1, 1] -> [3, H, W]: bilinear (antialiased) resize so the image covers H x W, then a centre crop.
at::Tensor hunyuan_reference_image(const at::Tensor& image, int64_t H, int64_t W);

// Defaults filled in and checked; one-line errors name the flag (--frames, --height, --width, --steps, --cfg).
HunyuanParams resolve_hunyuan_params(const HunyuanBundle& b, const HunyuanRequest& req);

HunyuanResult generate_hunyuan(const HunyuanBundle& b, const HunyuanRequest& req);

}  // namespace focalscope
