#include "analysis/weak_layers.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "analysis/analysis_error.h"
#include "analysis/resampling.h"

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
  if (bad(options_.margin) || options_.margin < -1 || options_.margin > 1) raise("weak layers", "margin must be in [-1, 1]");
  if (bad(options_.response_ratio) || options_.response_ratio < 0 || options_.response_ratio > 1)
    raise("weak layers", "response_ratio must be in [0, 1]");
  if (bad(options_.std_weight) || options_.std_weight < 0 || options_.std_weight > 1)
    raise("weak layers", "std_weight must be in [0, 1]");
}

WeakLayerOptions validated_weak_rule() {
  WeakLayerOptions o;
  o.reference = WeakReference::TextResponse;
  // Every ratio from 0.3 to 0.55 finds exactly the planted layers of the early, middle and late planted models
  // (30 samples each); 0.4 is the middle of that range on the log scale (docs/validation.md).
  o.response_ratio = 0.4;
  o.margin = 0.02;  // the words reference's margin, when that reference is picked
  return o;
}

const char* weak_reference_name(WeakReference r) {
  switch (r) {
    case WeakReference::LayerMedian: return "median";
    case WeakReference::RandomDirections: return "random";
    case WeakReference::ControlWords: return "words";
    case WeakReference::TextResponse: return "response";
  }
  return "?";
}

WeakReference parse_weak_reference(const std::string& s) {
  if (s == "median") return WeakReference::LayerMedian;
  if (s == "random") return WeakReference::RandomDirections;
  if (s == "words") return WeakReference::ControlWords;
  if (s == "response") return WeakReference::TextResponse;
  raise("--weak-reference", "'" + s + "' is not median, random, words or response");
}

