// Stage "vae": the embedded model's Wan VAE (the WanVAE class, causal 3D conv, 8x spatial / 4x temporal),
// trained on Shapes clips with L1 + L2 reconstruction and a tiny KL on the posterior, on random spatial crops (the
// network is fully convolutional, so crops train the same weights the 64x64 inference path uses).
//
// Two phases, because this architecture learns slowly from scratch on a CPU (measured: 2000 steps of 9-frame
// clips left it at the "mean colour" stage, L1 0.10): first single frames (T = 1, the encoder's frame-0 path;
// ~9x cheaper per sample, so the spatial code — colours, shapes, edges — gets many more steps), then whole
// 13-frame clips (4 latent frames, as inference decodes them) for the temporal path. The init is upstream's
// except where it starves learning: He-normal conv weights, zero biases, zero-initialised last conv of every
// residual branch and attention projection (blocks start as identities), temporal convs initialised to pass the
// current frame through (upstream's Resample.init_weight idea), a near-deterministic posterior.
//
// Finalisation (<out>/vae/vae.safetensors): the loader scales latents with Wan's fixed per-channel constants
// (kWanLatentMean / kWanLatentStd), so the trained posterior mean is re-expressed, exactly, through conv1 / conv2,
// such that the normalised latent the DiT sees has zero mean and unit variance per channel on training clips.
#pragma once
#include <string>

#include "engine/train/shapes_data.h"
#include "engine/train/train_options.h"
#include "engine/vae/wan_vae.h"

namespace focalscope::train {

struct VaeTrainConfig {
  VaeConfig model;
  WorldSpec world;
  int crop = 32;            // square spatial crop in pixels (multiple of 8); 0 = whole frames
  int64_t image_steps = 4000;  // phase 1: single frames
  int image_batch = 16;
  double image_lr = 1e-3;
  int clip_frames = 13;     // phase 2: temporal window, 1 + 4k
  int batch = 2;            // phase 2 batch (--batch overrides it)
  int64_t steps = 10000;    // default total steps (both phases), also the schedule's length
  double lr = 5e-4;         // phase 2, decayed linearly to 10% over its last 30%
  int64_t warmup = 100;
  double l2_weight = 1.0;
  double kl_weight = 1e-5;
  int max_objects = 3;
  int64_t distinct_clips = 0;  // 0: every sample a fresh clip; N: cycle through N clips (micro trainings)
  int eval_clips = 12;    // whole clips for the final reconstruction report and the latent statistics

  static VaeTrainConfig embedded();  // the default model (dim 16, z 16, [1,2,4,4], 1 res block)
  static VaeTrainConfig tiny();      // tests: 48x48, 5 frames, dim 4
  nlohmann::json to_json() const;
};

StageResult train_vae(const StageOptions& opt, const VaeTrainConfig& cfg);

// <out>/vae/vae.safetensors
std::string vae_output_path(const std::string& out_dir);

// A VAE file this trainer wrote (its config travels in the "focalscope.vae_config" metadata), as float32.
WanVAE load_trained_vae(const std::string& path, c10::Device device);

// Re-expresses the raw posterior mean so that vae.normalize_latent(mu) has per-channel mean `mean` -> 0 and
// std `std` -> 1 (exact: conv1's mu rows and conv2's columns absorb the affine map). mean, std: [z_dim].
void fold_latent_statistics(WanVAE& vae, const at::Tensor& mean, const at::Tensor& std);

}  // namespace focalscope::train
