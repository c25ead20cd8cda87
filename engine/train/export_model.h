// Writes a FocalScope model folder (the format engine/pipeline/model_bundle.h loads) from a training
// directory: focalscope.json + dit.safetensors (EMA weights, fp16 on disk to fit the 30 MB asset budget; the
// loader converts) + umt5.safetensors + clip.safetensors ("visual.*" for the DiT, "textual.*" for Focal
// Guidance) + vae.safetensors + spiece.model. The folder is loaded back before returning, so an export that the
// engine cannot read never leaves this function without an Error.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "engine/pipeline/model_bundle.h"

namespace focalscope::train {

struct ExportOptions {
  std::string train_dir;                 // --out of `focalscope train`
  std::string model_dir;                 // e.g. assets/models/shapes
  std::string name = "shapes-i2v-toy";
  nlohmann::json provenance = nlohmann::json::object();  // command, seed, machine, wall time ... (manifest "training")
  bool dit_fp16 = true;
  bool use_ema = true;
};

// The embedded model's sampling defaults: UniPC, 25 steps, shift 3, CFG 2.5, 13 frames at 64x64, 8 fps,
// empty negative prompt (the unconditional pass = the dropped-prompt training condition).
SamplingDefaults embedded_sampling_defaults();

nlohmann::json export_model(const ExportOptions& opt);

// The manifest's "training" entry: opt.provenance + the checkpoint's step, seed, EMA or raw weights, its cool-down and
// the world it was trained on.
struct CheckpointData;
nlohmann::json export_provenance(const ExportOptions& opt, const CheckpointData& ck);

// The embedded MMDiT's folder (engine/train/export_mmdit.cpp) from <train_dir>/mmdit/checkpoint.safetensors: its DiT
// and TinyMllm, plus references to the tokenizer, CLIP and VAE of the exported Wan toy in `base_dir` (a sibling of
// model_dir), which must be the files the MMDiT was trained with. opt.name: e.g. "shapes-mmdit-toy".
nlohmann::json export_mmdit_model(const ExportOptions& opt, const std::string& base_dir);

}  // namespace focalscope::train
