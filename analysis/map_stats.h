// Spatial statistics of 2-D similarity maps (paper §3.2, Eq. 3-5): global Moran's I and the std of
// the min-max-normalised map, per frame and averaged over frames / denoising steps / samples.
//
// Conventions (they reproduce /work/shared/fixtures/morans_i/cases.json exactly; see docs/statistics.md):
//   * A map is H x W, row-major. Weights are binary queen (8-connectivity) adjacency.
//   * Moran's I (PySAL transformation 'B'):  z = x - mean(x),  S0 = sum_ij w_ij,
//         I = (N / S0) * sum_ij w_ij z_i z_j / sum_i z_i^2.
//     The paper's Eq. 3 prints H'W' * sum(...) / sum z^2, without the 1/S0 factor. Taken literally
//     that is S0 times the textbook value (S0 ~ 8N: 11,992 on Wan's 30x52 token grid), i.e. values
//     in the hundreds or thousands; the reported 0.76 -> 0.19 drop only arises with 1/S0, which
//     keeps I roughly within [-1, 1]. So we use the textbook normalisation.
//   * Row-standardised variant (PySAL 'r'): each cell's weights divided by its neighbour count,
//     so S0 = N (no islands on a grid with N >= 2).
//   * std_minmax: population std (ddof 0) of (x - min) / (max - min).
//   * Degenerate frames (constant map, N < 2, S0 == 0) give 0 for every statistic, never NaN.
// Everything is O(N) (no N x N weight matrix) and accumulates in double. Non-finite input values
// are an Error rather than a silent NaN result.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace focalscope::analysis {

enum class MoranWeights {
  Binary,           // PySAL 'B': binary queen weights, normalised by S0 (the fixture's "morans_i")
  RowStandardised,  // PySAL 'r': weights of each cell sum to 1 (the fixture's "morans_i_row_standardised")
};

// Global Moran's I of one H x W map.
double morans_i(const float* map, std::int64_t height, std::int64_t width,
                MoranWeights weights = MoranWeights::Binary);
double morans_i(const double* map, std::int64_t height, std::int64_t width,
                MoranWeights weights = MoranWeights::Binary);

// Population std of the min-max-normalised map; 0 for a constant map.
double std_minmax(const float* map, std::int64_t height, std::int64_t width);
double std_minmax(const double* map, std::int64_t height, std::int64_t width);

// The three numbers the analyzer reports per map.
struct MapStats {
  double morans_i = 0;                   // MoranWeights::Binary
  double morans_i_row_standardised = 0;  // MoranWeights::RowStandardised
  double std_minmax = 0;
};

MapStats map_stats(const float* map, std::int64_t height, std::int64_t width);
MapStats map_stats(const double* map, std::int64_t height, std::int64_t width);

// Eq. 4 / Eq. 5: statistics of each frame of a [F][H][W] (row-major) sequence, averaged over frames.
// Each frame is its own map (its own mean, min and max). F must be >= 1.
MapStats frame_mean_stats(const float* maps, std::int64_t frames, std::int64_t height, std::int64_t width);
MapStats frame_mean_stats(const double* maps, std::int64_t frames, std::int64_t height, std::int64_t width);

// Averaging the per-frame means further, over denoising steps, keywords or samples. Plain arithmetic
// mean of each field; an empty input is an Error (there is nothing to report).
MapStats mean_stats(const std::vector<MapStats>& stats);

// Streaming form of mean_stats, for loops over steps that should not keep every value.
class MapStatsAccumulator {
 public:
  void add(const MapStats& s);
  std::size_t count() const { return n_; }
  MapStats mean() const;  // Error when nothing was added

 private:
  double sum_i_ = 0, sum_ir_ = 0, sum_std_ = 0;
  std::size_t n_ = 0;
};

}  // namespace focalscope::analysis
