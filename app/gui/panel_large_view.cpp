// Large view of one grid cell: the similarity map over the video frame (the generated frame once decoded, the
// reference image before), with opacity, colour bar, frame scrubber and cond/uncond switch. Hover: exact value
// of the token under the mouse.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

using session::PassKind;
using session::RunSnapshot;
using session::SimilarityMap;

namespace {

// The selected grid cell's map over the video frame (the pane's first tab).
void large_map(AppState& st) {
  const RunSnapshot* s = st.view_snapshot();
  const int slot = s ? st.keyword_slot(*s) : -1;
  if (!s || slot < 0 || s->steps.empty()) {
    ImGui::TextDisabled("Click a cell of the layer x step grid to see its map here.");
    return;
  }
  auto& lv = st.large;
  const int ncols = static_cast<int>(s->steps.size());
  if (lv.layer < 0 || lv.layer >= s->num_layers) {
    const std::vector<int> w = st.weak_layers_for(*s);
    lv.layer = w.empty() ? s->num_layers / 2 : w[0];
  }
  if (lv.column < 0 || lv.follow_latest || lv.column >= ncols) lv.column = ncols - 1;
  const SimilarityMap* m = s->map(slot, lv.layer, lv.column);
  const int pixel_frames = s->frames_total > 0 ? s->frames_total : 1;
  lv.frame = std::clamp(lv.frame, 0, pixel_frames - 1);

  // ---- controls ----
  const std::string word = s->keywords[s->capture_keywords[slot]].word;
  const std::vector<int> weak_set = st.weak_layers_for(*s);
  const bool weak = std::find(weak_set.begin(), weak_set.end(), lv.layer) != weak_set.end();
  ImGui::Text("'%s'  layer %d%s  step %d", word.c_str(), lv.layer, weak ? " [weak]" : "", s->steps[lv.column]->step);
  ImGui::SameLine();
  ImGui::TextDisabled("(%s)", session::variant_name(s->variant));
  const float w = ImGui::GetContentRegionAvail().x;
  ImGui::SetNextItemWidth(w * 0.3f);
  ImGui::SliderInt("layer", &lv.layer, 0, s->num_layers - 1);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(w * 0.3f);
  int col = lv.column;
  char colfmt[32];
  std::snprintf(colfmt, sizeof colfmt, "step %d", s->steps[lv.column]->step);
  if (ImGui::SliderInt("##col", &col, 0, ncols - 1, colfmt)) {
    lv.column = col;
    lv.follow_latest = col == ncols - 1;
  }
  ImGui::SameLine();
  ImGui::Checkbox("latest", &lv.follow_latest);
  ImGui::SetNextItemWidth(w * 0.3f);
  ImGui::SliderFloat("opacity", &st.settings.view.overlay_opacity, 0.0f, 1.0f, "%.2f");
  ImGui::SameLine();
  int pass = static_cast<int>(st.pass);
  ImGui::BeginDisabled(!s->has_uncond);
  ImGui::RadioButton("cond##lv", &pass, 0);
  ImGui::SameLine();
  ImGui::RadioButton("uncond##lv", &pass, 1);
  ImGui::EndDisabled();
  st.pass = static_cast<PassKind>(pass);
  ImGui::SetNextItemWidth(-ImGui::CalcTextSize("frame").x - 8);
  char ffmt[48];
  std::snprintf(ffmt, sizeof ffmt, "%%d / %d  (latent %d)", pixel_frames - 1, session::latent_frame_of(lv.frame));
  ImGui::SliderInt("frame", &lv.frame, 0, pixel_frames - 1, ffmt);

  if (!m || !m->has(st.pass)) {
    ImGui::TextDisabled("no map for this cell yet");
    return;
  }
  const auto cmap = static_cast<render::Colormap>(st.settings.view.colormap);
  const int lf = std::clamp(session::latent_frame_of(lv.frame), 0, m->frames - 1);

  // ---- textures ----
  const render::Image* base = nullptr;
  const bool have_video = s->frames && !s->frames->empty();
  if (have_video) base = &(*s->frames)[std::min<size_t>(lv.frame, s->frames->size() - 1)];
  else if (s->reference) base = s->reference.get();
  char key[160];
  std::snprintf(key, sizeof key, "%llu/%d/%d/%d", static_cast<unsigned long long>(s->job_id), static_cast<int>(s->variant),
                have_video ? lv.frame : -1, base ? base->width : 0);
  if (base && lv.frame_key != key) {
    lv.frame_tex.upload(*base, false);
    lv.frame_key = key;
  }
  std::snprintf(key, sizeof key, "%llu/%d/%d/%d/%d/%d/%d/%d", static_cast<unsigned long long>(s->job_id),
                static_cast<int>(s->variant), slot, lv.layer, lv.column, lf, static_cast<int>(st.pass), static_cast<int>(cmap));
  if (lv.map_key != key) {
    const float* v = m->values(st.pass).data() + static_cast<size_t>(lf) * m->frame_size();
    render::Image rgb = render::apply_colormap(v, m->width, m->height, m->vmin(st.pass), m->vmax(st.pass), cmap);
    lv.map_tex.upload(rgb, true);
    lv.map_key = key;
  }

  // ---- image + overlay ----
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float bar_w = ImGui::CalcTextSize("-0.000").x + 34;
  const float fw = s->width > 0 ? s->width : m->width, fh = s->height > 0 ? s->height : m->height;
  float dw = avail.x - bar_w, dh = dw * fh / fw;
  if (dh > avail.y - 4) {
    dh = avail.y - 4;
    dw = dh * fw / fh;
  }
  dw = std::max(dw, 16.0f);
  dh = std::max(dh, 16.0f);
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton("view", ImVec2(dw, dh));
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p1(p0.x + dw, p0.y + dh);
  st.view_rect[0] = p0.x;
  st.view_rect[1] = p0.y;
  st.view_rect[2] = dw;
  st.view_rect[3] = dh;
  if (lv.frame_tex.valid()) dl->AddImage(lv.frame_tex.imgui_id(), p0, p1);
  else dl->AddRectFilled(p0, p1, IM_COL32(0, 0, 0, 255));
  const int alpha = static_cast<int>(std::clamp(st.settings.view.overlay_opacity, 0.0f, 1.0f) * 255.0f + 0.5f);
  dl->AddImage(lv.map_tex.imgui_id(), p0, p1, ImVec2(0, 0), ImVec2(1, 1), IM_COL32(255, 255, 255, alpha));
  dl->AddRect(p0, p1, palette::kAxis);
  if (ImGui::IsItemHovered()) {
    const ImVec2 mp = ImGui::GetIO().MousePos;
    const int u = std::clamp(static_cast<int>((mp.x - p0.x) / dw * m->width), 0, m->width - 1);
    const int v = std::clamp(static_cast<int>((mp.y - p0.y) / dh * m->height), 0, m->height - 1);
    const float cx = dw / m->width, cy = dh / m->height;
    dl->AddRect(ImVec2(p0.x + u * cx, p0.y + v * cy), ImVec2(p0.x + (u + 1) * cx, p0.y + (v + 1) * cy), palette::kCursor);
    const float val = m->values(st.pass)[static_cast<size_t>(lf) * m->frame_size() + static_cast<size_t>(v) * m->width + u];
    ImGui::BeginTooltip();
    ImGui::Text("frame %d (latent %d), u %d, v %d", lv.frame, lf, u, v);
    ImGui::Text("similarity %.6f", val);
    ImGui::TextDisabled("layer %d, step %d, '%s', %s", lv.layer, s->steps[lv.column]->step, word.c_str(),
                        st.pass == PassKind::Cond ? "cond" : "uncond");
    ImGui::TextDisabled("Moran's I %.6f, std %.6f", m->stats(st.pass).morans_i, m->stats(st.pass).std_minmax);
    ImGui::EndTooltip();
  }
  if (!have_video) {
    dl->AddText(ImVec2(p0.x + 6, p1.y - ImGui::GetTextLineHeight() - 4), IM_COL32(255, 255, 255, 200),
                "under the reference image (video not decoded yet)");
  }
  ImGui::SameLine();
  colorbar_widget("lvbar", cmap, m->vmin(st.pass), m->vmax(st.pass), dh, "cos");
}

}  // namespace

void panel_large_view(AppState& st) {
  if (!begin_pane(st, Pane::LargeView)) {
    ImGui::End();
    return;
  }
  // Two views share the pane: the selected map, and KV-Lock's hallucination metric (a script's `hallucination on`
  // selects the second).
  if (ImGui::BeginTabBar("##large_tabs")) {
    const int req = st.large_tab_request;
    if (ImGui::BeginTabItem("Map", nullptr, req == 0 ? ImGuiTabItemFlags_SetSelected : 0)) {
      large_map(st);
      st.large_tab_shown = 0;
      ImGui::EndTabItem();
    }
    if (ImGui::BeginTabItem("Hallucination (sigma2)", nullptr, req == 1 ? ImGuiTabItemFlags_SetSelected : 0)) {
      hallucination_section(st, ImGui::GetContentRegionAvail().y);
      st.large_tab_shown = 1;
      ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
  }
  st.large_tab_request = -1;
  ImGui::End();
}

}  // namespace focalscope::gui
