// The embedded MMDiT's parts of a generate() run (i2v_pipeline.cpp): its conditioning and one velocity call. The
// sampling loop, schedulers, CFG, hallucination metric and hooks are the Wan runs' own; only what the model reads
// differs (token_replace of latent frame 0, TinyMllm text, joint attention), so the two architectures are compared
// on the same sampler, noise and steps.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "engine/models/wan/wan_model.h"  // ForwardOptions
#include "engine/pipeline/model_bundle.h"

namespace focalscope {

struct MmditConditioning {
  at::Tensor image_latent;  // [C, 1, h, w] clean latent of the reference (frame 0 of every step's input)
  at::Tensor states, mask, pooled;  // batch rows [cond; uncond] as the Wan runs order them
  int64_t image_rows = 0;   // the visual-context rows [0, image_rows) of the text (FSG / AC anchors)
};

// image [3, H, W] in [-1, 1] (the request's, any size: CLIP resizes it); ref_latent = VAE([resized image, zeros])
// [1, C, F', h, w]. Batch rows: the prompt, then (use_cfg) the negative prompt with the same image.
MmditConditioning mmdit_conditioning(const ModelBundle& m, const at::Tensor& image, const at::Tensor& ref_latent,
                                     const std::string& prompt, const std::string& negative, bool use_cfg);

// latent [C, F', h, w] with frame 0 set to image_latent.
at::Tensor with_image_frame(const at::Tensor& latent, const at::Tensor& image_latent);

// Velocity [rows, C, F', h, w] for latent [C, F', h, w] at model timestep t (= 1000 sigma, unrounded), every row of
// `c`; frame 0 is set to 0 (the clean frame does not move, so x0_pred there is the image latent). opt: step, roles,
// listener as for a Wan call. hide_prompt_layers: the causal ablation's knockout (RunHooks::hide_prompt_layers).
at::Tensor mmdit_velocity(const ModelBundle& m, const MmditConditioning& c, const at::Tensor& latent, double t,
                          const ForwardOptions& opt, const std::vector<int>& hide_prompt_layers = {});

}  // namespace focalscope
