#include "analysis/resampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "analysis/analysis_error.h"
#include "analysis/weak_layers.h"  // quantile
#include "engine/shapes/shapes_rng.h"

namespace focalscope::analysis {

std::vector<std::vector<int>> bootstrap_indices(int n, int reps, uint64_t seed) {
  if (n < 1) raise("bootstrap", "no values");
  if (reps < 1) raise("bootstrap", "need at least one resample");
  shapes::SplitMix64 rng(seed);
  std::vector<std::vector<int>> out(static_cast<size_t>(reps), std::vector<int>(static_cast<size_t>(n)));
  for (auto& r : out)
    for (auto& i : r) i = static_cast<int>(rng.next() % static_cast<uint64_t>(n));
  return out;
}

Interval bootstrap_interval(const std::vector<double>& values,
                            const std::function<double(const std::vector<double>&)>& statistic, int reps, double level,
                            uint64_t seed) {
  if (values.empty()) raise("bootstrap", "no values");
  if (!(level > 0 && level < 1)) raise("bootstrap", "level must be in (0, 1)");
  Interval out;
  out.estimate = statistic(values);
  std::vector<double> stats;
  stats.reserve(static_cast<size_t>(reps));
  std::vector<double> draw(values.size());
  for (const auto& idx : bootstrap_indices(static_cast<int>(values.size()), reps, seed)) {
    for (size_t i = 0; i < idx.size(); ++i) draw[i] = values[static_cast<size_t>(idx[i])];
    stats.push_back(statistic(draw));
  }
  out.lo = quantile(stats, (1 - level) / 2);
  out.hi = quantile(stats, 1 - (1 - level) / 2);
  return out;
}

Interval bootstrap_median(const std::vector<double>& values, int reps, double level, uint64_t seed) {
  return bootstrap_interval(values, [](const std::vector<double>& v) { return quantile(v, 0.5); }, reps, level, seed);
}

Interval bootstrap_mean(const std::vector<double>& values, int reps, double level, uint64_t seed) {
  return bootstrap_interval(
      values, [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); },
      reps, level, seed);
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double avg = (double(i) + double(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) r[order[k]] = avg;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    raise("spearman", std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " values");
  if (a.size() < 2) return std::nan("");
  const auto ra = ranks(a), rb = ranks(b);
  const double n = double(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n, mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  if (saa == 0 || sbb == 0) return std::nan("");
  return sab / std::sqrt(saa * sbb);
}

}  // namespace focalscope::analysis
