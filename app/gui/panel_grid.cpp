// The layer x step grid (paper Fig. 1): the analysed keyword's similarity map for every layer (rows) and sampled
// denoising step (columns), filling in as steps finish. Weak layers are marked; hovering shows exact values;
// clicking a cell opens it in the large view.
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

void view_controls(AppState& st, const RunSnapshot* s) {
  ImGui::TextUnformatted("Show");
  ImGui::SameLine();
  ImGui::RadioButton("A baseline", &st.view_variant, 0);
  ImGui::SameLine();
  ImGui::RadioButton("B guided", &st.view_variant, 1);
  ImGui::SameLine();
  ImGui::TextDisabled("|");
  ImGui::SameLine();
  int pass = static_cast<int>(st.pass);
  ImGui::BeginDisabled(!s || !s->has_uncond);
  ImGui::RadioButton("cond", &pass, 0);
  ImGui::SameLine();
  ImGui::RadioButton("uncond", &pass, 1);
  ImGui::EndDisabled();
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
    ImGui::SetTooltip("conditional pass (prompt) / unconditional pass (negative prompt; needs CFG != 1)");
  st.pass = static_cast<PassKind>(pass);
  ImGui::SameLine();
  ImGui::TextDisabled("|");
  ImGui::SameLine();
  ImGui::Checkbox("shared scale", &st.settings.view.shared_scale);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("on: one colour scale for all cells (comparable)\noff: each cell min-max normalised (shape only)");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::CalcTextSize("inferno").x + 40);
  const char* names[] = {"viridis", "inferno", "turbo", "gray"};
  int& cm = st.settings.view.colormap;
  cm = std::clamp(cm, 0, 3);
  ImGui::Combo("##cmap", &cm, names, 4);
}

}  // namespace

