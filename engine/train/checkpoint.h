// Training checkpoints: one safetensors file per stage holding the parameters ("param.*"), the optimizer
// state ("adam.m.*", "adam.v.*"), the EMA weights ("ema.*") and, in the metadata, the step reached, the seed and
// the stage's configuration. The data streams need no saved RNG state: every random draw of step s is seeded
// from (seed, s) (see train_options.h), so step + seed are the whole random state.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/core/weights.h"
#include "engine/core/fixture.h"  // NamedTensors

namespace focalscope::train {

struct CheckpointData {
  int64_t step = 0;
  nlohmann::json meta;  // {"step", "seed", "stage", "config", ...}
  TensorSet tensors;
};

// Written atomically (temporary file + rename), so a kill mid-write leaves the previous checkpoint intact.
void write_checkpoint(const std::string& path, const NamedTensors& tensors, nlohmann::json meta);
// nullopt when the file does not exist; Error when it exists but is not a FocalScope training checkpoint.
std::optional<CheckpointData> read_checkpoint(const std::string& path);

// A checkpoint written inside (or at the end of) a learning-rate cool-down continues as the same run only with the
// same --steps and --lr-cooldown; anything else changes its rate from here on, which may be meant (training on after
// a finished cool-down) or not (a forgotten flag), so this says so on stderr. `meta` is the checkpoint's metadata.
void note_cooldown_change(const nlohmann::json& meta, int64_t start, int64_t target, int64_t lr_cooldown,
                          const std::string& ckpt_path, const std::string& tag);

// The tensors of `set` under `prefix`, prefix removed, as float16 (fp16) or float32: what an exporter writes from a
// checkpoint's "ema." / "param." entries.
NamedTensors take_prefixed(const TensorSet& set, const std::string& prefix, bool fp16);

// Adds "prefix + name" copies of the handles (no data copy) to out.
void append_prefixed(NamedTensors& out, const NamedTensors& src, const std::string& prefix);

}  // namespace focalscope::train
