// From captured similarity maps to per-layer curves (paper §3.2, Fig. 2):
//
//   map (layer, step, keyword): F' frames of H' x W' --per frame--> Moran's I, std of the min-max map
//   one sample, one layer:  mean over frames (Eq. 4 / Eq. 5), keywords and the chosen steps
//   many samples:           layers x samples curves -> WeakLayerDetector (median over samples, robust z)
//
// Torch-free: maps arrive as float arrays (the engine's SimilarityCapture converts its fp16 maps).
#pragma once
#include <cstdint>
#include <vector>

#include "analysis/map_stats.h"
#include "analysis/weak_layers.h"

namespace focalscope::analysis {

// Statistics of every map of one sample and one pass, kept per frame (the rows of per_layer.csv).
// Slots: layer slot l in [0, layers), step slot s in [0, steps), keyword k in [0, keywords).
class SampleLayerStats {
 public:
  SampleLayerStats(int layers, int steps, int keywords, int64_t frames);

  // Records the per-frame statistics of one [F'][H'][W'] map (row-major). Recording a slot twice is an Error.
  void add_map(int layer, int step, int keyword, const float* maps, int64_t height, int64_t width);

  int layers() const { return layers_; }
  int steps() const { return steps_; }
  int keywords() const { return keywords_; }
  int64_t frames() const { return frames_; }
  bool has(int layer, int step, int keyword) const;
  const MapStats& frame_stats(int layer, int step, int keyword, int64_t frame) const;  // Error if not recorded

  // Eq. 4 / 5 for one map: its per-frame statistics averaged over frames.
  MapStats map_mean(int layer, int step, int keyword) const;
  // One value per layer slot: the mean over frames, keywords and the step slots in `step_slots`
  // (empty = every step slot). Every requested map must have been recorded (Error naming the missing one).
  std::vector<MapStats> layer_means(const std::vector<int>& step_slots = {}) const;
  // Per layer slot and keyword slot: the mean over frames and the step slots (empty = all). [layer][keyword].
  std::vector<std::vector<MapStats>> layer_keyword_means(const std::vector<int>& step_slots = {}) const;

 private:
  size_t index(int layer, int step, int keyword) const;
  int layers_, steps_, keywords_;
  int64_t frames_;
  std::vector<MapStats> stats_;  // [layer][step][keyword][frame]
  std::vector<uint8_t> has_;     // [layer][step][keyword]
};

// Per-layer values over samples (each value one sample's SampleLayerStats::layer_means entry).
class LayerCurves {
 public:
  explicit LayerCurves(int layers);
  void add_sample(const std::vector<MapStats>& per_layer);  // Error if the layer count differs
  // The same sample's random-direction null per layer (mean Moran's I over directions); call once per add_sample,
  // for every sample or none.
  void add_random_baseline(const std::vector<double>& per_layer);
  const std::vector<std::vector<double>>& random_mean() const { return random_; }
  // The same sample's control-word maps' Moran's I per layer (see WeakReference::ControlWords).
  void add_control_words(const std::vector<double>& per_layer);
  const std::vector<std::vector<double>>& control_words() const { return control_; }
  // The same sample's text response per layer (engine/capture/text_response.h; see WeakReference::TextResponse).
  void add_text_response(const std::vector<double>& per_layer);
  const std::vector<std::vector<double>>& text_response() const { return response_; }
  // The curves the rule reads besides Moran's I / std (a null, or the text response; empty for LayerMedian).
  const std::vector<std::vector<double>>& null_for(WeakReference r) const;
  int layers() const { return layers_; }
  int samples() const { return static_cast<int>(moran_.empty() ? 0 : moran_[0].size()); }
  // layers x samples, the WeakLayerDetector's input.
  const std::vector<std::vector<double>>& moran() const { return moran_; }
  const std::vector<std::vector<double>>& std_minmax() const { return std_; }
  std::vector<double> mean_moran() const;  // per layer, mean over samples
  std::vector<double> mean_std() const;
  // Weak layers over all samples. Indices in the report are layer slots (positions in this curve set).
  WeakLayerReport detect(const WeakLayerOptions& options = {}) const;

 private:
  int layers_;
  std::vector<std::vector<double>> moran_, std_, random_, control_, response_;
};

// Runs of consecutive indices in a sorted list: {3,4,5,9} -> {{3,5},{9,9}} (for shading weak bands).
std::vector<std::pair<int, int>> contiguous_runs(const std::vector<int>& sorted);

}  // namespace focalscope::analysis
