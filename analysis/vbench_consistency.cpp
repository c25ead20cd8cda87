#include "analysis/vbench_consistency.h"

#include <algorithm>
#include <cmath>

#include "analysis/analysis_error.h"
#include "analysis/blob_segmentation.h"

namespace focalscope::analysis {
namespace {

// Cosine similarity as torch.nn.functional.cosine_similarity (eps = 1e-8 on each norm).
double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / (std::max(std::sqrt(na), 1e-8) * std::max(std::sqrt(nb), 1e-8));
}

}  // namespace

ConsistencyScore vbench_consistency(const std::vector<float>& ref, const std::vector<std::vector<float>>& frames,
                                    const ConsistencyWeights& w) {
  if (ref.empty()) raise("vbench consistency", "empty reference feature");
  if (frames.size() < 2) raise("vbench consistency", "need at least 2 frames, got " + std::to_string(frames.size()));
  for (size_t i = 0; i < frames.size(); ++i)
    if (frames[i].size() != ref.size())
      raise("vbench consistency", "frame " + std::to_string(i) + " feature has " + std::to_string(frames[i].size()) +
                                      " values, reference " + std::to_string(ref.size()));
  ConsistencyScore out;
  for (size_t i = 0; i < frames.size(); ++i) {
    out.s.push_back(std::max(0.0, cosine(ref, frames[i])));
    if (i > 0) out.c.push_back(std::max(0.0, cosine(frames[i - 1], frames[i])));
  }
  double mean_c = 0;
  for (double v : out.c) mean_c += v;
  mean_c /= out.c.size();
  out.score = w.max_w * *std::max_element(out.s.begin(), out.s.end()) + w.mean_w * mean_c +
              w.min_w * *std::min_element(out.c.begin(), out.c.end());
  return out;
}

std::vector<std::vector<uint8_t>> object_masks(const std::vector<shapes::RgbFrame>& frames, int dilate) {
  if (frames.empty()) return {};
  SegmentParams p;
  p.open_masks = false;  // every object-coloured pixel counts here, slivers included
  const BackgroundModel bg = fit_background(frames[0], p);
  std::vector<std::vector<uint8_t>> out;
  for (const auto& f : frames) {
    const auto labels = label_pixels(f, bg, p);
    std::vector<uint8_t> m(labels.size(), 0);
    for (int y = 0; y < f.h; ++y)
      for (int x = 0; x < f.w; ++x) {
        if (labels[static_cast<size_t>(y) * f.w + x] < 0) continue;
        for (int dy = -dilate; dy <= dilate; ++dy)
          for (int dx = -dilate; dx <= dilate; ++dx) {
            const int nx = x + dx, ny = y + dy;
            if (nx >= 0 && ny >= 0 && nx < f.w && ny < f.h) m[static_cast<size_t>(ny) * f.w + nx] = 1;
          }
      }
    out.push_back(std::move(m));
  }
  return out;
}

shapes::RgbFrame mask_objects(const shapes::RgbFrame& frame, const std::vector<uint8_t>& mask,
                              const shapes::RgbFrame& reference) {
  if (mask.size() != static_cast<size_t>(frame.w) * frame.h || reference.w != frame.w || reference.h != frame.h)
    raise("mask_objects", "frame, mask and reference sizes differ");
  const BackgroundModel bg = fit_background(reference);
  shapes::RgbFrame out = frame;
  for (int y = 0; y < frame.h; ++y)
    for (int x = 0; x < frame.w; ++x) {
      if (!mask[static_cast<size_t>(y) * frame.w + x]) continue;
      const auto c = bg.at(x, y);
      for (int k = 0; k < 3; ++k) out.at(x, y)[k] = static_cast<uint8_t>(std::clamp(std::lround(c[k]), 0L, 255L));
    }
  return out;
}

}  // namespace focalscope::analysis
