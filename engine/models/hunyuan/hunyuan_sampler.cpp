#include "engine/models/hunyuan/hunyuan_sampler.h"

#include <c10/core/InferenceMode.h>

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/models/hunyuan/flow_match_discrete.h"
#include "engine/sched/scheduler.h"

namespace focalscope {

namespace {
// torch.concat([img_latents, rest], dim=2): the clean image latent as frame 0 in front of frames 1.. .
at::Tensor with_frame0(const at::Tensor& img, const at::Tensor& rest) {
  const at::Tensor first = img.to(rest.device(), rest.scalar_type()).expand({rest.size(0), -1, 1, -1, -1});
  return at::cat({first, rest}, 2);
}
at::Tensor frames_after_0(const at::Tensor& x) { return x.narrow(2, 1, x.size(2) - 1); }

// rescale_noise_cfg: mix the CFG output with itself rescaled to the conditional output's per-sample std.
at::Tensor rescale_cfg(const at::Tensor& cfg, const at::Tensor& cond, double phi) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < cond.dim(); ++d) dims.push_back(d);
  const at::Tensor std_text = cond.std(dims, /*unbiased=*/true, /*keepdim=*/true);
  const at::Tensor std_cfg = cfg.std(dims, /*unbiased=*/true, /*keepdim=*/true);
  return phi * (cfg * (std_text / std_cfg)) + (1 - phi) * cfg;
}

void check(const HunyuanModel& m, const at::Tensor& noise, const at::Tensor& img, const HunyuanText& text,
           const HunyuanText* neg, const HunyuanSampleOptions& o) {
  const char* where = "HunyuanVideo I2V sampler";
  if (!noise.defined() || noise.dim() != 5 || noise.size(1) != m.cfg.in_channels)
    fail(where, "noise must be [B, " + std::to_string(m.cfg.in_channels) + ", T, H, W], got " +
                    (noise.defined() ? shape_str(noise.sizes()) : std::string("nothing")));
  if (!img.defined() || img.dim() != 5 || img.size(1) != noise.size(1) || img.size(2) != 1 ||
      img.sizes().slice(3) != noise.sizes().slice(3) || (img.size(0) != 1 && img.size(0) != noise.size(0)))
    fail(where, "img_latents must be [1 or B, C, 1, H, W] matching the noise " + shape_str(noise.sizes()) + ", got " +
                    (img.defined() ? shape_str(img.sizes()) : std::string("nothing")));
  if (!text.states.defined() || !text.mask.defined() || !text.pooled.defined()) fail(where, "text conditioning is incomplete");
  if (o.cfg_scale > 1.0) {
    if (!neg || !neg->states.defined() || !neg->mask.defined() || !neg->pooled.defined())
      fail(where, "cfg_scale > 1 needs the negative prompt's text conditioning");
    if (neg->states.sizes() != text.states.sizes() || neg->mask.sizes() != text.mask.sizes() ||
        neg->pooled.sizes() != text.pooled.sizes())
      fail(where, "negative and positive text conditioning must have the same shapes (both padded to text_len)");
  }
  if (m.cfg.guidance_embed && !o.embedded_guidance_scale) fail(where, "this model embeds the guidance: give embedded_guidance_scale");
}
}  // namespace

at::Tensor i2v_initial_latents(const at::Tensor& noise, const at::Tensor& img_latents, bool i2v_stability) {
  if (!i2v_stability) return noise;
  at::Tensor x1 = img_latents.to(noise.device());
  if (x1.size(2) == 1) x1 = x1.repeat({1, 1, noise.size(2), 1, 1});
  const at::Tensor t = at::full({1}, 0.999, at::TensorOptions().dtype(at::kFloat).device(noise.device()));
  return (noise * t + x1 * (1 - t)).to(noise.scalar_type());
}

