// LoRAs for the Wan DiT, merged into the weights at load time in float32.
//
// Key formats (all found from the keys, any mix in one file):
//   kohya / musubi-tuner   lora_unet_<official name with '.' -> '_'>.lora_down.weight / .lora_up.weight / .alpha
//   ComfyUI                diffusion_model.<official name>.lora_down.weight / .lora_up.weight (or .lora_A / .lora_B)
//                          / .alpha; .diff (a full weight difference, e.g. norms) / .diff_b (a bias difference)
//   diffusers / PEFT       transformer.<diffusers name>.lora_A.weight / .lora_B.weight (+ .lora_B.bias, PEFT's
//                          lora_bias = a bias difference); Wan names with lora_A / lora_B under diffusion_model. too
//   also accepted: the prefixes model.diffusion_model., base_model.model., none; "_lora.up/down.weight" and
//   ".lora.up/down.weight" spellings (comfy/weight_adapter/lora.py LoRAAdapter.load).
// Merge (ComfyUI comfy/lora.py calculate_weight + weight_adapter/lora.py, in float32):
//   W' = W + float32(strength * alpha / rank) * (up @ down),  rank = down.shape[0], alpha absent -> alpha / rank = 1
//   W' = W + float32(strength) * diff;  b' = b + float32(strength) * diff_b
// up @ down is a float32 matmul of the flattened factors reshaped to W; the scaled product and the sum round once
// each. LoRAs apply in the order given, each to the result of the previous. Keys no DiT tensor matches are listed in
// the report (never dropped silently); a file none of whose keys matches is an error ("a LoRA for another model").
#pragma once
#include <string>
#include <vector>

#include "engine/core/weights.h"

namespace focalscope::formats {

struct LoraSpec {
  std::string path;
  double strength = 1.0;
  // Wan2.2 I2V-A14B: which expert it is for ("high" / "low": --lora-high / --lora-low; Wan2.2 LoRAs ship as such
  // pairs); "" = the one DiT of every other model.
  std::string expert;
};

struct LoraReport {
  std::string path;
  double strength = 1.0;
  std::string formats;                 // "kohya lora_unet_*", "ComfyUI diffusion_model.*", ... (those seen)
  int64_t patched = 0;                 // DiT tensors changed
  int64_t rank = 0;                    // largest rank seen
  std::vector<std::string> unmatched;  // LoRA keys with no DiT counterpart (or an unsupported adapter type)
  std::string summary() const;         // one line
};

// `dit`: official Wan names (what load_wan_dit_weights returns). Patched tensors become float32 (the loader casts
// them to the run dtype once). Throws Error "<file>: tensor '<key>': ..." on a factor whose shape does not fit the
// weight, a down without its up, a non-scalar alpha, or a file that matches nothing.
std::vector<LoraReport> apply_loras(TensorSet& dit, const std::vector<LoraSpec>& loras);

}  // namespace focalscope::formats
