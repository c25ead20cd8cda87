// A trained Wan I2V model as the teacher of another model trained on the same latents (stage "mmdit" with
// --teacher): its velocity for the same noisy clip, prompt and reference image, conditioned exactly as its own
// training and the I2V pipeline condition it (y = [i2v mask, image latent], clip_fea, umT5 context with padding
// rows zeroed). Why: the flow-matching target eps - x0 is one draw around E[v | x_sigma, text, image]; the teacher's
// velocity is an estimate of that mean, so the student's gradient loses most of the target's noise and a CPU
// budget goes further (knowledge distillation; the student inherits the teacher's output behaviour, not its layers).
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/pipeline/model_bundle.h"

namespace focalscope::train {

class WanTeacher {
 public:
  // Loads the model folder `dir` (a Wan model, not an MMDiT) and checks that its tokenizer, CLIP and VAE encoder are
  // the very files of training directory `train_dir` (the student's latents and text ids must be the teacher's).
  static WanTeacher load(const std::string& dir, const std::string& train_dir, c10::Device device);

  // x_sigma [B, z, F, h, w] (every frame noisy, as Wan is trained), sigma [B], image_latent [B, z, F, h, w]
  // (VAE([reference, zeros])), reference [B, 3, H, W] in [-1, 1], prompts B strings -> velocity [B, z, F, h, w].
  at::Tensor velocity(const at::Tensor& x_sigma, const at::Tensor& sigma, const at::Tensor& image_latent,
                      const at::Tensor& reference, const std::vector<std::string>& prompts) const;

  // Provenance for the checkpoint and the exported manifest: the folder's name, its step and its DiT's fingerprint.
  nlohmann::json describe() const;

 private:
  std::shared_ptr<ModelBundle> bundle_;
  std::string dir_, dit_fingerprint_;
};

// Training-directory files vs a shipped model folder's: Error naming `shipped` unless both are the same file
// (by content), or, for a VAE, unless every encoder tensor is equal (a shipped VAE may carry a refined decoder).
void require_same_file(const std::string& trained, const std::string& shipped);
void require_same_vae_encoder(const std::string& trained, const std::string& shipped);

}  // namespace focalscope::train
