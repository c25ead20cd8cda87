// The HunyuanVideo-I2V release as shipped (ARCHITECTURE.md §1): which files a folder holds, what the DiT's sizes are
// (the release ships no DiT config: they are read off the weights), and the checkpoint wrappers.
//
//   ckpts/hunyuan-video-i2v-720p/transformers/mp_rank_00_model_states.pt   torch pickle, {"module": state dict} (or
//                                                                          "ema", --load-key); an optional
//                                                                          transformers/config.json (FocalScope's
//                                                                          extension) gives sizes the weights cannot
//   ckpts/hunyuan-video-i2v-720p/vae/{config.json, pytorch_model.pt}      the .pt maybe {"state_dict": ...}, keys
//                                                                          maybe "vae."-prefixed (load_vae)
//   ckpts/text_encoder_i2v/   LLaVA-Llama-3-8B (transformers folder)      recognised here, loaded with the text encoders
//   ckpts/text_encoder_2/     CLIP-L (transformers folder)
// The folder given may be ckpts/ or hunyuan-video-i2v-720p/ (the text encoders are then looked for beside it).
#pragma once
#include <string>
#include <vector>

#include "engine/core/weights.h"
#include "engine/models/hunyuan/hunyuan_config.h"

namespace focalscope {

struct HunyuanRelease {
  std::string root;              // the folder holding transformers/ and vae/
  std::string dit;               // transformers/mp_rank_00_model_states.pt
  std::string dit_config;        // transformers/config.json, "" when absent
  std::string vae_config, vae_weights;
  std::string text_encoder_i2v;  // folder, "" when absent
  std::string text_encoder_2;    // folder, "" when absent
};

// True when `dir` (or its hunyuan-video-i2v-* sub-folder) has transformers/mp_rank_00_model_states.pt.
bool is_hunyuan_release(const std::string& dir);
// The release's files; throws Error naming the missing file or folder.
HunyuanRelease find_hunyuan_release(const std::string& dir);

// The DiT's state dict: `entry` "module" (the release's default) or "ema". Errors name the file.
TensorSet load_hunyuan_release_dit(const HunyuanRelease& r, const std::string& entry = "module");
// The VAE's state dict with load_vae's rules: a {"state_dict": ...} wrapper unwrapped, "vae." keys stripped.
TensorSet load_hunyuan_release_vae(const HunyuanRelease& r);

// DiT sizes from its weights (hidden size, in/out channels, patch, block counts, head dim from the QK-norm weights,
// MLP ratio, qkv bias, guidance embedding, text widths); the RoPE split, which no tensor holds, from `config_json`
// when given, else the release's [16, 56, 56] (head dim 128 only: another head dim needs config.json). Errors name
// `where` and the tensor.
HunyuanConfig hunyuan_config_from_weights(const TensorSet& w, const std::string& where, const std::string& config_json = "");

// Human-readable variant, e.g. "HunyuanVideo-I2V 720p (token_replace, guidance-embedded, 20 double + 40 single
// blocks)".
std::string hunyuan_variant(const HunyuanConfig& c, const HunyuanRelease& r);

}  // namespace focalscope
