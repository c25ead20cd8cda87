// Editing as a job (KV-Lock, docs/kv_lock.md): a source video, a mask of what to change, an edit prompt -> the edited
// video. The I2V reference is the source's first frame (or an edited first frame); with guidance off this is the
// plain edit: ordinary I2V generation from that reference and the edit prompt, same noise, no lock. KV-Lock, FSG and
// AC compose (generate_guided with the edit's inputs in the request).
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "engine/guidance/guided_generate.h"

namespace focalscope {

struct EditRequest {
  at::Tensor source_video;   // [3, F, H, W] in [-1, 1]; F >= the run's frames (the first ones are used)
  at::Tensor mask;           // [Fm, H, W] nonzero = edit here; Fm = 1 (the same mask for every frame) or >= the run's frames
  at::Tensor image;          // optional edited first frame [3, h, w]; undefined -> the source's frame 0
  std::string source_name = "source video", mask_name = "mask";  // for error messages (the files' paths)
  std::string source_prompt;  // what the source shows (the source pass's text); "" -> the edit prompt
  GenerateRequest gen;        // prompt, seed, steps, cfg, ... (gen.image and gen.kvlock are filled in here)
};

// Everything resolved before the run (so a caller can print the cost first).
struct EditJob {
  GenerateRequest gen;      // with the reference, the source and the mask at the run's size
  GuidanceConfig guidance;  // with the model's defaults
  RunParams params;
  KvLockCost cost;          // zero when the guidance has no lock
  double mask_fraction = 0; // of the run's pixels (all frames)
};

// Checks and resizes the inputs: mask size != source size, an empty mask, a mask covering every pixel, a source with
// fewer frames than the run -> Error naming the file (source_name / mask_name) and the problem.
EditJob prepare_edit(const ModelBundle& m, const EditRequest& req, const GuidanceConfig& guidance);

struct EditResult {
  GuidedResult guided;
  at::Tensor source;  // [3, F, H, W] the source at the run's size (what the background is compared with)
  at::Tensor mask;    // [F, H, W] the mask at the run's size
  std::vector<std::string> noops;  // switched-on parts that did nothing (guided.noops + the lock's own)
};
EditResult run_edit(const ModelBundle& m, const EditJob& job, const RunHooks& hooks = {});

// One line: the lock's per-step fusion ratios ("kv lock: alpha ... over the last K steps, mean A, source passes N").
std::string kvlock_summary(const GenerateResult& r);

}  // namespace focalscope
