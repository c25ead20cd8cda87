#include "engine/train/wan_teacher.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/models/wan/conditioning.h"
#include "engine/text/tokenizer.h"
#include "engine/train/clip_stage.h"
#include "engine/train/dit_stage.h"
#include "engine/train/latent_pool.h"
#include "engine/train/vae_stage.h"

namespace focalscope::train {

void require_same_file(const std::string& trained, const std::string& shipped) {
  if (file_fingerprint(trained) != file_fingerprint(shipped))
    fail(shipped, "differs from " + trained + ", which this training directory uses: the model must come from the same training directory");
}

void require_same_vae_encoder(const std::string& trained, const std::string& shipped) {
  const TensorSet a = load_tensor_file(trained), b = load_tensor_file(shipped);
  for (const auto& n : a.names()) {
    if (n.rfind("encoder.", 0) != 0 && n.rfind("conv1.", 0) != 0) continue;
    if (!b.has(n) || !at::equal(a.get(n), b.get(n)))
      fail(shipped, "its VAE encoder tensor '" + n + "' differs from " + trained + ", whose latents this training uses");
  }
}

WanTeacher WanTeacher::load(const std::string& dir, const std::string& train_dir, c10::Device device) {
  LoadOptions lo;
  lo.device = device;
  WanTeacher t;
  t.dir_ = dir;
  t.bundle_ = load_model_bundle(dir, lo);
  const ModelBundle& b = *t.bundle_;
  if (b.is_mmdit() || b.two_experts()) fail(dir, "--teacher: needs a one-DiT Wan I2V model (this is " + b.layout.variant + ")");
  if (!b.has_clip) fail(dir, "--teacher: the model has no CLIP image encoder");
  require_same_file(tokenizer_output_path(train_dir), b.layout.tokenizer);
  require_same_file(clip_output_path(train_dir), b.layout.clip_weights);
  require_same_vae_encoder(vae_output_path(train_dir), b.layout.vae_weights);
  t.dit_fingerprint_ = file_fingerprint(b.layout.dit_weights);
  return t;
}

at::Tensor WanTeacher::velocity(const at::Tensor& x_sigma, const at::Tensor& sigma, const at::Tensor& image_latent,
                                const at::Tensor& reference, const std::vector<std::string>& prompts) const {
  at::NoGradGuard ng;  // a float32 CPU model runs its fused kernels without autograd
  const ModelBundle& b = *bundle_;
  const int64_t B = x_sigma.size(0), F = x_sigma.size(2), H = x_sigma.size(3), W = x_sigma.size(4);
  const at::Tensor mask = i2v_mask(F, H, W).to(x_sigma.device());
  DitInputs in;
  in.x = x_sigma;
  in.t = sigma.to(at::kDouble) * 1000.0;
  in.y = at::cat({mask.unsqueeze(0).expand({B, mask.size(0), F, H, W}), image_latent}, 1);
  in.clip_fea = b.clip_blocks > 0 ? b.clip.forward(b.clip.preprocess(reference), b.clip_blocks) : b.clip.clip_fea(reference);
  auto [ids, tmask] = b.tokenizer->encode_batch(prompts, b.text_len);
  ids = ids.to(x_sigma.device());
  tmask = tmask.to(x_sigma.device());
  in.context = b.t5.forward(ids, tmask) * tmask.unsqueeze(-1).to(at::kFloat);
  return b.dit.forward(in);
}

nlohmann::json WanTeacher::describe() const {
  return {{"dir", std::filesystem::path(dir_).filename().string()},
          {"name", bundle_->layout.manifest.value("name", std::string())},
          {"dit_step", bundle_->layout.manifest.contains("training") ? bundle_->layout.manifest["training"].value("dit_step", -1) : -1},
          {"dit_fingerprint", dit_fingerprint_}};
}

}  // namespace focalscope::train
