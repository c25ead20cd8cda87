#include "engine/pipeline/mmdit_run.h"

#include <ATen/ATen.h>

#include "engine/core/error.h"

namespace focalscope {

MmditConditioning mmdit_conditioning(const ModelBundle& m, const at::Tensor& image, const at::Tensor& ref_latent,
                                     const std::string& prompt, const std::string& negative, bool use_cfg) {
  if (!m.clip_text) fail(m.layout.dir, "the MMDiT model needs the CLIP text tower for its pooled text vector");
  MmditConditioning c;
  c.image_latent = ref_latent[0].narrow(1, 0, 1).to(at::kFloat);
  std::vector<std::string> texts{prompt};
  if (use_cfg) texts.push_back(negative);
  auto [ids, mask] = m.tokenizer->encode_batch(texts, m.text_len);
  const at::Tensor pixels = m.clip.preprocess(image.to(at::kFloat)).to(at::kFloat);
  const TinyMllmText t = m.mllm->encode(m.clip, *m.clip_text, pixels.expand({ids.size(0), pixels.size(1), pixels.size(2), pixels.size(3)}),
                                        ids, mask);
  c.states = t.states.to(at::kFloat);
  c.mask = t.mask;
  c.pooled = t.pooled.to(at::kFloat);
  c.image_rows = t.image_rows;
  return c;
}

at::Tensor with_image_frame(const at::Tensor& latent, const at::Tensor& image_latent) {
  return at::cat({image_latent.to(latent.device(), latent.scalar_type()), latent.narrow(1, 1, latent.size(1) - 1)}, 1);
}

at::Tensor mmdit_velocity(const ModelBundle& m, const MmditConditioning& c, const at::Tensor& latent, double t,
                          const ForwardOptions& opt, const std::vector<int>& hide_prompt_layers) {
  const int64_t B = c.states.size(0);
  HunyuanInputs in;
  in.x = latent.unsqueeze(0).expand({B, latent.size(0), latent.size(1), latent.size(2), latent.size(3)});
  in.t = at::full({B}, t, at::TensorOptions().dtype(at::kFloat));
  in.text_states = c.states;
  in.text_mask = c.mask;
  in.text_states_2 = c.pooled;
  if (m.mmdit->cfg.guidance_embed) in.guidance = at::full({B}, m.mmdit_guidance * 1000.0, at::TensorOptions().dtype(at::kFloat));
  HunyuanForwardOptions fo;
  fo.listener = opt.listener;
  fo.step = opt.step;
  fo.roles = opt.roles;
  fo.visual_rows_begin = 0;
  fo.visual_rows_count = c.image_rows;
  fo.hide_text_layers = hide_prompt_layers;
  fo.hide_text_begin = c.image_rows;  // the prompt's rows: after the image rows, to the end of the text
  fo.hide_text_end = c.states.size(1);
  at::Tensor v = m.mmdit->forward(in, fo).to(at::kFloat);
  return at::cat({at::zeros_like(v.narrow(2, 0, 1)), v.narrow(2, 1, v.size(2) - 1)}, 2);
}

}  // namespace focalscope
