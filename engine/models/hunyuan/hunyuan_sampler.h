// The HunyuanVideo-I2V sampling loop with token_replace conditioning (HunyuanVideoPipeline.__call__,
// pipeline_hunyuan_video.py:566-618 and 1009-1110). Spec: ARCHITECTURE.md §8, §10.4-10.5.
//
//   latents = i2v_initial_latents(noise, img_latents, stability);
//   for each timestep t_i of FlowMatchDiscrete(shift, flow_reverse):
//     latents[:, :, 0] = img_latents                      (frame 0 is the clean image latent at every model call)
//     v = DiT(latents, t_i, text, guidance = scale*1000)   ([uncond, cond] batch + CFG when cfg_scale > 1)
//     latents[:, :, 1:] = Euler(v[:, :, 1:], latents[:, :, 1:]);  latents[:, :, 0] = img_latents
#pragma once
#include <ATen/ATen.h>

#include <atomic>
#include <functional>
#include <optional>
#include <vector>

#include "engine/models/hunyuan/hunyuan_model.h"

namespace focalscope {

struct HunyuanSampleOptions {
  int steps = 50;
  double flow_shift = 17.0;  // release scripts: 17 plain, 7 with i2v_stability
  bool flow_reverse = true;  // every release script passes --flow-reverse
  int num_train_timesteps = 1000;
  bool i2v_stability = false;
  // Embedded (distilled) guidance, fed to guidance_in as scale * 1000; nullopt for a model without guidance_in.
  std::optional<double> embedded_guidance_scale = 6.0;
  // Upstream builds that value as tensor(scale).to(precision) * 1000 in the run's precision, so its bf16 runs feed
  // 6016 for 6.0. False (the default) feeds the float32 value (6000), as the float32 goldens do; true rounds through
  // the model's dtype like upstream.
  bool guidance_in_model_dtype = false;
  const std::atomic<bool>* cancel = nullptr;  // checked before every step: the loop stops, returning the latents so far
  double cfg_scale = 1.0;         // > 1: classifier-free guidance with the negative text (upstream default 1: off)
  double guidance_rescale = 0.0;  // rescale_noise_cfg mix factor (only with CFG; upstream default 0)
  // The analysis seam (hunyuan_model.h): a listener sees every model call with its step index and the rows' roles
  // ([Uncond, Cond] under CFG), and the visual-context rows of the text for FSG / AC anchors.
  ProbeListener* listener = nullptr;
  int64_t visual_rows_begin = -1, visual_rows_count = 0;
  // The step's data prediction x̂0 = x_i - sigma_i * v (frames 1.. predicted, frame 0 the image latent), [B, C, T, H, W]
  // float32, for the hallucination metric (engine/pipeline/hallucination.h) — what Wan's StepInfo::x0_pred is.
  std::function<void(int, const at::Tensor&)> on_x0_pred;
};

// Text conditioning of one prompt: MLLM states [B, Lt, text_dim] + mask [B, Lt], CLIP pooled [B, text_dim_2].
struct HunyuanText {
  at::Tensor states, mask, pooled;
};

// Everything the loop hands the DiT and the scheduler, per step (upstream's callback view).
struct HunyuanSampleTrace {
  at::Tensor sigmas, timesteps;          // the schedule (float32)
  at::Tensor latents_init;               // prepare_latents output
  std::vector<at::Tensor> model_input;   // latent_model_input of step i ([uncond; cond] rows under CFG)
  std::vector<at::Tensor> t_model, guidance_model;  // t_expand / guidance_expand of step i
  std::vector<at::Tensor> noise_pred;    // velocity used by step i (after CFG)
  std::vector<at::Tensor> latents;       // latents after step i (frame 0 = img_latents)
};

// prepare_latents: noise, or with i2v_stability 0.999 * noise + (1 - 0.999) * img_latents repeated over the
// frames (float32 t = 0.999 as upstream), cast to the noise's dtype.
at::Tensor i2v_initial_latents(const at::Tensor& noise, const at::Tensor& img_latents, bool i2v_stability);

// Runs the loop from `noise` [B, C, T, H, W] with the clean image latent `img_latents` [B or 1, C, 1, H, W];
// returns the final latents (float32). `negative` is required when opts.cfg_scale > 1 (same text length as
// `text`). RoPE tables are made once for the latent grid. `on_step(i, latents)` is called after every step.
at::Tensor sample_hunyuan_i2v(const HunyuanModel& model, const at::Tensor& noise, const at::Tensor& img_latents,
                              const HunyuanText& text, const HunyuanText* negative, const HunyuanSampleOptions& opts,
                              HunyuanSampleTrace* trace = nullptr,
                              const std::function<void(int, const at::Tensor&)>& on_step = {});

}  // namespace focalscope