at::Tensor sample_hunyuan_i2v(const HunyuanModel& model, const at::Tensor& noise, const at::Tensor& img_latents,
                              const HunyuanText& text, const HunyuanText* negative, const HunyuanSampleOptions& o,
                              HunyuanSampleTrace* trace, const std::function<void(int, const at::Tensor&)>& on_step) {
  check(model, noise, img_latents, text, negative, o);
  c10::InferenceMode guard;
  FlowMatchDiscrete sched(o.flow_shift, o.flow_reverse, o.num_train_timesteps);
  sched.set_timesteps(o.steps);
  const bool cfg = o.cfg_scale > 1.0;

  // Batch rows of each model call: [negative; positive] under CFG (upstream order), else the prompt alone.
  HunyuanInputs in;
  auto rows = [&](const at::Tensor& neg, const at::Tensor& pos) { return cfg ? at::cat({neg, pos}, 0) : pos; };
  in.text_states = rows(cfg ? negative->states : at::Tensor(), text.states);
  in.text_mask = rows(cfg ? negative->mask : at::Tensor(), text.mask);
  in.text_states_2 = rows(cfg ? negative->pooled : at::Tensor(), text.pooled);
  std::tie(in.freqs_cos, in.freqs_sin) = model.rope_for_latent(noise.size(2), noise.size(3), noise.size(4));

  HunyuanForwardOptions fwd;
  fwd.listener = o.listener;
  fwd.visual_rows_begin = o.visual_rows_begin;
  fwd.visual_rows_count = o.visual_rows_count;
  fwd.roles = cfg ? std::vector<PassRole>(static_cast<size_t>(noise.size(0)), PassRole::Uncond) : std::vector<PassRole>{};
  if (cfg) fwd.roles.insert(fwd.roles.end(), static_cast<size_t>(noise.size(0)), PassRole::Cond);

  at::Tensor latents = i2v_initial_latents(noise, img_latents, o.i2v_stability);
  if (trace) {
    *trace = HunyuanSampleTrace{};
    trace->sigmas = sched.sigmas();
    trace->timesteps = sched.timesteps();
    trace->latents_init = latents;
  }
  for (int i = 0; i < sched.num_steps(); ++i) {
    if (o.cancel && o.cancel->load()) break;
    latents = with_frame0(img_latents, frames_after_0(latents));
    in.x = cfg ? at::cat({latents, latents}, 0) : latents;
    const int64_t rows_n = in.x.size(0);
    in.t = sched.timesteps()[i].reshape({1}).repeat({rows_n});
    if (o.embedded_guidance_scale) {
      // tensor([scale] * rows, float32).to(precision) * 1000.0, evaluated in that precision.
      at::Tensor g = at::full({rows_n}, *o.embedded_guidance_scale, at::TensorOptions().dtype(at::kFloat));
      if (o.guidance_in_model_dtype) g = g.to(model.dtype());
      in.guidance = (g * 1000.0).to(at::kFloat);
    }
    fwd.step = i;
    at::Tensor v = model.forward(in, fwd).to(latents.device(), at::kFloat);
    if (cfg) {
      const at::Tensor u = v.narrow(0, 0, latents.size(0)), c = v.narrow(0, latents.size(0), latents.size(0));
      v = cfg_combine(u, c, o.cfg_scale);
      if (o.guidance_rescale > 0.0) v = rescale_cfg(v, c, o.guidance_rescale);
    }
    if (o.on_x0_pred) {  // Euler from sigma_i straight to 0
      const double sigma = sched.sigmas()[i].item<double>();
      o.on_x0_pred(i, with_frame0(img_latents, frames_after_0(latents) - sigma * frames_after_0(v)));
    }
    // Euler on frames 1.. only; frame 0 is set to the image latent again.
    const at::Tensor next = with_frame0(img_latents, sched.step(frames_after_0(v), frames_after_0(latents)));
    if (trace) {
      trace->model_input.push_back(in.x);
      trace->t_model.push_back(in.t);
      trace->guidance_model.push_back(in.guidance.defined() ? in.guidance : at::Tensor());
      trace->noise_pred.push_back(v);
      trace->latents.push_back(next);
    }
    latents = next;
    if (on_step) on_step(i, latents);
  }
  return latents;
}

}  // namespace focalscope
