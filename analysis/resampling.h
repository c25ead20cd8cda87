// Honest uncertainty for small samples: percentile-bootstrap intervals (Efron & Tibshirani 1993, ch. 13) and
// Spearman's rank correlation. Deterministic: every resampling draws from a SplitMix64 stream seeded by the caller,
// so a report is reproducible to the last digit.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace focalscope::analysis {

struct Interval {
  double estimate = 0;  // the statistic on the full sample
  double lo = 0, hi = 0;
};

// Percentile-bootstrap interval of `statistic` over `values` (resampled with replacement, `reps` times, central
// `level` coverage). Error on empty input, reps < 1 or level outside (0, 1).
Interval bootstrap_interval(const std::vector<double>& values,
                            const std::function<double(const std::vector<double>&)>& statistic, int reps = 1000,
                            double level = 0.95, uint64_t seed = 1);
Interval bootstrap_median(const std::vector<double>& values, int reps = 1000, double level = 0.95, uint64_t seed = 1);
Interval bootstrap_mean(const std::vector<double>& values, int reps = 1000, double level = 0.95, uint64_t seed = 1);

// Index sets of `reps` bootstrap resamples of n items (each a vector of n indices drawn with replacement): used to
// resample the columns (samples) of several curves jointly, so the statistics of one resample stay paired.
std::vector<std::vector<int>> bootstrap_indices(int n, int reps, uint64_t seed);

// Fractional ranks (ties get their average rank, 1-based).
std::vector<double> ranks(const std::vector<double>& v);
// Spearman's rho = Pearson correlation of the ranks; NaN when either side is constant or n < 2. Error on length mismatch.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace focalscope::analysis
