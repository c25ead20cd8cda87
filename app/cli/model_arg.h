// --model-dir handling shared by the commands: a given folder, else the embedded default model.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/pipeline/model_bundle.h"

namespace focalscope::cli {

class Args;

// Empty dir -> the embedded default (assets/models/shapes); a clear Error when neither is usable.
std::unique_ptr<ModelBundle> load_model_arg(const std::string& dir, const LoadOptions& opt = {});
std::string resolve_model_dir(const std::string& dir);

// Issue 27: the model in any layout users have (engine/formats), for generate / info.
//   --model-dir DIR            official release, FocalScope folder, diffusers pipeline folder, ComfyUI models folder
//   --dit F --t5 F --clip F --vae F [--tokenizer spiece.model]   explicit single files (each checked by content)
//   --dit-heads N              the DiT's head count when no config says it (default: dim / 128)
//   --lora F [--lora-strength S]   repeatable; S applies to the LoRA right before it (default 1)
struct ModelArgs {
  std::string model_dir, dit, t5, clip, vae, tokenizer;
  std::string clip_tokenizer;  // --clip-tokenizer: XLM-R's sentencepiece.bpe.model for the CLIP text tower (Eq. 6)
  std::string dit_high, dit_low;  // Wan2.2 I2V-A14B experts as single files / folders
  int dit_heads = 0;
  std::vector<formats::LoraSpec> loras;
  bool keep_quantised = false;  // --keep-quantised (a flag: commands that support it declare it)
  bool explicit_files() const { return !t5.empty() || !clip.empty() || !vae.empty() || !dit_high.empty() || !dit_low.empty(); }
};
extern const char* kModelArgsUsage;
// "model-dir", "dit", "dit-high", "dit-low", "t5", "clip", "clip-tokenizer", "vae", "tokenizer", "dit-heads" (value options for Args).
const std::set<std::string>& model_value_options();
// Removes every "--lora FILE [--lora-strength S]" from argv (Args keeps one value per flag) and returns them in order.
std::vector<formats::LoraSpec> take_lora_args(std::vector<std::string>& argv);
ModelArgs model_args_from(const Args& a, std::vector<formats::LoraSpec> loras);
// The layout the flags name: explicit files, else --model-dir, else the embedded default.
ModelLayout resolve_model_layout(const ModelArgs& m);
std::unique_ptr<ModelBundle> load_model_arg(const ModelArgs& m, LoadOptions opt = {});

}  // namespace focalscope::cli
