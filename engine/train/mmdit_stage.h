// Stage "mmdit": the embedded MMDiT model (assets/models/shapes-mmdit) — a HunyuanVideo-I2V DiT at toy size
// (token refiner, double- then single-stream blocks, token_replace) and its LLaVA-style text encoder (TinyMllm:
// projector over the frozen toy CLIP's patch tokens + a Llama decoder) trained jointly on the Shapes world, with the
// same latent pool, flow-matching objective, loss weighting and curriculum as the Wan model's stage "dit", so the two
// architectures are compared on equal data:
//   x_sigma = (1 - sigma) x0 + sigma eps, frame 0 replaced by the clean image latent (token_replace, as the sampler
//   does at every step), target v = eps - x0 on frames 1.. (frame 0 is never predicted), t = 1000 sigma,
//   text = TinyMllm([reference image rows; prompt]), pooled = the toy CLIP text tower's EOS token.
// Guidance embedding: the DiT keeps guidance_in (the release's architecture) but is fed one fixed value in training
// (`guidance_value` x 1000) and at sampling, where real classifier-free guidance runs (cfg > 1): a distilled guidance
// would need a CFG teacher the toy does not have. The prompt is dropped to "" 10% of the time (the reference image's
// rows stay): the unconditional pass of CFG.
// Teacher (optional, `--teacher DIR`, engine/train/wan_teacher.h): a trained Wan model of the same training directory;
// the target becomes teacher_share x its velocity + (1 - teacher_share) x (eps - x0), on the same noisy frames,
// prompt (dropped alike) and reference image. The checkpoint and the exported manifest name the teacher.
// Frozen: the Wan toy's VAE (same 4x8x8 compression, z 16: referenced, not copied), CLIP and tokenizer.
#pragma once
#include <string>

#include "engine/models/hunyuan/hunyuan_config.h"
#include "engine/models/hunyuan/text/tiny_mllm.h"
#include "engine/train/shapes_data.h"
#include "engine/train/train_options.h"

namespace focalscope::train {

struct MmditTrainConfig {
  HunyuanConfig dit;
  TinyMllmConfig mllm;     // mllm.llama.vocab_size is set from the tokenizer
  WorldSpec world;
  int batch = 32;
  int64_t steps = 8000;
  double lr = 3e-4;
  int64_t warmup = 100;  // 300 before the teacher: on the 2-core CPU those steps were a third of a session
  double weight_decay = 0.01;
  double ema_decay = 0.998;
  double shift = 3.0;
  double uniform_share = 0.5;
  double text_dropout = 0.1;
  double change_weight = 4.0;
  double change_scale = 0.1;
  double guidance_value = 1.0;  // fed to guidance_in as value * 1000, in training and at sampling
  std::string teacher_dir;      // a Wan model folder to distil from (empty: plain flow matching)
  double teacher_share = 1.0;   // weight of the teacher's velocity in the target (used with teacher_dir only)
  // Pool and curriculum: the Wan stage's values, so both models see the same clips (the records are the same).
  int64_t pool_initial = 256;
  double pool_rate = 0.5;
  int64_t pool_max = 40000;
  int pool_chunk = 8;
  int64_t single_until = 800, double_until = 2000;

  static MmditTrainConfig embedded();
  static MmditTrainConfig tiny();  // tests
  nlohmann::json to_json() const;
};

// Needs <out>/tokenizer/spiece.model, <out>/vae/vae.safetensors, <out>/clip/clip.safetensors (the Wan stages').
StageResult train_mmdit(const StageOptions& opt, MmditTrainConfig cfg);

std::string mmdit_checkpoint_path(const std::string& out_dir);  // <out>/mmdit/checkpoint.safetensors

}  // namespace focalscope::train
