#include "analysis/map_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "analysis/analysis_error.h"

namespace focalscope::analysis {
namespace {

// Checks the shape and values once, so the statistics below can assume a finite H x W map.
template <class T>
std::int64_t checked_size(const char* where, const T* map, std::int64_t height, std::int64_t width) {
  if (height < 0 || width < 0)
    raise(where, "negative map shape [" + std::to_string(height) + ", " + std::to_string(width) + "]");
  if (width != 0 && height > std::numeric_limits<std::int64_t>::max() / width)
    raise(where, "map shape overflows");
  const std::int64_t n = height * width;
  if (n > 0 && map == nullptr) raise(where, "null map pointer");
  for (std::int64_t i = 0; i < n; ++i)
    if (!std::isfinite(static_cast<double>(map[i])))
      raise(where, "non-finite value at index " + std::to_string(i));
  return n;
}

struct MoranPair {
  double binary = 0, row_standardised = 0;
};

// Both Moran variants in one O(8N) pass over the 3x3 neighbourhoods: for each cell, s_i = sum of
// z over its queen neighbours, then sum_ij w_ij z_i z_j = sum_i z_i s_i ('B') or sum_i z_i s_i / k_i ('r').
template <class T>
MoranPair morans_both(const char* where, const T* map, std::int64_t h, std::int64_t w) {
  const std::int64_t n = checked_size(where, map, h, w);
  if (n < 2) return {};
  // Two-pass mean in double: maps with a large offset (e.g. 1e4 + small signal) keep their precision.
  double mean = 0;
  for (std::int64_t i = 0; i < n; ++i) mean += static_cast<double>(map[i]);
  mean /= static_cast<double>(n);
  std::vector<double> z(static_cast<std::size_t>(n));
  double ss = 0;
  bool constant = true;
  for (std::int64_t i = 0; i < n; ++i) {
    z[i] = static_cast<double>(map[i]) - mean;
    ss += z[i] * z[i];
    if (map[i] != map[0]) constant = false;
  }
  if (constant || ss == 0) return {};

  double cross_b = 0, cross_r = 0, s0_b = 0, s0_r = 0;
  for (std::int64_t r = 0; r < h; ++r) {
    const std::int64_t r0 = std::max<std::int64_t>(r - 1, 0), r1 = std::min<std::int64_t>(r + 1, h - 1);
    for (std::int64_t c = 0; c < w; ++c) {
      const std::int64_t c0 = std::max<std::int64_t>(c - 1, 0), c1 = std::min<std::int64_t>(c + 1, w - 1);
      const std::int64_t k = (r1 - r0 + 1) * (c1 - c0 + 1) - 1;  // neighbour count
      if (k == 0) continue;                                       // island (only on a 1x1 grid)
      double s = 0;
      for (std::int64_t rr = r0; rr <= r1; ++rr)
        for (std::int64_t cc = c0; cc <= c1; ++cc)
          if (rr != r || cc != c) s += z[rr * w + cc];
      const double zi = z[r * w + c];
      cross_b += zi * s;
      cross_r += zi * s / static_cast<double>(k);
      s0_b += static_cast<double>(k);
      s0_r += 1.0;
    }
  }
  if (s0_b == 0) return {};
  const double nn = static_cast<double>(n);
  return {nn / s0_b * cross_b / ss, nn / s0_r * cross_r / ss};
}

template <class T>
double std_minmax_impl(const T* map, std::int64_t h, std::int64_t w) {
  const std::int64_t n = checked_size("std_minmax", map, h, w);
  if (n < 2) return 0;
  const auto [lo_it, hi_it] = std::minmax_element(map, map + n);
  const double lo = static_cast<double>(*lo_it), range = static_cast<double>(*hi_it) - lo;
  if (!(range > 0)) return 0;
  double mean = 0;
  for (std::int64_t i = 0; i < n; ++i) mean += (static_cast<double>(map[i]) - lo) / range;
  mean /= static_cast<double>(n);
  double var = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double d = (static_cast<double>(map[i]) - lo) / range - mean;
    var += d * d;
  }
  return std::sqrt(var / static_cast<double>(n));
}

template <class T>
double morans_i_impl(const T* map, std::int64_t h, std::int64_t w, MoranWeights weights) {
  const MoranPair p = morans_both("morans_i", map, h, w);
  return weights == MoranWeights::Binary ? p.binary : p.row_standardised;
}

template <class T>
MapStats map_stats_impl(const T* map, std::int64_t h, std::int64_t w) {
  const MoranPair p = morans_both("map_stats", map, h, w);
  return {p.binary, p.row_standardised, std_minmax_impl(map, h, w)};
}

template <class T>
MapStats frame_mean_impl(const T* maps, std::int64_t f, std::int64_t h, std::int64_t w) {
  if (f < 1) raise("frame_mean_stats", "need at least one frame, got " + std::to_string(f));
  if (h < 0 || w < 0) raise("frame_mean_stats", "negative map shape");
  const std::int64_t per = h * w;
  MapStatsAccumulator acc;
  for (std::int64_t i = 0; i < f; ++i) acc.add(map_stats_impl(maps + i * per, h, w));
  return acc.mean();
}

}  // namespace

double morans_i(const float* map, std::int64_t h, std::int64_t w, MoranWeights weights) {
  return morans_i_impl(map, h, w, weights);
}
double morans_i(const double* map, std::int64_t h, std::int64_t w, MoranWeights weights) {
  return morans_i_impl(map, h, w, weights);
}
double std_minmax(const float* map, std::int64_t h, std::int64_t w) { return std_minmax_impl(map, h, w); }
double std_minmax(const double* map, std::int64_t h, std::int64_t w) { return std_minmax_impl(map, h, w); }
MapStats map_stats(const float* map, std::int64_t h, std::int64_t w) { return map_stats_impl(map, h, w); }
MapStats map_stats(const double* map, std::int64_t h, std::int64_t w) { return map_stats_impl(map, h, w); }
MapStats frame_mean_stats(const float* maps, std::int64_t f, std::int64_t h, std::int64_t w) {
  return frame_mean_impl(maps, f, h, w);
}
MapStats frame_mean_stats(const double* maps, std::int64_t f, std::int64_t h, std::int64_t w) {
  return frame_mean_impl(maps, f, h, w);
}

MapStats mean_stats(const std::vector<MapStats>& stats) {
  MapStatsAccumulator acc;
  for (const auto& s : stats) acc.add(s);
  return acc.mean();
}

void MapStatsAccumulator::add(const MapStats& s) {
  sum_i_ += s.morans_i;
  sum_ir_ += s.morans_i_row_standardised;
  sum_std_ += s.std_minmax;
  ++n_;
}

MapStats MapStatsAccumulator::mean() const {
  if (n_ == 0) raise("mean_stats", "no statistics to average");
  const double n = static_cast<double>(n_);
  return {sum_i_ / n, sum_ir_ / n, sum_std_ / n};
}

}  // namespace focalscope::analysis
