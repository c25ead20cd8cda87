// Edit mode, top right pane: the source and the edit side by side, playing in sync (the Video A/B pane's playback),
// the mask's outline over both; hovering gives both pixels. The source shows as soon as the worker has read it (at the
// run's size), the edit when it is decoded; while a new edit starts, the last finished one stays up.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/panels.h"
#include "app/gui/video_playback.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

using session::EditSnapshot;

namespace {


void draw_outline(ImDrawList* dl, const EditSnapshot& s, ImVec2 p0, ImVec2 size) {
  if (!s.mask_outline || s.width <= 0 || s.height <= 0) return;
  const auto& seg = *s.mask_outline;
  const float kx = size.x / s.width, ky = size.y / s.height;
  for (size_t i = 0; i + 3 < seg.size(); i += 4) {
    const ImVec2 a(p0.x + seg[i] * kx, p0.y + seg[i + 1] * ky), b(p0.x + seg[i + 2] * kx, p0.y + seg[i + 3] * ky);
    dl->AddLine(a, b, IM_COL32(0, 0, 0, 160), 3.0f);   // dark halo: visible on light frames
    dl->AddLine(a, b, IM_COL32(255, 221, 0, 255), 1.5f);
  }
}

void videos(AppState& st, const EditSnapshot& s, float height) {
  EditState& e = st.edit;
  const int n_src = static_cast<int>(s.source_frames->size());
  const int n_edit = s.edit_frames ? static_cast<int>(s.edit_frames->size()) : 0;
  const int nframes = std::max(n_src, n_edit);
  advance_playback(e.video, nframes, s.fps, st.settings.view.loop);
  playback_controls(e.video, nframes, &st.settings.view.loop, ImGui::CalcTextSize("mask outline").x + ImGui::GetFrameHeight() +
                                                                  ImGui::CalcTextSize("16 fps").x + 3 * ImGui::GetStyle().ItemSpacing.x + 8);
  ImGui::SameLine();
  ImGui::TextDisabled("%d fps", s.fps);
  ImGui::SameLine();
  ImGui::Checkbox("mask outline", &e.show_outline);

  const float gap = ImGui::GetStyle().ItemSpacing.x;
  const float line = ImGui::GetTextLineHeightWithSpacing();
  const float cw = (ImGui::GetContentRegionAvail().x - gap) / 2;
  float dw = cw, dh = cw * s.height / std::max(1, s.width);
  if (dh > height - line) {
    dh = std::max(16.0f, height - line);
    dw = dh * s.width / std::max(1, s.height);
  }
  const int f = e.video.frame;
  for (int v = 0; v < 2; ++v) {
    if (v) ImGui::SameLine();
    ImGui::BeginGroup();
    const auto* frames = v == 0 ? s.source_frames.get() : s.edit_frames.get();
    const bool stale = st.edit.snap && st.edit.snap.get() != &s;
    if (v == 0) ImGui::TextColored(ImVec4(0.6f, 0.6f, 0.66f, 1), "source");
    else ImGui::TextColored(ImVec4(0.8f, 0.47f, 0.65f, 1), "edit  %s%s", s.mode.c_str(), stale ? " (previous run)" : "");
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    if (!frames || frames->empty()) {
      ImGui::Dummy(ImVec2(dw, dh));
      ImGui::GetWindowDrawList()->AddRect(p0, ImVec2(p0.x + dw, p0.y + dh), palette::kGrid);
      const char* msg = s.state == session::RunState::Failed ? "failed" : "sampling...";
      ImGui::GetWindowDrawList()->AddText(ImVec2(p0.x + 8, p0.y + 8), palette::kAxis, msg);
      std::fill(e.video_rect[v], e.video_rect[v] + 4, 0.0f);
      ImGui::EndGroup();
      continue;
    }
    const int fi = std::min(f, static_cast<int>(frames->size()) - 1);
    char key[96];
    std::snprintf(key, sizeof key, "%llu/%d", static_cast<unsigned long long>(s.job_id), fi);
    show_frame(e.video, v, key, (*frames)[fi]);
    ImGui::Image(e.video.tex[v].imgui_id(), ImVec2(dw, dh));
    const bool hovered = ImGui::IsItemHovered();
    if (e.show_outline) draw_outline(ImGui::GetWindowDrawList(), s, p0, ImVec2(dw, dh));
    e.video_rect[v][0] = p0.x;
    e.video_rect[v][1] = p0.y;
    e.video_rect[v][2] = dw;
    e.video_rect[v][3] = dh;
    if (hovered) {
      const ImVec2 m = ImGui::GetIO().MousePos;
      const auto& img = (*frames)[fi];
      const int x = std::clamp(static_cast<int>((m.x - p0.x) / dw * img.width), 0, img.width - 1);
      const int y = std::clamp(static_cast<int>((m.y - p0.y) / dh * img.height), 0, img.height - 1);
      const bool in = s.run_mask && (*s.run_mask)[static_cast<size_t>(y) * s.width + x];
      const uint8_t* a = (*s.source_frames)[std::min(fi, n_src - 1)].at(x, y);
      char edit_px[48] = "-";
      if (s.edit_frames && !s.edit_frames->empty()) {
        const uint8_t* b = (*s.edit_frames)[std::min(fi, n_edit - 1)].at(x, y);
        std::snprintf(edit_px, sizeof edit_px, "%d %d %d", b[0], b[1], b[2]);
      }
      ImGui::SetTooltip("frame %d, pixel (%d, %d): %s\nsource RGB %d %d %d\nedit RGB %s", fi, x, y,
                        in ? "inside the mask (edited)" : "background (kept)", a[0], a[1], a[2], edit_px);
    }
    ImGui::EndGroup();
  }
}

}  // namespace

void panel_edit_result(AppState& st) {
  if (!begin_pane(st, Pane::EditResult)) {
    ImGui::End();
    return;
  }
  const EditSnapshot* s = shown_edit(st);
  if (!s) {
    for (float* r : {st.edit.video_rect[0], st.edit.video_rect[1]}) std::fill(r, r + 4, 0.0f);
    ImGui::TextDisabled("Source and edit appear here side by side when an edit runs:");
    ImGui::TextDisabled("load a source video, paint the mask on its first frame,");
    ImGui::TextDisabled("write the edit prompt, Run edit.");
    ImGui::End();
    return;
  }
  videos(st, *s, ImGui::GetContentRegionAvail().y - ImGui::GetFrameHeightWithSpacing() - 2);
  ImGui::End();
}

const EditSnapshot* shown_edit(const AppState& st) {
  const EditSnapshot* s = st.edit.snap.get();
  if (s && s->source_frames && !s->source_frames->empty()) return s;
  return st.edit.done ? st.edit.done.get() : nullptr;
}

}  // namespace focalscope::gui
