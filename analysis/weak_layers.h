// Semantic-weak layer detection (paper §3.2: "we define the layers as semantic-weak layers based on
// their lower Moran's I values"; §4.2 Eq. 11 then zeroes their Attention Cache weights).
//
// Input: per-layer curves, layers x samples, each value already averaged over frames (Eq. 4/5),
// denoising steps and keywords. Rule:
//   1. Each layer's level is the MEDIAN over samples (robust to a few failed samples).
//   2. Robust z-score of that level against the other layers:
//        center = median over layers, scale = max(1.4826 * MAD over layers, min_scale),
//        z_l = (level_l - center) / scale.
//      Median/MAD rather than mean/std so the weak band itself does not drag the reference down
//      (holds while the weak layers are under half of all layers). min_scale keeps z finite when
//      most layers are identical.
//   3. score_l = (1 - std_weight) * z_moran_l + std_weight * z_std_l  (std_weight = 0 by default:
//      the paper defines weakness by Moran's I; the std curve is a complementary view).
//   4. Layer l is weak iff score_l < -z_threshold AND center - level_l >= min_drop (an absolute
//      Moran's I deficit, so flat-but-noisy curves never produce weak layers from noise alone).
//   5. contiguous = true: the weak set becomes the single band [a, b] maximising the summed gain
//        g_l = clamp(-score_l - z_threshold, -1, 1)   (at most 0 for layers failing min_drop):
//      a clearly weak layer counts +1, a clearly healthy one -1, borderline ones in between. So a
//      band bridges a gap only if the gap is shorter than the weak runs it joins (a 1-layer gap
//      between two dips is filled; a lone weak layer far from the main dip is dropped). Clamping
//      keeps one very deep layer from dragging in a long stretch of healthy layers.
//      Ties: the shorter band, then the earlier one. No weak layer -> empty band.
//   6. An explicit override list replaces the set entirely (scores are still reported).
#pragma once
#include <optional>
#include <vector>

namespace focalscope::analysis {

// Spread of one layer's values over samples, for plotting. Quartiles by linear interpolation
// between order statistics (numpy's default 'linear' method).
struct Spread {
  double min = 0, q1 = 0, median = 0, q3 = 0, max = 0;
};

// Quantile p in [0, 1] of the values (linear interpolation); Error on empty input.
double quantile(std::vector<double> values, double p);
Spread spread_of(const std::vector<double>& values);

struct WeakLayerOptions {
  double z_threshold = 2.0;  // weak if score < -z_threshold
  double min_drop = 0.1;     // ... and the Moran's I level is at least this far below the center
  double min_scale = 0.01;   // floor on the MAD-based scale (Moran's I / std units)
  double std_weight = 0.0;   // 0 = Moran's I only, 1 = std only
  bool contiguous = false;   // force a single contiguous band
  std::optional<std::vector<int>> override_layers;  // explicit weak set; wins over the rule
};

struct WeakLayerReport {
  std::vector<int> weak;              // sorted layer indices
  std::vector<double> score;          // per layer, combined robust z (lower = weaker)
  std::vector<double> moran_z, std_z; // per layer, the two robust z-scores (std_z empty without std curves)
  std::vector<Spread> moran_spread;   // per layer over samples
  std::vector<Spread> std_spread;     // per layer over samples (empty without std curves)
  double moran_center = 0, moran_scale = 0;  // reference level and scale of the Moran's I z-score
  bool overridden = false;            // weak came from override_layers
};

class WeakLayerDetector {
 public:
  explicit WeakLayerDetector(WeakLayerOptions options = {});

  // moran[l][s], std_curves[l][s]: layers x samples, rectangular, finite. std_curves may be empty
  // (then std_weight must be 0). Shape problems are an Error naming the curve and layer.
  WeakLayerReport detect(const std::vector<std::vector<double>>& moran,
                         const std::vector<std::vector<double>>& std_curves = {}) const;

  const WeakLayerOptions& options() const { return options_; }

 private:
  WeakLayerOptions options_;
};

// Eq. 11 weights: alpha_l = 0 for weak layers, 1 / (L - m) for the others. Error when every layer
// is weak (the cache would have no source) or an index is out of range.
std::vector<double> attention_cache_weights(int num_layers, const std::vector<int>& weak);

}  // namespace focalscope::analysis
