// Stage "vae-decoder": refines the decoder (conv2 + decoder.*) of a finished VAE with its encoder frozen.
//
// Why: measured with `focalscope bench` (the "VAE ceiling" row = ground-truth videos through the model's VAE),
// the first VAE turned ~40% of the benchmark's small diamonds, squares and triangles (7-12 px across, about one
// latent cell) into round blobs, so the strict checker failed even the ground truth. The background is most of
// every frame, so a plain per-pixel loss spends the decoder on gradients and noise; this stage weights the pixels
// of objects (found by rendering the same clip with every object hidden) and decodes exactly the inference path
// (normalised latent -> decode) from the frozen encoder's latents plus a little noise (the DiT's latents are
// never exact). The encoder is untouched, so the latents the DiT was trained on stay valid: the refined decoder
// can be swapped into a model without retraining anything else.
//
// Input <out>/vae/vae.safetensors; output <out>/vae_decoder/vae.safetensors (a whole VAE file, encoder bytes
// identical, metadata focalscope.base_vae = the base file's fingerprint and focalscope.vae_decoder_step); the
// exporter ships it in place of the first when it exists and belongs to the same base VAE.
#pragma once
#include <string>

#include "engine/train/shapes_data.h"
#include "engine/train/train_options.h"

namespace focalscope::train {

struct VaeDecoderTrainConfig {
  WorldSpec world;
  int clip_frames = 13;        // whole clips, 1 + 4k frames (the chunked temporal path inference uses)
  int batch = 2;
  int64_t steps = 4000;
  double lr = 2e-4;            // linearly decayed to 10% over the last 30%
  int64_t warmup = 50;
  double object_weight = 20;   // extra loss weight on object pixels (dilated by one pixel, so edges count)
  double latent_noise = 0.05;  // std of Gaussian noise added to the normalised latent during training
  double l2_weight = 1.0;
  int max_objects = 3;
  int64_t distinct_clips = 0;  // 0: every sample a fresh clip; N: cycle through N clips (micro trainings)
  int eval_clips = 12;

  static VaeDecoderTrainConfig embedded();
  static VaeDecoderTrainConfig tiny();  // tests: 48x48, 5 frames
  nlohmann::json to_json() const;
};

StageResult train_vae_decoder(const StageOptions& opt, const VaeDecoderTrainConfig& cfg);

// <out>/vae_decoder/vae.safetensors
std::string vae_decoder_output_path(const std::string& out_dir);
// The refined VAE to ship when it exists and was refined from the current <out>/vae/vae.safetensors, else "".
// A refinement of an older base VAE is an Error naming both files (it would pair the DiT with the wrong encoder).
std::string refined_vae_for_export(const std::string& out_dir);

}  // namespace focalscope::train
