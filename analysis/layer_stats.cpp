#include "analysis/layer_stats.h"

#include <string>

#include "analysis/analysis_error.h"

namespace focalscope::analysis {

SampleLayerStats::SampleLayerStats(int layers, int steps, int keywords, int64_t frames)
    : layers_(layers), steps_(steps), keywords_(keywords), frames_(frames) {
  if (layers < 1 || steps < 1 || keywords < 1 || frames < 1)
    raise("layer statistics", "need at least one layer, step, keyword and frame");
  const size_t maps = static_cast<size_t>(layers) * steps * keywords;
  stats_.resize(maps * static_cast<size_t>(frames));
  has_.assign(maps, 0);
}

size_t SampleLayerStats::index(int layer, int step, int keyword) const {
  if (layer < 0 || layer >= layers_ || step < 0 || step >= steps_ || keyword < 0 || keyword >= keywords_)
    raise("layer statistics", "slot (layer " + std::to_string(layer) + ", step " + std::to_string(step) +
                                  ", keyword " + std::to_string(keyword) + ") is out of range");
  return (static_cast<size_t>(layer) * steps_ + step) * keywords_ + keyword;
}

void SampleLayerStats::add_map(int layer, int step, int keyword, const float* maps, int64_t height, int64_t width) {
  const size_t i = index(layer, step, keyword);
  if (has_[i])
    raise("layer statistics", "map (layer " + std::to_string(layer) + ", step " + std::to_string(step) + ", keyword " +
                                  std::to_string(keyword) + ") recorded twice");
  const int64_t n = height * width;
  for (int64_t f = 0; f < frames_; ++f) stats_[i * frames_ + f] = map_stats(maps + f * n, height, width);
  has_[i] = 1;
}

bool SampleLayerStats::has(int layer, int step, int keyword) const { return has_[index(layer, step, keyword)] != 0; }

const MapStats& SampleLayerStats::frame_stats(int layer, int step, int keyword, int64_t frame) const {
  const size_t i = index(layer, step, keyword);
  if (!has_[i])
    raise("layer statistics", "map (layer " + std::to_string(layer) + ", step " + std::to_string(step) + ", keyword " +
                                  std::to_string(keyword) + ") was not recorded");
  if (frame < 0 || frame >= frames_) raise("layer statistics", "frame " + std::to_string(frame) + " is out of range");
  return stats_[i * frames_ + frame];
}

MapStats SampleLayerStats::map_mean(int layer, int step, int keyword) const {
  MapStatsAccumulator acc;
  for (int64_t f = 0; f < frames_; ++f) acc.add(frame_stats(layer, step, keyword, f));
  return acc.mean();
}

std::vector<MapStats> SampleLayerStats::layer_means(const std::vector<int>& step_slots) const {
  std::vector<int> steps = step_slots;
  if (steps.empty())
    for (int s = 0; s < steps_; ++s) steps.push_back(s);
  std::vector<MapStats> out;
  for (int l = 0; l < layers_; ++l) {
    // Equal weight per map (keyword x step), each map already a mean over its frames (Eq. 4 / 5).
    MapStatsAccumulator acc;
    for (int s : steps)
      for (int k = 0; k < keywords_; ++k) acc.add(map_mean(l, s, k));
    out.push_back(acc.mean());
  }
  return out;
}

std::vector<std::vector<MapStats>> SampleLayerStats::layer_keyword_means(const std::vector<int>& step_slots) const {
  std::vector<int> steps = step_slots;
  if (steps.empty())
    for (int s = 0; s < steps_; ++s) steps.push_back(s);
  std::vector<std::vector<MapStats>> out(static_cast<size_t>(layers_));
  for (int l = 0; l < layers_; ++l)
    for (int k = 0; k < keywords_; ++k) {
      MapStatsAccumulator acc;
      for (int s : steps) acc.add(map_mean(l, s, k));
      out[static_cast<size_t>(l)].push_back(acc.mean());
    }
  return out;
}

LayerCurves::LayerCurves(int layers) : layers_(layers), moran_(static_cast<size_t>(layers)), std_(static_cast<size_t>(layers)) {
  if (layers < 1) raise("layer curves", "need at least one layer");
}

void LayerCurves::add_sample(const std::vector<MapStats>& per_layer) {
  if (static_cast<int>(per_layer.size()) != layers_)
    raise("layer curves", "sample has " + std::to_string(per_layer.size()) + " layers, expected " + std::to_string(layers_));
  for (int l = 0; l < layers_; ++l) {
    moran_[static_cast<size_t>(l)].push_back(per_layer[static_cast<size_t>(l)].morans_i);
    std_[static_cast<size_t>(l)].push_back(per_layer[static_cast<size_t>(l)].std_minmax);
  }
}

void LayerCurves::add_random_baseline(const std::vector<double>& per_layer) {
  if (static_cast<int>(per_layer.size()) != layers_)
    raise("layer curves", "random baseline has " + std::to_string(per_layer.size()) + " layers, expected " + std::to_string(layers_));
  if (random_.empty()) random_.resize(static_cast<size_t>(layers_));
  for (int l = 0; l < layers_; ++l) random_[static_cast<size_t>(l)].push_back(per_layer[static_cast<size_t>(l)]);
}

void LayerCurves::add_control_words(const std::vector<double>& per_layer) {
  if (static_cast<int>(per_layer.size()) != layers_)
    raise("layer curves", "control words have " + std::to_string(per_layer.size()) + " layers, expected " + std::to_string(layers_));
  if (control_.empty()) control_.resize(static_cast<size_t>(layers_));
  for (int l = 0; l < layers_; ++l) control_[static_cast<size_t>(l)].push_back(per_layer[static_cast<size_t>(l)]);
}

void LayerCurves::add_text_response(const std::vector<double>& per_layer) {
  if (static_cast<int>(per_layer.size()) != layers_)
    raise("layer curves", "text response has " + std::to_string(per_layer.size()) + " layers, expected " + std::to_string(layers_));
  if (response_.empty()) response_.resize(static_cast<size_t>(layers_));
  for (int l = 0; l < layers_; ++l) response_[static_cast<size_t>(l)].push_back(per_layer[static_cast<size_t>(l)]);
}

const std::vector<std::vector<double>>& LayerCurves::null_for(WeakReference r) const {
  static const std::vector<std::vector<double>> none;
  switch (r) {
    case WeakReference::RandomDirections: return random_;
    case WeakReference::ControlWords: return control_;
    case WeakReference::TextResponse: return response_;
    case WeakReference::LayerMedian: break;
  }
  return none;
}

namespace {
std::vector<double> row_means(const std::vector<std::vector<double>>& m) {
  std::vector<double> out;
  for (const auto& row : m) {
    double s = 0;
    for (double v : row) s += v;
    out.push_back(row.empty() ? 0.0 : s / static_cast<double>(row.size()));
  }
  return out;
}
}  // namespace

std::vector<double> LayerCurves::mean_moran() const { return row_means(moran_); }
std::vector<double> LayerCurves::mean_std() const { return row_means(std_); }

WeakLayerReport LayerCurves::detect(const WeakLayerOptions& options) const {
  if (samples() == 0) raise("weak layers", "no samples");
  for (const auto* c : {&random_, &control_, &response_})
    if (!c->empty() && (*c)[0].size() != moran_[0].size())
      raise("layer curves", "a null recorded for " + std::to_string((*c)[0].size()) + " of " + std::to_string(moran_[0].size()) +
                                " samples");
  return WeakLayerDetector(options).detect(moran_, std_, null_for(options.reference));
}

std::vector<std::pair<int, int>> contiguous_runs(const std::vector<int>& sorted) {
  std::vector<std::pair<int, int>> out;
  for (int v : sorted) {
    if (!out.empty() && v == out.back().second + 1)
      out.back().second = v;
    else
      out.push_back({v, v});
  }
  return out;
}

}  // namespace focalscope::analysis
