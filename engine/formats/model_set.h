// A whole Wan2.1 I2V set (DiT + umT5 + CLIP vision + VAE + tokenizer) found from content in the folders users have:
//   * a diffusers pipeline root: model_index.json, transformer/, text_encoder/, image_encoder/, vae/, tokenizer/;
//   * a ComfyUI models folder (diffusion_models/, text_encoders/, clip_vision/, vae/) or any folder tree: every
//     safetensors / GGUF file (or shard index) is classified by its tensor names (component_weights.h), never by its
//     file or folder name;
//   * explicit files (--dit FILE --t5 FILE --clip FILE --vae FILE [--tokenizer spiece.model]).
// The DiT's config comes from its tensors (dit_probe.h); heads are not stored in any tensor: --dit-heads N, else
// diffusers' transformer/config.json num_attention_heads, else Wan's head_dim 128 (dim / 128).
#pragma once
#include <string>
#include <vector>

#include "engine/models/wan/wan_config.h"
#include "engine/formats/dit_probe.h"

namespace focalscope::formats {

struct ModelSet {
  std::string dir;     // the folder given ("" for explicit files)
  std::string layout;  // "diffusers" | "folder (by content)" | "files"
  std::string dit, t5, clip, vae, tokenizer;  // resolved paths (file, shard index or folder)
  std::string dit_config;  // diffusers transformer/config.json when present
  std::vector<std::string> reasons;  // how each was found
};

// Throws Error naming the folder and every component it could not find (or found twice) when the set is incomplete.
ModelSet detect_model_set(const std::string& dir);

// Issue 27 item 7: a Wan2.2 I2V-A14B release folder (Wan-AI/Wan2.2-I2V-A14B, wan/configs/wan_i2v_A14B.py):
//   high_noise_model/ and low_noise_model/  each a DiT (config.json + diffusion_pytorch_model*.safetensors [+ index]),
//                                           i2v with in_dim 36 and no img_emb (checked from the tensors, not the names)
//   models_t5_umt5-xxl-enc-bf16.pth, Wan2.1_VAE.pth, google/umt5-xxl/spiece.model   shared umT5 / VAE / tokenizer
//   (no CLIP: the A14B experts have no image branch). The two sub-folder names say which expert is which (upstream's
//   low_noise_checkpoint / high_noise_checkpoint); weights alone cannot. The umT5 / VAE are also found by content
//   among the folder's other safetensors files.
struct Wan22Set {
  bool found = false;  // the folder has high_noise_model/ and low_noise_model/ sub-folders
  std::string dit_high, dit_low;                 // the expert folders (DiT units)
  std::string dit_high_config, dit_low_config;   // their config.json ("" when absent)
  std::string t5, vae, tokenizer;
  std::vector<std::string> reasons;
};
// found = false when the sub-folders are absent; Error when they are there but do not hold two A14B I2V experts or
// a shared component is missing.
Wan22Set detect_wan22_set(const std::string& dir);
// The two experts as single files or folders (e.g. ComfyUI's wan2.2_i2v_{high,low}_noise_14B_*.safetensors, or
// QuantStack's HighNoise / LowNoise GGUFs): which is which cannot be read off their content, so the flags say it.
// Each must be an A14B I2V expert, both of one shape; umT5 / VAE / tokenizer as for model_set_from_files.
Wan22Set wan22_set_from_files(const std::string& high, const std::string& low, const std::string& t5, const std::string& vae,
                              const std::string& tokenizer);

// Explicit files; `tokenizer` empty -> a spiece.model beside (or one folder above) the umT5 file. Each file is checked
// to hold the component its flag names.
ModelSet model_set_from_files(const std::string& dit, const std::string& t5, const std::string& clip, const std::string& vae,
                              const std::string& tokenizer);

// The DiT hyper-parameters read off a probe; `heads` > 0 overrides, else `diffusers_config` (num_attention_heads), else
// dim / 128. Throws Error naming `where` when the heads cannot be known or the variant is not Wan2.1 I2V / T2V.
// (Header-only use of WanConfig: the caller validates it; engine_formats does not link the models.)
WanConfig wan_config_from_probe(const DitProbe& p, int heads, const std::string& diffusers_config, const std::string& where);

}  // namespace focalscope::formats
