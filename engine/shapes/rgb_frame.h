// A plain 8-bit RGB frame, shared by the Shapes world (engine/shapes) and its checker (analysis/).
// Deliberately torch-free: generated videos arrive here as plain bytes, whatever produced them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace focalscope::shapes {

struct RgbFrame {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;  // w * h * 3 bytes, row-major, top row first

  RgbFrame() = default;
  RgbFrame(int width, int height) : w(width), h(height), rgb(static_cast<size_t>(width) * height * 3, 0) {}
  uint8_t* at(int x, int y) { return rgb.data() + (static_cast<size_t>(y) * w + x) * 3; }
  const uint8_t* at(int x, int y) const { return rgb.data() + (static_cast<size_t>(y) * w + x) * 3; }
  bool operator==(const RgbFrame& o) const { return w == o.w && h == o.h && rgb == o.rgb; }
};

}  // namespace focalscope::shapes
