// VBench-I2V consistency scores (i2v_subject / i2v_background), as VBench computes them, over per-frame
// feature vectors: s_i = max(0, cos(f_ref, f_i)) for every frame i, c_i = max(0, cos(f_{i-1}, f_i)) for
// i >= 1, score = 0.4 * max(s) + 0.3 * mean(c) + 0.3 * min(c). The features come from an image encoder
// (the engine's); subject features use whole frames, background features frames with the objects masked
// out (object_masks + mask_objects below).
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/shapes/rgb_frame.h"

namespace focalscope::analysis {

struct ConsistencyScore {
  double score = 0;
  std::vector<double> s;  // per frame, similarity to the reference image
  std::vector<double> c;  // per frame from 1, similarity to the previous frame
};

struct ConsistencyWeights {
  double max_w = 0.4, mean_w = 0.3, min_w = 0.3;
};

// ref: features of the input image; frames: features of each video frame (>= 2, all of ref's length).
// Throws Error on empty or mismatched vectors.
ConsistencyScore vbench_consistency(const std::vector<float>& ref, const std::vector<std::vector<float>>& frames,
                                    const ConsistencyWeights& w = {});

// Per frame, 1 where a Shapes object is (named-colour pixels, grown by `dilate` px to cover soft edges).
// The background model is fitted to frames[0]; the annotation is not needed for this.
std::vector<std::vector<uint8_t>> object_masks(const std::vector<shapes::RgbFrame>& frames, int dilate = 2);

// The frame with masked pixels replaced by the background estimated from `reference` (so the background
// features see no objects at all, rather than holes).
shapes::RgbFrame mask_objects(const shapes::RgbFrame& frame, const std::vector<uint8_t>& mask,
                              const shapes::RgbFrame& reference);

}  // namespace focalscope::analysis
