#include "analysis/weak_layers.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "analysis/analysis_error.h"

namespace focalscope::analysis {
namespace {

constexpr double kMadToSigma = 1.4826;  // MAD of a normal distribution * 1.4826 = sigma

struct Robust {
  double center = 0, scale = 0;
  std::vector<double> z;
};

Robust robust_z(const std::vector<double>& levels, double min_scale) {
  Robust r;
  r.center = quantile(levels, 0.5);
  std::vector<double> dev(levels.size());
  for (std::size_t i = 0; i < levels.size(); ++i) dev[i] = std::abs(levels[i] - r.center);
  r.scale = std::max(kMadToSigma * quantile(dev, 0.5), min_scale);
  r.z.resize(levels.size());
  for (std::size_t i = 0; i < levels.size(); ++i) r.z[i] = (levels[i] - r.center) / r.scale;
  return r;
}

void check_curves(const char* what, const std::vector<std::vector<double>>& curves, std::size_t layers,
                  std::size_t samples) {
  if (curves.size() != layers)
    raise(std::string("weak layers: ") + what,
          std::to_string(curves.size()) + " layers, expected " + std::to_string(layers));
  for (std::size_t l = 0; l < curves.size(); ++l) {
    if (curves[l].size() != samples)
      raise(std::string("weak layers: ") + what + " layer " + std::to_string(l),
            std::to_string(curves[l].size()) + " samples, expected " + std::to_string(samples));
    for (double v : curves[l])
      if (!std::isfinite(v))
        raise(std::string("weak layers: ") + what + " layer " + std::to_string(l), "non-finite value");
  }
}

// The band [a, b] maximising the summed gain; ties go to the shorter, then the earlier band.
std::vector<int> best_band(const std::vector<double>& gain) {
  const int n = static_cast<int>(gain.size());
  double best = 0;
  int best_a = -1, best_b = -1;
  for (int a = 0; a < n; ++a) {
    double sum = 0;
    for (int b = a; b < n; ++b) {
      sum += gain[b];
      const bool better = sum > best || (sum == best && best_a >= 0 && b - a < best_b - best_a);
      if (sum > 0 && better) best = sum, best_a = a, best_b = b;
    }
  }
  std::vector<int> band;
  for (int l = best_a; best_a >= 0 && l <= best_b; ++l) band.push_back(l);
  return band;
}

}  // namespace

double quantile(std::vector<double> v, double p) {
  if (v.empty()) raise("quantile", "no values");
  if (!(p >= 0 && p <= 1)) raise("quantile", "p must be in [0, 1]");
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

Spread spread_of(const std::vector<double>& v) {
  return {quantile(v, 0), quantile(v, 0.25), quantile(v, 0.5), quantile(v, 0.75), quantile(v, 1)};
}

WeakLayerDetector::WeakLayerDetector(WeakLayerOptions o) : options_(std::move(o)) {
  auto bad = [](double x) { return !std::isfinite(x); };
  if (bad(options_.z_threshold) || options_.z_threshold < 0)
    raise("weak layers", "z_threshold must be finite and >= 0");
  if (bad(options_.min_drop) || options_.min_drop < 0) raise("weak layers", "min_drop must be finite and >= 0");
  if (bad(options_.min_scale) || !(options_.min_scale > 0)) raise("weak layers", "min_scale must be > 0");
  if (bad(options_.std_weight) || options_.std_weight < 0 || options_.std_weight > 1)
    raise("weak layers", "std_weight must be in [0, 1]");
}

WeakLayerReport WeakLayerDetector::detect(const std::vector<std::vector<double>>& moran,
                                          const std::vector<std::vector<double>>& std_curves) const {
  const WeakLayerOptions& o = options_;
  if (moran.empty()) raise("weak layers", "no layers");
  const std::size_t layers = moran.size(), samples = moran[0].size();
  if (samples == 0) raise("weak layers: Moran's I layer 0", "no samples");
  check_curves("Moran's I", moran, layers, samples);
  const bool have_std = !std_curves.empty();
  if (have_std) check_curves("std", std_curves, layers, samples);
  if (!have_std && o.std_weight > 0) raise("weak layers", "std_weight > 0 needs std curves");

  WeakLayerReport rep;
  std::vector<double> moran_level(layers), std_level;
  for (std::size_t l = 0; l < layers; ++l) {
    rep.moran_spread.push_back(spread_of(moran[l]));
    moran_level[l] = rep.moran_spread.back().median;
  }
  const Robust rm = robust_z(moran_level, o.min_scale);
  rep.moran_z = rm.z;
  rep.moran_center = rm.center;
  rep.moran_scale = rm.scale;
  if (have_std) {
    for (std::size_t l = 0; l < layers; ++l) {
      rep.std_spread.push_back(spread_of(std_curves[l]));
      std_level.push_back(rep.std_spread.back().median);
    }
    rep.std_z = robust_z(std_level, o.min_scale).z;
  }

  rep.score.resize(layers);
  std::vector<double> gain(layers);
  for (std::size_t l = 0; l < layers; ++l) {
    rep.score[l] = (1 - o.std_weight) * rep.moran_z[l] + (have_std ? o.std_weight * rep.std_z[l] : 0.0);
    const bool deep_enough = rm.center - moran_level[l] >= o.min_drop;
    const bool weak = rep.score[l] < -o.z_threshold && deep_enough;
    if (weak) rep.weak.push_back(static_cast<int>(l));
    gain[l] = std::clamp(-rep.score[l] - o.z_threshold, -1.0, 1.0);
    if (!deep_enough) gain[l] = std::min(gain[l], 0.0);
  }
  if (o.contiguous && !rep.weak.empty()) rep.weak = best_band(gain);

  if (o.override_layers) {
    std::vector<int> w = *o.override_layers;
    for (int l : w)
      if (l < 0 || l >= static_cast<int>(layers))
        raise("weak layers: override", "layer " + std::to_string(l) + " is out of range [0, " +
                                           std::to_string(layers - 1) + "]");
    std::sort(w.begin(), w.end());
    w.erase(std::unique(w.begin(), w.end()), w.end());
    rep.weak = std::move(w);
    rep.overridden = true;
  }
  return rep;
}

std::vector<double> attention_cache_weights(int num_layers, const std::vector<int>& weak) {
  if (num_layers < 1) raise("attention cache weights", "need at least one layer");
  std::vector<double> alpha(static_cast<std::size_t>(num_layers), 1.0);
  for (int l : weak) {
    if (l < 0 || l >= num_layers)
      raise("attention cache weights", "weak layer " + std::to_string(l) + " is out of range");
    alpha[l] = 0.0;
  }
  const auto sources = std::count(alpha.begin(), alpha.end(), 1.0);
  if (sources == 0) raise("attention cache weights", "every layer is weak; the cache has no source layer");
  for (double& a : alpha) a /= static_cast<double>(sources);
  return alpha;
}

}  // namespace focalscope::analysis
