#include "app/gui/frame_stats.h"

#include <algorithm>
#include <cstdio>

namespace focalscope::gui {

void FrameStats::add(double dt, bool generating, double cpu_ms) {
  if (!(dt > 0) || dt > 5.0) return;  // first frame / debugger pauses
  Acc& a = acc_[generating ? 1 : 0];
  ++a.frames;
  a.cpu_ms += cpu_ms;
  a.seconds += dt;
  a.frame_ms.push_back(static_cast<float>(dt * 1000.0));
  a.win_t += dt;
  ++a.win_n;
  if (a.win_t >= 1.0) {
    const double f = a.win_n / a.win_t;
    a.worst = a.has_window ? std::min(a.worst, f) : f;
    a.has_window = true;
    a.win_t = 0;
    a.win_n = 0;
  }
  fps_t_ += dt;
  ++fps_n_;
  if (fps_t_ >= 0.5) {
    fps_ = fps_n_ / fps_t_;
    fps_t_ = 0;
    fps_n_ = 0;
  }
}

FrameStats::Summary FrameStats::summary(bool generating) const {
  const Acc& a = acc_[generating ? 1 : 0];
  Summary s;
  s.frames = a.frames;
  s.seconds = a.seconds;
  if (a.seconds > 0) s.mean_fps = a.frames / a.seconds;
  if (a.frames > 0) s.mean_cpu_ms = a.cpu_ms / a.frames;
  s.worst_window_fps = a.has_window ? a.worst : 0;
  if (!a.frame_ms.empty()) {
    std::vector<float> v = a.frame_ms;
    size_t k = std::min(v.size() - 1, static_cast<size_t>(0.95 * (v.size() - 1) + 0.5));
    std::nth_element(v.begin(), v.begin() + k, v.end());
    s.p95_frame_ms = v[k];
    s.max_frame_ms = *std::max_element(a.frame_ms.begin(), a.frame_ms.end());
  }
  return s;
}

std::string FrameStats::report() const {
  std::string out;
  for (int g = 1; g >= 0; --g) {
    Summary s = summary(g == 1);
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "fps %-10s %6.1f mean, %6.1f worst 1-s window, p95 frame %6.1f ms, max %6.1f ms, UI CPU %5.1f ms/frame "
                  "(%ld frames, %.1f s)\n",
                  g ? "generating" : "idle", s.mean_fps, s.worst_window_fps, s.p95_frame_ms, s.max_frame_ms, s.mean_cpu_ms,
                  s.frames, s.seconds);
    out += buf;
  }
  return out;
}

}  // namespace focalscope::gui
