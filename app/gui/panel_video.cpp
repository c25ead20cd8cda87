// Video player: baseline (A) and Focal Guidance (B) side by side, in sync, at the model's fps; play / pause /
// scrub / loop. Shows the last finished video of each side while a new run is in flight.
#include <imgui.h>

#include <algorithm>
#include <cstdio>

#include "app/gui/panels.h"
#include "app/gui/video_playback.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

using session::RunSnapshot;

namespace {
// Latent frame of pixel frame f: Wan's VAE keeps frame 0 alone and packs every later 4 frames into one latent frame.
int64_t latent_frame(int f, int64_t latent_frames) {
  return std::clamp<int64_t>(f == 0 ? 0 : (f - 1) / 4 + 1, 0, latent_frames - 1);
}

// The last step's variance at (u, v) in [0, 1)^2 of pixel frame f (nearest latent position); -1 without a map.
float hallucination_at(const RunSnapshot& s, int f, float u, float v) {
  const HallucinationTrace& t = s.hallucination;
  if (t.steps() == 0 || t.maps.back().empty()) return -1;
  const int64_t F = t.grid[0], H = t.grid[1], W = t.grid[2];
  const int64_t y = std::clamp<int64_t>(static_cast<int64_t>(v * H), 0, H - 1);
  const int64_t x = std::clamp<int64_t>(static_cast<int64_t>(u * W), 0, W - 1);
  return t.maps.back()[static_cast<size_t>((latent_frame(f, F) * H + y) * W + x)];
}

// Draws the last step's variance map of frame f over the video image at p0 (size sz), translucent, on [0, vmax];
// returns vmax, or -1 when the run has no map.
float overlay_hallucination(const RunSnapshot& s, int f, ImVec2 p0, ImVec2 sz, float vmax) {
  const HallucinationTrace& t = s.hallucination;
  if (t.steps() == 0 || t.maps.back().empty() || vmax <= 0) return -1;
  const int64_t F = t.grid[0], H = t.grid[1], W = t.grid[2], lf = latent_frame(f, F);
  draw_hallucination_frame(ImGui::GetWindowDrawList(), t.maps.back(), lf, H, W, p0, sz, vmax, /*translucent=*/true);
  return vmax;
}

const RunSnapshot* video_of(const AppState& st, int v) {
  const RunSnapshot* s = st.snap[v].get();
  if (s && s->frames && !s->frames->empty()) return s;
  if (s && s->state == session::RunState::Idle && s->job_id > 0) return nullptr;  // this side is off now
  return st.done[v] && st.done[v]->frames && !st.done[v]->frames->empty() ? st.done[v].get() : nullptr;
}
}  // namespace

void panel_video(AppState& st) {
  if (!begin_pane(st, Pane::Video)) {
    ImGui::End();
    return;
  }
  const RunSnapshot* vids[2] = {video_of(st, 0), video_of(st, 1)};
  int nframes = 0, fps = 16;
  for (auto* v : vids)
    if (v) {
      nframes = std::max(nframes, static_cast<int>(v->frames->size()));
      fps = v->fps > 0 ? v->fps : fps;
    }
  auto& vs = st.video;
  advance_playback(vs, nframes, fps, st.settings.view.loop);
  // Room on the line for "16 fps" and the sigma2 checkbox.
  playback_controls(vs, nframes, &st.settings.view.loop,
                    ImGui::CalcTextSize("16 fps").x + ImGui::CalcTextSize("sigma2").x + ImGui::GetFrameHeight() +
                        4 * ImGui::GetStyle().ItemSpacing.x + 12);
  ImGui::SameLine();
  ImGui::TextDisabled("%d fps", fps);
  ImGui::SameLine();
  ImGui::Checkbox("sigma2", &st.settings.view.show_hallucination);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("overlay KV-Lock's hallucination map on the videos: where x0 still varied over the last steps\n"
                      "of sampling (the last step's map; the curve is in the Large view pane's Hallucination tab)");
  if (nframes == 0) {
    ImGui::TextDisabled("The videos appear here when a run finishes decoding.");
    ImGui::End();
    return;
  }

  const ImVec2 avail = ImGui::GetContentRegionAvail();
  // One colour scale for both sides' overlays.
  float vmax = 0;
  for (auto* v : vids)
    if (v && v->hallucination.steps() > 0)
      for (float x : v->hallucination.maps.back()) vmax = std::max(vmax, x);
  const int shown = (vids[0] ? 1 : 0) + (vids[1] ? 1 : 0);
  const float gap = ImGui::GetStyle().ItemSpacing.x;
  const float line = ImGui::GetTextLineHeightWithSpacing();
  for (int v = 0, i = 0; v < 2; ++v) {
    const RunSnapshot* s = vids[v];
    if (!s) continue;
    const auto& frames = *s->frames;
    const int f = std::min<int>(vs.frame, static_cast<int>(frames.size()) - 1);
    char key[96];
    std::snprintf(key, sizeof key, "%llu/%d", static_cast<unsigned long long>(s->job_id), f);
    show_frame(vs, v, key, frames[f]);
    const float cw = (avail.x - gap * (shown - 1)) / shown;
    float dw = cw, dh = dw * frames[f].height / std::max(1, frames[f].width);
    if (dh > avail.y - line - 4) {
      dh = std::max(16.0f, avail.y - line - 4);
      dw = dh * frames[f].width / std::max(1, frames[f].height);
    }
    if (i++) ImGui::SameLine();
    ImGui::BeginGroup();
    const bool stale = st.snap[v] && st.snap[v].get() != s;
    const bool applied = s->guidance_applied;
    if (v == 0) ImGui::TextColored(ImVec4(0.34f, 0.7f, 0.9f, 1), "A  baseline%s", stale ? " (previous run)" : "");
    else
      ImGui::TextColored(ImVec4(0.0f, 0.75f, 0.55f, 1), "B  focal guidance%s%s", applied ? "" : " (off)",
                         stale ? " (previous run)" : "");
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::Image(vs.tex[v].imgui_id(), ImVec2(dw, dh));
    st.video_rect[v][0] = p0.x;
    st.video_rect[v][1] = p0.y;
    st.video_rect[v][2] = dw;
    st.video_rect[v][3] = dh;
    const float hv = st.settings.view.show_hallucination ? overlay_hallucination(*s, f, p0, ImVec2(dw, dh), vmax) : -1;
    if (ImGui::IsItemHovered()) {
      const ImVec2 m = ImGui::GetIO().MousePos;
      const int x = std::clamp(static_cast<int>((m.x - p0.x) / dw * frames[f].width), 0, frames[f].width - 1);
      const int y = std::clamp(static_cast<int>((m.y - p0.y) / dh * frames[f].height), 0, frames[f].height - 1);
      const uint8_t* px = frames[f].at(x, y);
      char hall[128] = "";
      if (hv >= 0) {
        const float v = hallucination_at(*s, f, (m.x - p0.x) / dw, (m.y - p0.y) / dh);
        std::snprintf(hall, sizeof hall, "\nx0 variance at the last step: %.6g (map max %.6g)", v, hv);
      }
      ImGui::SetTooltip("%s, frame %d of %zu\npixel (%d, %d): RGB %d %d %d\nseed %lld, %d steps%s", session::variant_name(s->variant),
                        f, frames.size(), x, y, px[0], px[1], px[2], static_cast<long long>(s->inputs.seed), s->steps_total, hall);
    }
    ImGui::EndGroup();
  }
  ImGui::End();
}

}  // namespace focalscope::gui
