// What every training stage (vae, clip, dit) is told by `focalscope train`, and what it reports back.
//
// Budgets: `steps` is the TOTAL step count the stage trains to (a resumed run continues from its checkpoint's
// step up to it), so `--steps N` names the same model however many sessions it took. `minutes` stops earlier
// on wall time (checkpointing first); with neither, the stage's own default step count applies. Learning-rate
// schedules follow the stage config's own step count, never where a run stops, so stopping anywhere and resuming
// is the same run as going straight through.
//
// Determinism: every random draw of step s (which clips, crops, noise, timesteps, text dropout) comes from a
// generator seeded with stream_seed(seed, stage, s), so a run is a function of (seed, step, thread count) and a
// resumed run continues exactly where an uninterrupted one would be.
#pragma once
#include <c10/core/Device.h>

#include "engine/core/blas_check.h"

#include <cstdint>
#include <string>
#include <vector>

namespace focalscope::train {

struct StageOptions {
  std::string out_dir;           // the training directory; each stage writes <out_dir>/<stage>/
  int64_t steps = 0;             // total steps to reach (0: stage default)
  double minutes = 0;            // wall-time budget for this invocation (0: none)
  int batch = 0;                 // 0: stage default
  uint64_t seed = 1;
  bool resume = false;           // continue from <out_dir>/<stage>/checkpoint.safetensors when present
  double checkpoint_minutes = 5; // checkpoint cadence
  int64_t lr_cooldown = 0;       // DiT only: the learning rate falls linearly to 0 over the last N steps before
                                 // `steps` (0: constant after warm-up). Tied to `steps`, not to where a run stops.
  int log_every = 10;            // CSV row every N steps (the progress line updates every step)
  bool quiet = false;            // no progress line (tests)
  c10::Device device = c10::Device(c10::kCPU);
};

struct StageResult {
  int64_t first_step = 0;        // step the run started from (0, or the checkpoint's)
  int64_t steps_done = 0;        // step reached
  std::vector<double> losses;    // total loss of every step run in this invocation
  double seconds = 0;
  double samples_per_s = 0;
  std::string summary;           // one line of stage-specific evaluation (reconstruction error, grounding hit rate, ...)
};

// Error "<path>: missing: run `focalscope train --stage <stage>` into this --out directory first" unless it exists:
// a stage's check that the stages it builds on ran.
void require_stage_output(const std::string& path, const char* stage);

// SplitMix-style mixing of (seed, stream, index) into one 64-bit seed; streams keep uses of one seed independent.
uint64_t stream_seed(uint64_t seed, uint64_t stream, uint64_t index);

// Stream tags (fixed forever: changing one changes every trained model).
enum Stream : uint64_t {
  kStreamVaeClips = 0x5641451, kStreamVaeStep, kStreamVaeEval,
  kStreamClipImages = 0x434c4901, kStreamClipStep, kStreamClipEval,
  kStreamDitPool = 0x44695401, kStreamDitStep, kStreamInit, kStreamCheck, kStreamTokenizer,
  kStreamFinetuneStep = 0x46540001, kStreamFinetuneNoise,
  kStreamVaeDecoderClips = 0x56444301, kStreamVaeDecoderStep,
  kStreamMmditStep = 0x4d4d4401, kStreamMmditInit,
};

// A seed of the Shapes world's training range [0, kTrainSeedLimit) for record `index` of `stream`.
uint64_t world_seed(uint64_t seed, uint64_t stream, uint64_t index);

using ::focalscope::set_compute_threads;  // engine/core/blas_check.h

}  // namespace focalscope::train