WeakLayerReport WeakLayerDetector::detect(const std::vector<std::vector<double>>& moran,
                                          const std::vector<std::vector<double>>& std_curves,
                                          const std::vector<std::vector<double>>& null_mean) const {
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

  rep.reference = o.reference;
  rep.score.resize(layers);
  rep.statistic.resize(layers);
  rep.margin.resize(layers);
  std::vector<double> gain(layers);
  // The statistic-below-threshold rules (null excess, text response): layer l is weak by margin threshold - statistic;
  // its band gain is that margin in units of the statistic's scale, clamped as for the z rule.
  auto judge_below = [&](std::size_t l, double statistic, double unit) {
    rep.statistic[l] = statistic;
    rep.score[l] = statistic;
    rep.margin[l] = rep.threshold - statistic;
    if (rep.margin[l] > 0) rep.weak.push_back(static_cast<int>(l));
    gain[l] = std::clamp(rep.margin[l] / unit, -1.0, 1.0);
  };
  if (o.reference == WeakReference::TextResponse) {
    if (null_mean.empty()) raise("weak layers", "the text-response rule needs the layers' text response curves");
    check_curves("text response", null_mean, layers, samples);
    rep.threshold = o.response_ratio;
    // Per sample, relative to that sample's median layer (a prompt that moves every layer twice as much counts the
    // same); a layer's level is the median over samples.
    std::vector<std::vector<double>> rel(layers, std::vector<double>(samples));
    for (std::size_t s = 0; s < samples; ++s) {
      std::vector<double> col(layers);
      for (std::size_t l = 0; l < layers; ++l) col[l] = null_mean[l][s];
      const double mid = quantile(col, 0.5);
      // A sample where the typical layer does not answer at all says nothing: ratio 1 everywhere.
      for (std::size_t l = 0; l < layers; ++l) rel[l][s] = mid > 0 ? col[l] / mid : 1.0;
    }
    std::vector<double> log_level(layers);
    for (std::size_t l = 0; l < layers; ++l) {
      rep.excess_spread.push_back(spread_of(rel[l]));
      log_level[l] = std::log(std::max(rep.excess_spread.back().median, 1e-12));
    }
    // The depth trend: a straight line through log(level) over the layer index, fitted by Theil-Sen (median of the
    // pairwise slopes, then the median intercept), which ignores up to ~29% of layers lying off the line — so a
    // band of weak layers does not pull the trend down with it. The response falls with depth on its own (on the
    // embedded model ~15x from layer 0 to 11); a layer is weak when it falls short of ITS depth's trend.
    double slope = 0;
    if (layers >= 2) {
      std::vector<double> slopes;
      for (std::size_t i = 0; i < layers; ++i)
        for (std::size_t j = i + 1; j < layers; ++j) slopes.push_back((log_level[j] - log_level[i]) / double(j - i));
      slope = quantile(slopes, 0.5);
    }
    std::vector<double> icept(layers);
    for (std::size_t l = 0; l < layers; ++l) icept[l] = log_level[l] - slope * double(l);
    const double intercept = quantile(icept, 0.5);
    for (std::size_t l = 0; l < layers; ++l)
      judge_below(l, std::exp(log_level[l] - (intercept + slope * double(l))), /*unit=*/0.05);
  } else if (uses_null(o.reference)) {
    if (null_mean.empty())
      raise("weak layers", o.reference == WeakReference::RandomDirections
                               ? "the random-direction reference needs the random-direction baseline (--random-directions > 0)"
                               : "the control-word reference needs the control words' maps");
    check_curves("null", null_mean, layers, samples);
    rep.threshold = -o.margin;
    for (std::size_t l = 0; l < layers; ++l) {
      std::vector<double> ex(samples);
      for (std::size_t s = 0; s < samples; ++s) ex[s] = moran[l][s] - null_mean[l][s];
      rep.excess_spread.push_back(spread_of(ex));
      judge_below(l, rep.excess_spread.back().median, /*unit: 0.01 Moran's I*/ 0.01);
    }
  } else {
    // The threshold on Moran's I itself: below both center - z * scale and center - min_drop.
    rep.threshold = -o.z_threshold;
    for (std::size_t l = 0; l < layers; ++l) {
      rep.score[l] = (1 - o.std_weight) * rep.moran_z[l] + (have_std ? o.std_weight * rep.std_z[l] : 0.0);
      rep.statistic[l] = rep.score[l];
      const bool deep_enough = rm.center - moran_level[l] >= o.min_drop;
      const bool weak = rep.score[l] < -o.z_threshold && deep_enough;
      // Both conditions must hold, so the margin (z units) is the smaller of the two.
      rep.margin[l] = std::min(-o.z_threshold - rep.score[l], (rm.center - moran_level[l] - o.min_drop) / rm.scale);
      if (weak) rep.weak.push_back(static_cast<int>(l));
      gain[l] = std::clamp(-rep.score[l] - o.z_threshold, -1.0, 1.0);
      if (!deep_enough) gain[l] = std::min(gain[l], 0.0);
    }
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

std::vector<LayerUncertainty> bootstrap_weak_layers(const WeakLayerDetector& det,
                                                    const std::vector<std::vector<double>>& moran,
                                                    const std::vector<std::vector<double>>& std_curves,
                                                    const std::vector<std::vector<double>>& null_mean, int reps,
                                                    uint64_t seed) {
  const WeakLayerReport full = det.detect(moran, std_curves, null_mean);
  const std::size_t L = moran.size(), S = moran[0].size();
  std::vector<std::vector<double>> med(L), stat(L);
  std::vector<int> weak_count(L, 0);
  auto pick = [&](const std::vector<std::vector<double>>& c, const std::vector<int>& idx) {
    std::vector<std::vector<double>> out;
    if (c.empty()) return out;
    out.resize(c.size());
    for (std::size_t l = 0; l < c.size(); ++l)
      for (int i : idx) out[l].push_back(c[l][static_cast<std::size_t>(i)]);
    return out;
  };
  WeakLayerOptions o = det.options();
  o.override_layers.reset();
  const WeakLayerDetector d(o);
  for (const auto& idx : bootstrap_indices(static_cast<int>(S), reps, seed)) {
    const WeakLayerReport r = d.detect(pick(moran, idx), pick(std_curves, idx), pick(null_mean, idx));
    for (std::size_t l = 0; l < L; ++l) {
      med[l].push_back(r.moran_spread[l].median);
      stat[l].push_back(r.statistic[l]);
    }
    for (int w : r.weak) ++weak_count[static_cast<std::size_t>(w)];
  }
  std::vector<LayerUncertainty> out(L);
  for (std::size_t l = 0; l < L; ++l) {
    out[l].moran_median = full.moran_spread[l].median;
    out[l].moran_lo = quantile(med[l], 0.025);
    out[l].moran_hi = quantile(med[l], 0.975);
    out[l].statistic = full.statistic[l];
    out[l].statistic_lo = quantile(stat[l], 0.025);
    out[l].statistic_hi = quantile(stat[l], 0.975);
    out[l].p_weak = double(weak_count[l]) / double(reps);
  }
  return out;
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
