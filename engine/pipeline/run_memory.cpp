#include "engine/pipeline/run_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "engine/core/error.h"

namespace focalscope {

namespace {
std::string gb(double b) {
  char s[32];
  std::snprintf(s, sizeof s, "%.1f GB", b / 1e9);
  return s;
}
}  // namespace

std::string RunMemoryEstimate::summary() const {
  return "~" + gb(need()) + " (sampling " + gb(sampling_bytes) + ", VAE decode " + gb(decode_bytes) + ")";
}

RunMemoryEstimate estimate_run_memory(const RunMemoryInputs& in) {
  const double f = 4.0;  // float32
  const double L = double(in.tokens) * double(std::max<int64_t>(1, in.rows));
  RunMemoryEstimate e;
  const double score_tiles = std::min(64e6, double(in.tokens) * double(in.tokens) * f) * std::max(1, in.threads);
  e.sampling_bytes = L * (12.0 * double(in.dim) + 2.0 * double(in.ffn)) * f + score_tiles + 16.0 * double(in.latent_elems) * f;
  const double chunk_frames = std::min<int64_t>(4, std::max<int64_t>(1, in.frames));
  e.decode_bytes = 4.0 * double(in.vae_channels) * chunk_frames * double(in.height) * double(in.width) * f +
                   3.0 * double(in.frames) * double(in.height) * double(in.width) * f;
  return e;
}

double available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream ss(line.substr(13));
    double kb = 0;
    if (ss >> kb && kb > 0) return kb * 1024.0;
  }
  return double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGE_SIZE));
}

void check_run_memory(const RunMemoryEstimate& e, const std::string& what) {
  const double have = available_memory_bytes();
  if (e.need() > have)
    fail("run", "needs " + e.summary() + " beyond the loaded weights; this machine has " + gb(have) +
                    " available: lower " + what);
}

}  // namespace focalscope
