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
#include <cstdint>
#include <optional>
#include <string>
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

// What a layer's keyword-map Moran's I is compared with.
enum class WeakReference {
  // The other layers: robust z-score against the median layer (rule 1-4 above). Needs only the keyword curves, but a
  // layer whose maps are as structured as its visual state allows (random directions score as high) never drops.
  LayerMedian,
  // Each layer's own random-direction null (capture's RandomDirections, docs/validation.md): per sample the keyword
  // maps' Moran's I minus the mean Moran's I of cos(r, z) over random directions r in the same layer, run and steps
  // (this cancels the structure of z itself, which dominates maps on small token grids); the layer's level is the
  // median of that excess over samples, and the layer is weak when the level is below -margin, i.e. its keyword maps
  // are LESS structured than maps of random directions against the same visual state.
  RandomDirections,
  // The same with the prompt's control words as the null: per sample the keyword maps' Moran's I minus that of the
  // maps of the prompt's content words that name no object (its verbs, adverbs, ...), same layer, run and steps. A
  // layer that answers the text gives the words naming what is in the image more structured maps than the rest of
  // the prompt; one whose text values carry no meaning does not (docs/validation.md).
  ControlWords,
  // Not a map statistic: each layer's text response R_l (engine/capture/text_response.h), how much its text
  // cross-attention output moves when the keywords are swapped for words of their class that the image does not
  // show, relative to the residual stream. Per sample R_l is divided by that sample's median layer; a layer's level
  // is the median over samples; the levels' depth trend is a Theil-Sen line through log(level) over the layer slot
  // (the captured layers in order);
  // the statistic is level / trend, and the layer is weak when it is below response_ratio (a layer answering its
  // words far less than layers at its depth do). The local form of the causal ablation; chosen because the map
  // statistics do not find planted weak layers on the embedded model (docs/validation.md).
  TextResponse,
};
const char* weak_reference_name(WeakReference r);        // "median" | "random" | "words" | "response"
WeakReference parse_weak_reference(const std::string& s);  // Error naming --weak-reference otherwise
inline bool uses_null(WeakReference r) { return r == WeakReference::RandomDirections || r == WeakReference::ControlWords; }
// Whether the rule reads a third curve set (a null or the text response) besides the Moran's I / std curves.
inline bool uses_reference_curves(WeakReference r) { return r != WeakReference::LayerMedian; }

struct WeakLayerOptions {
  WeakReference reference = WeakReference::LayerMedian;
  double margin = 0.0;       // RandomDirections / ControlWords: weak if the median excess < -margin
  double response_ratio = 0.25;  // TextResponse: weak if the median relative text response < this
  double z_threshold = 2.0;  // weak if score < -z_threshold
  double min_drop = 0.1;     // ... and the Moran's I level is at least this far below the center
  double min_scale = 0.01;   // floor on the MAD-based scale (Moran's I / std units)
  double std_weight = 0.0;   // 0 = Moran's I only, 1 = std only
  bool contiguous = false;   // force a single contiguous band
  std::optional<std::vector<int>> override_layers;  // explicit weak set; wins over the rule
};

struct WeakLayerReport {
  WeakReference reference = WeakReference::LayerMedian;
  std::vector<int> weak;              // sorted layer indices
  // The decision statistic per layer and where the rule puts its threshold: LayerMedian: the score (robust z) vs
  // -z_threshold (and the Moran's I drop); RandomDirections / ControlWords: the median excess vs -margin;
  // TextResponse: the text response over its depth trend vs response_ratio. margin[l] = threshold -
  // statistic: positive = weak by that much, negative = not weak by that much.
  std::vector<double> statistic, margin;
  double threshold = 0;
  std::vector<Spread> excess_spread;  // per layer over samples: the excess over the null (RandomDirections, ControlWords)
                                      // or the relative text response (TextResponse)
  std::vector<double> score;          // per layer, combined robust z (lower = weaker)
  std::vector<double> moran_z, std_z; // per layer, the two robust z-scores (std_z empty without std curves)
  std::vector<Spread> moran_spread;   // per layer over samples
  std::vector<Spread> std_spread;     // per layer over samples (empty without std curves)
  double moran_center = 0, moran_scale = 0;  // reference level and scale of the Moran's I z-score
  bool overridden = false;            // weak came from override_layers
};

// The rule `focalscope analyze` uses by default: chosen on three planted models and checked on a fourth with
// `focalscope validate-detector` (docs/validation.md). The struct's own defaults are the original rule (LayerMedian).
WeakLayerOptions validated_weak_rule();

class WeakLayerDetector {
 public:
  explicit WeakLayerDetector(WeakLayerOptions options = {});

  // moran[l][s], std_curves[l][s]: layers x samples, rectangular, finite. std_curves may be empty
  // (then std_weight must be 0). Shape problems are an Error naming the curve and layer.
  // null_mean[l][s]: the reference curves for the same samples (RandomDirections: the random-direction maps' Moran's I,
  // mean over directions; ControlWords: the control words' maps'; TextResponse: the text response R_l); required by
  // those references, ignored by LayerMedian.
  WeakLayerReport detect(const std::vector<std::vector<double>>& moran,
                         const std::vector<std::vector<double>>& std_curves = {},
                         const std::vector<std::vector<double>>& null_mean = {}) const;

  const WeakLayerOptions& options() const { return options_; }

 private:
  WeakLayerOptions options_;
};

// Uncertainty of a detection over samples (percentile bootstrap: the samples are resampled with replacement, jointly
// for every curve so each resample stays paired, and the rule is re-run on each).
struct LayerUncertainty {
  double moran_median = 0, moran_lo = 0, moran_hi = 0;          // 95% interval of the layer's median Moran's I
  double statistic = 0, statistic_lo = 0, statistic_hi = 0;     // 95% interval of the decision statistic
  double p_weak = 0;                                            // share of resamples in which the layer is weak
};
std::vector<LayerUncertainty> bootstrap_weak_layers(const WeakLayerDetector& detector,
                                                    const std::vector<std::vector<double>>& moran,
                                                    const std::vector<std::vector<double>>& std_curves,
                                                    const std::vector<std::vector<double>>& null_mean, int reps = 1000,
                                                    uint64_t seed = 5);

// Eq. 11 weights: alpha_l = 0 for weak layers, 1 / (L - m) for the others. Error when every layer
// is weak (the cache would have no source) or an index is out of range.
std::vector<double> attention_cache_weights(int num_layers, const std::vector<int>& weak);

}  // namespace focalscope::analysis
