// The Shapes world's own PRNG (SplitMix64). std::*_distribution is implementation-defined, so the
// world would differ between standard libraries; this generator and its helpers are bit-exact everywhere.
#pragma once
#include <cstdint>
#include <vector>

namespace focalscope::shapes {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) from the top 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi] (inclusive); the modulo bias is negligible for the small ranges used here.
  int range(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }
  bool chance(double p) { return uniform() < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[static_cast<size_t>(range(0, static_cast<int>(v.size()) - 1))]; }

 private:
  uint64_t state_;
};

// Mixes a seed with a stream tag so different uses of one seed (case layout, prompt wording, noise) are independent.
inline uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  SplitMix64 r(seed ^ (stream * 0xD1B54A32D192ED03ULL));
  return r.next();
}

}  // namespace focalscope::shapes
