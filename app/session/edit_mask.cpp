#include "app/session/edit_mask.h"

#include <algorithm>
#include <cmath>

namespace focalscope::session {

render::Mask blank_mask(int width, int height) {
  render::Mask m;
  m.width = std::max(0, width);
  m.height = std::max(0, height);
  m.frames = 1;
  m.data.assign(static_cast<size_t>(m.width) * m.height, 0);
  return m;
}

bool paint_disc(render::Mask& m, float cx, float cy, float radius, uint8_t value) {
  if (m.width <= 0 || m.height <= 0 || m.frames <= 0 || radius <= 0) return false;
  const int x0 = std::max(0, static_cast<int>(std::floor(cx - radius)));
  const int x1 = std::min(m.width - 1, static_cast<int>(std::ceil(cx + radius)));
  const int y0 = std::max(0, static_cast<int>(std::floor(cy - radius)));
  const int y1 = std::min(m.height - 1, static_cast<int>(std::ceil(cy + radius)));
  const float r2 = radius * radius;
  const size_t plane = static_cast<size_t>(m.width) * m.height;
  bool changed = false;
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      const float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
      if (dx * dx + dy * dy > r2) continue;
      for (int f = 0; f < m.frames; ++f) {
        uint8_t& p = m.data[f * plane + static_cast<size_t>(y) * m.width + x];
        changed = changed || p != value;
        p = value;
      }
    }
  return changed;
}

bool paint_stroke(render::Mask& m, float x0, float y0, float x1, float y1, float radius, uint8_t value) {
  const float len = std::hypot(x1 - x0, y1 - y0);
  const int n = std::max(1, static_cast<int>(std::ceil(len / std::max(0.5f, radius * 0.5f))));
  bool changed = false;
  for (int i = 0; i <= n; ++i) {
    const float t = static_cast<float>(i) / n;
    changed = paint_disc(m, x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, radius, value) || changed;
  }
  return changed;
}

void clear_mask(render::Mask& m) { std::fill(m.data.begin(), m.data.end(), 0); }

void invert_mask(render::Mask& m) {
  for (auto& p : m.data) p = p ? 0 : 1;
}

double mask_fraction(const render::Mask& m) {
  if (m.data.empty()) return 0;
  size_t n = 0;
  for (uint8_t p : m.data) n += p != 0;
  return static_cast<double>(n) / m.data.size();
}

std::string mask_size_error(const render::Mask& m, int width, int height, const std::string& name, const std::string& video) {
  if (m.width == width && m.height == height) return {};
  return name + ": is " + std::to_string(m.width) + "x" + std::to_string(m.height) + " but the video " + video + " is " +
         std::to_string(width) + "x" + std::to_string(height);
}

std::vector<uint8_t> union_plane(const render::Mask& m) {
  const size_t plane = static_cast<size_t>(m.width) * m.height;
  std::vector<uint8_t> u(plane, 0);
  for (int f = 0; f < m.frames; ++f)
    for (size_t i = 0; i < plane; ++i) u[i] = u[i] | (m.data[f * plane + i] != 0);
  return u;
}

std::vector<float> mask_outline(const std::vector<uint8_t>& p, int w, int h) {
  std::vector<float> seg;
  if (w <= 0 || h <= 0 || p.size() < static_cast<size_t>(w) * h) return seg;
  auto at = [&](int x, int y) -> int { return x < 0 || y < 0 || x >= w || y >= h ? 0 : p[static_cast<size_t>(y) * w + x] != 0; };
  // Horizontal edges: between rows y-1 and y (y = 0..h), merged along x.
  for (int y = 0; y <= h; ++y)
    for (int x = 0; x < w;) {
      if (at(x, y - 1) == at(x, y)) {
        ++x;
        continue;
      }
      int e = x;
      while (e < w && at(e, y - 1) != at(e, y)) ++e;
      seg.insert(seg.end(), {static_cast<float>(x), static_cast<float>(y), static_cast<float>(e), static_cast<float>(y)});
      x = e;
    }
  // Vertical edges: between columns x-1 and x, merged along y.
  for (int x = 0; x <= w; ++x)
    for (int y = 0; y < h;) {
      if (at(x - 1, y) == at(x, y)) {
        ++y;
        continue;
      }
      int e = y;
      while (e < h && at(x - 1, e) != at(x, e)) ++e;
      seg.insert(seg.end(), {static_cast<float>(x), static_cast<float>(y), static_cast<float>(x), static_cast<float>(e)});
      y = e;
    }
  return seg;
}

}  // namespace focalscope::session
