#include "engine/train/train_options.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include "engine/shapes/shapes_rng.h"
#include "engine/shapes/shapes_world.h"

namespace focalscope::train {

uint64_t stream_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  shapes::SplitMix64 r(shapes::mix_seed(seed, stream) ^ (index * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL));
  r.next();
  return r.next();
}

uint64_t world_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  return stream_seed(seed, stream, index) % shapes::kTrainSeedLimit;
}

void set_compute_threads(int n) {
  if (n <= 0) return;
  at::set_num_threads(n);
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(n);
}

}  // namespace focalscope::train
