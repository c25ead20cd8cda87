#include "engine/train/train_options.h"

#include <ATen/Parallel.h>

#include <filesystem>

#include "engine/core/error.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/shapes/shapes_world.h"

namespace focalscope::train {

void require_stage_output(const std::string& path, const char* stage) {
  if (!std::filesystem::exists(path))
    fail(path, std::string("missing: run `focalscope train --stage ") + stage + "` into this --out directory first");
}

uint64_t stream_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  shapes::SplitMix64 r(shapes::mix_seed(seed, stream) ^ (index * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL));
  r.next();
  return r.next();
}

uint64_t world_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  return stream_seed(seed, stream, index) % shapes::kTrainSeedLimit;
}

}  // namespace focalscope::train
