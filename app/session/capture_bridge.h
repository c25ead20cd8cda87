// The seam between a run and the similarity capture listener (engine/capture): attaches it to the forward,
// and after every finished step turns what it captured into the snapshot's plain SimilarityMaps (with their
// Moran's I / std). The GUI and the exports only ever see the snapshot types.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "app/session/run_snapshot.h"

namespace focalscope {
struct ModelBundle;
struct GenerateRequest;
struct RunParams;
class ProbeListener;
}  // namespace focalscope

namespace focalscope::session {

// Steps kept for the layer x step grid: all when steps <= max_columns, else max_columns evenly spaced
// (always the first and the last).
std::vector<int> sample_steps(int steps, int max_columns);

class CaptureBridge {
 public:
  virtual ~CaptureBridge() = default;
  // Attach to RunHooks::listener (may be null: nothing captured).
  virtual ProbeListener* listener() = 0;
  // Keyword chips for the prompt (CLIP scores where available) and which of them have maps.
  virtual std::vector<KeywordInfo> keywords() const = 0;
  virtual std::vector<int> capture_keywords() const = 0;
  // After step `step` (0-based) finished: its maps [capture slot][layer]; empty when the step is not sampled.
  virtual std::vector<std::vector<MapPtr>> collect(int step) = 0;
};

// words: what to analyse (empty = automatic: the prompt's keywords); sampled: steps to keep.
std::unique_ptr<CaptureBridge> make_capture_bridge(const ModelBundle& model, const GenerateRequest& req,
                                                   const RunParams& params, const std::vector<std::string>& words,
                                                   const std::vector<int>& sampled, float tau_sel);

// Builds a SimilarityMap (stats, ranges) from raw [F, H, W] values; uncond may be empty.
MapPtr make_similarity_map(int frames, int height, int width, std::vector<float> cond, std::vector<float> uncond);

}  // namespace focalscope::session