void panel_grid(AppState& st) {
  if (!begin_pane(st, Pane::Grid)) {
    ImGui::End();
    return;
  }
  const RunSnapshot* s = st.view_snapshot();
  view_controls(st, s);
  if (s && s->state == session::RunState::Idle && s->job_id > 0) {
    ImGui::TextDisabled("B is not run: %s (switch it on in the Focal Guidance panel).", s->stage.c_str());
    ImGui::End();
    return;
  }
  if (!s || s->num_layers == 0) {
    ImGui::TextDisabled("No run yet: choose a reference image and a prompt (or a benchmark preset).");
    ImGui::End();
    return;
  }
  const int slot = st.keyword_slot(*s);
  if (slot < 0) {
    if (s->state == session::RunState::Failed) ImGui::TextColored(palette::kErrorText, "%s", s->error.c_str());
    else if (session::is_active(s->state)) ImGui::TextDisabled("%s...", s->stage.c_str());
    else ImGui::TextDisabled("No similarity maps in this run (the prompt has no content words?).");
    ImGui::End();
    return;
  }
  if (st.pass == PassKind::Uncond && !s->has_uncond) st.pass = PassKind::Cond;
  const auto cmap = static_cast<render::Colormap>(st.settings.view.colormap);
  const int lf = session::latent_frame_of(st.large.frame);
  st.atlas.sync(s, slot, st.pass, lf, cmap, st.settings.view.shared_scale, 96);
  const std::string word = s->keywords[s->capture_keywords[slot]].word;
  ImGui::Text("'%s'", word.c_str());
  ImGui::SameLine();
  ImGui::TextDisabled("%s, %s pass, latent frame %d (pixel frame %d), %d/%zu columns", session::variant_name(s->variant),
                      st.pass == PassKind::Cond ? "cond" : "uncond", lf, st.large.frame, static_cast<int>(s->steps.size()),
                      s->sampled_steps.size());
  if (st.atlas.rows() == 0) {
    ImGui::TextDisabled("waiting for the first sampled step...");
    ImGui::End();
    return;
  }

  const int rows = st.atlas.rows(), cols = st.atlas.cols();
  const float line = ImGui::GetTextLineHeight();
  const float label_w = ImGui::CalcTextSize("L00").x + 10;
  const float bar_w = st.atlas.shared() ? ImGui::CalcTextSize("-0.000").x + 34 : 0;
  const float gap = 2;
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float aspect = static_cast<float>(st.atlas.cell_h()) / std::max(1, st.atlas.cell_w());
  float cw = (avail.x - label_w - bar_w - gap * cols - 8) / cols;
  const float ch_fit = (avail.y - line - 6) / rows - gap;
  cw = std::min(cw, ch_fit / aspect);
  cw = std::max(cw, 10.0f);
  const float ch = cw * aspect;
  const float grid_w = label_w + cols * (cw + gap), grid_h = line + 4 + rows * (ch + gap);

  ImGui::BeginChild("gridscroll", ImVec2(avail.x - bar_w, avail.y), false, ImGuiWindowFlags_HorizontalScrollbar);
  const ImVec2 o = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImGui::InvisibleButton("grid", ImVec2(grid_w, grid_h));
  const bool hovered = ImGui::IsItemHovered();
  const bool clicked = ImGui::IsItemClicked();

  // Column headers: sampler step index; on a two-expert model (Wan2.2) H / L says which expert ran the step.
  for (int c = 0; c < cols; ++c) {
    char b[16];
    const int expert = c < static_cast<int>(s->steps.size()) ? s->steps[c]->expert : -1;
    std::snprintf(b, sizeof b, "%d%s", s->sampled_steps[c], expert == 1 ? " H" : expert == 0 ? " L" : "");
    const float x = o.x + label_w + c * (cw + gap) + cw * 0.5f - ImGui::CalcTextSize(b).x * 0.5f;
    dl->AddText(ImVec2(x, o.y), expert == 1 ? palette::kWeakEdge : palette::kAxis, b);
  }
  const float y0 = o.y + line + 4;
  st.grid_rect[0] = o.x + label_w;
  st.grid_rect[1] = y0;
  st.grid_rect[2] = cols * (cw + gap) - gap;
  st.grid_rect[3] = rows * (ch + gap) - gap;
  const int done_cols = static_cast<int>(s->steps.size());
  const std::vector<int> weak_set = st.weak_layers_for(*s);
  auto is_weak = [&](int l) { return std::find(weak_set.begin(), weak_set.end(), l) != weak_set.end(); };
  for (int l = 0; l < rows; ++l) {
    const bool weak = is_weak(l);
    const float y = y0 + l * (ch + gap);
    char b[16];
    std::snprintf(b, sizeof b, "L%d", l);
    if (weak) dl->AddRectFilled(ImVec2(o.x, y), ImVec2(o.x + 3, y + ch), palette::kWeakEdge);
    dl->AddText(ImVec2(o.x + 6, y + ch * 0.5f - line * 0.5f), weak ? palette::kWeakEdge : palette::kAxis, b);
    for (int c = 0; c < cols; ++c) {
      const ImVec2 p0(o.x + label_w + c * (cw + gap), y), p1(p0.x + cw, p0.y + ch);
      if (st.atlas.has(l, c)) {
        float u0, v0, u1, v1;
        st.atlas.uv(l, c, u0, v0, u1, v1);
        dl->AddImage(st.atlas.texture(), p0, p1, ImVec2(u0, v0), ImVec2(u1, v1));
      } else {
        dl->AddRectFilled(p0, p1, c < done_cols ? IM_COL32(50, 50, 56, 255) : IM_COL32(32, 33, 38, 255));
      }
      if (weak) dl->AddRect(p0, p1, IM_COL32(230, 120, 40, 110));
      if (l == st.large.layer && c == st.large.column) dl->AddRect(ImVec2(p0.x - 1, p0.y - 1), ImVec2(p1.x + 1, p1.y + 1), palette::kSelect, 0, 0, 2);
    }
  }

  // Hover / click.
  if (hovered) {
    const ImVec2 m = ImGui::GetIO().MousePos;
    const int c = static_cast<int>(std::floor((m.x - o.x - label_w) / (cw + gap)));
    const int l = static_cast<int>(std::floor((m.y - y0) / (ch + gap)));
    if (c >= 0 && c < cols && l >= 0 && l < rows) {
      const ImVec2 p0(o.x + label_w + c * (cw + gap), y0 + l * (ch + gap));
      dl->AddRect(p0, ImVec2(p0.x + cw, p0.y + ch), palette::kCursor);
      ImGui::BeginTooltip();
      ImGui::Text("layer %d, step %d (column %d)%s", l, s->sampled_steps[c], c, is_weak(l) ? "  [weak]" : "");
      const SimilarityMap* mp = s->map(slot, l, c);
      if (mp && mp->has(st.pass)) {
        const auto& stt = mp->stats(st.pass);
        ImGui::Text("timestep %.3f%s", s->steps[c]->timestep,
                    s->steps[c]->expert == 1 ? "  (high-noise expert)" : s->steps[c]->expert == 0 ? "  (low-noise expert)" : "");
        ImGui::Text("Moran's I %.6f (row-standardised %.6f)", stt.morans_i, stt.morans_i_row_standardised);
        ImGui::Text("std (min-max) %.6f", stt.std_minmax);
        const int u = std::clamp(static_cast<int>((m.x - p0.x) / cw * mp->width), 0, mp->width - 1);
        const int v = std::clamp(static_cast<int>((m.y - p0.y) / ch * mp->height), 0, mp->height - 1);
        const int f = std::clamp(lf, 0, mp->frames - 1);
        const float val = mp->values(st.pass)[static_cast<size_t>(f) * mp->frame_size() + static_cast<size_t>(v) * mp->width + u];
        ImGui::Text("frame %d, u %d, v %d: %.6f", f, u, v, val);
        ImGui::TextDisabled("map range [%.6f, %.6f] over %d frames", mp->vmin(st.pass), mp->vmax(st.pass), mp->frames);
      } else {
        ImGui::TextDisabled(c < done_cols ? "not captured" : "step not reached yet");
      }
      ImGui::TextDisabled("click: large view");
      ImGui::EndTooltip();
      if (clicked && c < done_cols) {
        st.large.layer = l;
        st.large.column = c;
        st.large.follow_latest = c == cols - 1;
      }
    }
  }
  ImGui::EndChild();
  if (st.atlas.shared()) {
    ImGui::SameLine();
    ImGui::BeginGroup();
    ImGui::Dummy(ImVec2(0, line + 4));
    colorbar_widget("gridbar", cmap, st.atlas.vmin(), st.atlas.vmax(), std::min(grid_h, avail.y) - line - 8, "cos");
    ImGui::EndGroup();
  }
  ImGui::End();
}

}  // namespace focalscope::gui
