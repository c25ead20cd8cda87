// Edit mode, centre pane: the source's frame 0 as large as the pane allows, with the mask painted over it in a
// translucent colour. Left drag paints, right drag erases (a disc of the brush radius, in source pixels); Clear,
// Invert; or load a mask file (image, mask video or folder: it must match the video's size). The mask is a byte plane
// edited here on the UI thread; its texture is re-uploaded only on frames where a stroke changed it.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"
#include "app/session/edit_mask.h"

namespace focalscope::gui {

namespace {

void upload_textures(EditState& e) {
  if (e.ref_dirty) {
    if (e.reference) e.ref_tex.upload(*e.reference, /*nearest=*/true);  // crisp pixels: the brush works in them
    else e.ref_tex.reset();
    e.ref_dirty = false;
  }
  if (e.mask_dirty) {
    // White where the mask is set (frame 0), transparent elsewhere; the overlay colour is the draw call's tint, so
    // changing it costs no upload.
    const render::Mask& m = e.mask;
    if (m.width > 0 && m.height > 0 && !m.data.empty()) {
      std::vector<uint8_t> rgba(static_cast<size_t>(m.width) * m.height * 4, 0);
      const uint8_t* p = m.frame(0);
      for (size_t i = 0; i < static_cast<size_t>(m.width) * m.height; ++i)
        if (p[i]) rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = rgba[i * 4 + 3] = 255;
      e.mask_tex.upload_rgba(rgba.data(), m.width, m.height, /*nearest=*/true);
    } else {
      e.mask_tex.reset();
    }
    e.mask_dirty = false;
  }
}

// After a stroke on a loaded file's mask, errors should not name the file as if it were unchanged.
void note_painted(EditState& e) {
  static const std::string tag = " (painted over)";
  if (e.mask_name != "the painted mask" &&
      (e.mask_name.size() < tag.size() || e.mask_name.compare(e.mask_name.size() - tag.size(), tag.size(), tag) != 0))
    e.mask_name += tag;
}

}  // namespace

void panel_edit_mask(AppState& st) {
  if (!begin_pane(st, Pane::EditMask)) {
    ImGui::End();
    return;
  }
  EditState& e = st.edit;
  auto& view = st.settings.view;
  upload_textures(e);
  const bool has_mask = e.reference && e.mask.width > 0;

  // ---- tools ----
  const ImGuiStyle& sty = ImGui::GetStyle();
  const float buttons = ImGui::CalcTextSize("ClearInvert").x + sty.FramePadding.x * 4 + sty.ItemSpacing.x * 3 +
                        ImGui::GetFrameHeight() + ImGui::CalcTextSize("Brush").x + sty.ItemInnerSpacing.x;
  ImGui::SetNextItemWidth(std::max(80.0f, ImGui::GetContentRegionAvail().x - buttons - sty.ItemSpacing.x));
  const float max_r = e.reference ? std::max(4.0f, std::max(e.reference->width, e.reference->height) / 4.0f) : 64.0f;
  ImGui::SliderFloat("Brush", &view.brush_radius, 0.5f, max_r, "radius %.1f px");
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("brush radius in source pixels\nleft drag on the frame paints, right drag erases");
  ImGui::SameLine();
  ImGui::BeginDisabled(!has_mask);
  if (ImGui::Button("Clear")) {
    session::clear_mask(e.mask);
    note_painted(e);
    e.mask_dirty = true;
  }
  ImGui::SameLine();
  if (ImGui::Button("Invert")) {
    session::invert_mask(e.mask);
    note_painted(e);
    e.mask_dirty = true;
  }
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::ColorEdit4("##maskcolor", view.mask_color, ImGuiColorEditFlags_NoInputs | ImGuiColorEditFlags_AlphaBar);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("overlay colour of the mask (display only)");

  auto& ed = st.settings.edit;
  const ImVec2 btn = ImGui::CalcTextSize("Load mask");
  ImGui::SetNextItemWidth(-btn.x - sty.FramePadding.x * 2 - sty.ItemSpacing.x);
  bool load = ImGui::InputTextWithHint("##maskfile", "mask file: PNG/JPEG, mask video or folder (white = edit)", &ed.mask_path,
                                       ImGuiInputTextFlags_EnterReturnsTrue);
  load = ImGui::IsItemDeactivatedAfterEdit() || load;
  ImGui::SameLine();
  if (ImGui::Button("Load mask") || load) load_edit_mask_async(st, ed.mask_path);

  // ---- the frame ----
  const float status_h = ImGui::GetTextLineHeightWithSpacing() * 2;
  ImVec2 avail = ImGui::GetContentRegionAvail();
  avail.y -= status_h;
  if (!e.ref_tex.valid() || avail.x < 16 || avail.y < 16) {
    ImGui::TextDisabled(e.video_pending.valid() ? "loading the source..." : "Load a source video (Edit pane) to paint the mask on its first frame.");
    std::fill(e.ref_rect, e.ref_rect + 4, 0.0f);
    ImGui::End();
    return;
  }
  const float iw = static_cast<float>(e.ref_tex.width()), ih = static_cast<float>(e.ref_tex.height());
  const float scale = std::min(avail.x / iw, avail.y / ih);
  const ImVec2 size(iw * scale, ih * scale);
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton("canvas", size, ImGuiButtonFlags_MouseButtonLeft | ImGuiButtonFlags_MouseButtonRight);
  const bool hovered = ImGui::IsItemHovered(), active = ImGui::IsItemActive();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p1(p0.x + size.x, p0.y + size.y);
  dl->AddImage(e.ref_tex.imgui_id(), p0, p1);
  const ImVec4 mc(view.mask_color[0], view.mask_color[1], view.mask_color[2], view.mask_color[3]);
  if (e.mask_tex.valid()) dl->AddImage(e.mask_tex.imgui_id(), p0, p1, ImVec2(0, 0), ImVec2(1, 1), ImGui::ColorConvertFloat4ToU32(mc));
  dl->AddRect(p0, p1, palette::kAxis);
  e.ref_rect[0] = p0.x;
  e.ref_rect[1] = p0.y;
  e.ref_rect[2] = size.x;
  e.ref_rect[3] = size.y;

  const ImVec2 m = ImGui::GetIO().MousePos;
  const float sx = (m.x - p0.x) / scale, sy = (m.y - p0.y) / scale;  // source pixels
  if (active && has_mask) {
    const bool erase = ImGui::IsMouseDown(ImGuiMouseButton_Right) && !ImGui::IsMouseDown(ImGuiMouseButton_Left);
    if (!e.stroke) {
      e.last_x = sx;
      e.last_y = sy;
      e.stroke = true;
    }
    if (session::paint_stroke(e.mask, e.last_x, e.last_y, sx, sy, view.brush_radius, erase ? 0 : 1)) {
      e.mask_dirty = true;
      note_painted(e);
    }
    e.last_x = sx;
    e.last_y = sy;
  } else {
    e.stroke = false;
  }
  if (hovered || active) {
    dl->AddCircle(m, view.brush_radius * scale, IM_COL32(255, 255, 255, 220), 32, 1.5f);
    if (hovered && !active) {
      const int x = std::clamp(static_cast<int>(sx), 0, static_cast<int>(iw) - 1);
      const int y = std::clamp(static_cast<int>(sy), 0, static_cast<int>(ih) - 1);
      const bool in = has_mask && e.mask.frame(0)[static_cast<size_t>(y) * e.mask.width + x] != 0;
      ImGui::SetTooltip("pixel (%d, %d): %s\nleft drag paints, right drag erases (radius %.1f px)", x, y,
                        in ? "edit (mask)" : "background (kept)", view.brush_radius);
    }
  }

  // ---- status ----
  if (has_mask) {
    const double frac = session::mask_fraction(e.mask);
    ImGui::TextDisabled("mask: %.1f%% of the frame marked for editing, %d frame%s", 100 * frac, e.mask.frames,
                        e.mask.frames == 1 ? " (every frame)" : "s");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", e.mask_name.c_str());
    if (frac == 0) ImGui::TextColored(palette::kWarnText, "Paint the region to edit (left drag), or load a mask file.");
    else if (frac == 1) ImGui::TextColored(palette::kWarnText, "The mask covers everything: there is no background to keep.");
  }
  ImGui::End();
}

}  // namespace focalscope::gui
