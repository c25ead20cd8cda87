// Stage "dit": the Wan DiT (WanModel, i2v) and its text encoder (UMT5Encoder) trained jointly with Wan's
// flow-matching objective, conditioned exactly as the I2V pipeline conditions them at inference:
//   x_sigma = (1 - sigma) x0 + sigma eps,  target v = eps - x0,  model timestep t = 1000 sigma,
//   y = [i2v mask, VAE([ref, zeros...])],  clip_fea = CLIP blocks[:n] of the reference,  context = umT5(prompt)
// with padding rows zeroed. sigma mixes uniform and logit-normal draws and is shifted (shift 3) like the
// inference schedule, so the last, detail-forming steps are trained too. The prompt is dropped (-> "", i.e. just
// EOS: what CFG's unconditional pass sees) 10% of the time. The loss is weighted toward latent cells that change
// relative to the reference frame (motion lives there; the static background dominates an unweighted loss).
// VAE and CLIP are frozen (stages "vae" and "clip"). The exported weights are the EMA of the trained ones.
#pragma once
#include <string>

#include "engine/models/wan/wan_config.h"
#include "engine/text/umt5.h"
#include "engine/train/shapes_data.h"
#include "engine/train/train_options.h"

namespace focalscope::train {

struct DitTrainConfig {
  WanConfig dit;
  UMT5Config t5;           // t5.vocab is set from the tokenizer
  WorldSpec world;
  int batch = 8;
  int64_t steps = 60000;
  double lr = 2e-4;
  int64_t warmup = 500;
  double weight_decay = 0.01;
  double ema_decay = 0.999;
  double shift = 3.0;
  double uniform_share = 0.5;   // share of sigma draws from U(0,1); the rest logit-normal(0,1)
  double text_dropout = 0.1;
  double change_weight = 4.0;   // w = 1 + change_weight * tanh(change / change_scale) per latent cell, where change is
  double change_scale = 0.1;    // the cell's pixel change vs the reference frame (PoolRecord::change, [-1,1] units)
  // Pool of encoded clips: starts with pool_initial, grows by pool_rate clips per step up to pool_max.
  int64_t pool_initial = 256;
  double pool_rate = 0.5;
  int64_t pool_max = 40000;
  int pool_chunk = 8;
  // Curriculum by pool record: one object (plus the partner interactions need) below single_until, at most two
  // below double_until, then up to three.
  int64_t single_until = 800, double_until = 2000;
  int clip_blocks = -1;         // CLIP blocks run for clip_fea (-1: all but the last, as Wan)

  static DitTrainConfig embedded();
  static DitTrainConfig tiny();
  nlohmann::json to_json() const;
};

// Needs <out>/tokenizer/spiece.model, <out>/vae/vae.safetensors, <out>/clip/clip.safetensors.
StageResult train_dit(const StageOptions& opt, DitTrainConfig cfg);

std::string dit_checkpoint_path(const std::string& out_dir);  // <out>/dit/checkpoint.safetensors
std::string tokenizer_output_path(const std::string& out_dir);  // <out>/tokenizer/spiece.model

}  // namespace focalscope::train
