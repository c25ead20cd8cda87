#include "app/gui/video_playback.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>

namespace focalscope::gui {

void advance_playback(VideoState& vs, int nframes, int fps, bool loop) {
  if (nframes > 0 && vs.playing) {
    vs.clock += ImGui::GetIO().DeltaTime;
    const double period = 1.0 / std::max(1, fps);
    while (vs.clock >= period) {
      vs.clock -= period;
      if (vs.frame + 1 < nframes) ++vs.frame;
      else if (loop) vs.frame = 0;
      else vs.playing = false;
    }
  }
  vs.frame = nframes > 0 ? std::clamp(vs.frame, 0, nframes - 1) : 0;
}

void playback_controls(VideoState& vs, int nframes, bool* loop, float reserve) {
  if (ImGui::Button(vs.playing ? "Pause" : "Play") ||
      (ImGui::IsWindowFocused() && ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Space))))
    vs.playing = !vs.playing;
  ImGui::SameLine();
  ImGui::Checkbox("loop", loop);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(-reserve);
  char fmt[48];
  std::snprintf(fmt, sizeof fmt, "frame %%d / %d", std::max(0, nframes - 1));
  if (ImGui::SliderInt("##scrub", &vs.frame, 0, std::max(0, nframes - 1), fmt)) vs.clock = 0;
}

void show_frame(VideoState& vs, int slot, const std::string& key, const render::Image& frame) {
  if (vs.tex_key[slot] == key && vs.tex[slot].valid()) return;
  vs.tex[slot].upload(frame, false);
  vs.tex_key[slot] = key;
}

}  // namespace focalscope::gui
