// Measured frame rate of the UI thread, kept apart for frames while a generation runs and frames while idle
// (`--stats` prints both on exit; the status bar shows the live value).
#pragma once
#include <string>
#include <vector>

namespace focalscope::gui {

class FrameStats {
 public:
  // Call once per frame with the time since the previous frame and whether the worker was generating.
  // cpu_ms: UI-thread CPU time this frame took (build + render + swap), independent of how busy the machine is.
  void add(double dt_s, bool generating, double cpu_ms = 0);
  double current_fps() const { return fps_; }  // over the last ~0.5 s
  struct Summary {
    long frames = 0;
    double seconds = 0;
    double mean_fps = 0;        // frames / seconds
    double worst_window_fps = 0;  // lowest fps over any 1-second window (0 if none completed)
    double p95_frame_ms = 0;    // 95th percentile frame time
    double max_frame_ms = 0;
    double mean_cpu_ms = 0;     // UI-thread CPU per frame
  };
  Summary summary(bool generating) const;
  std::string report() const;  // two lines: generating / idle

 private:
  struct Acc {
    long frames = 0;
    double seconds = 0;
    std::vector<float> frame_ms;
    double cpu_ms = 0;
    double win_t = 0;
    long win_n = 0;
    double worst = 0;
    bool has_window = false;
  };
  Acc acc_[2];  // [0] idle, [1] generating
  double fps_ = 0, fps_t_ = 0;
  long fps_n_ = 0;
};

}  // namespace focalscope::gui
