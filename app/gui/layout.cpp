// Default window layout (imgui 1.86 has no docking): three columns tiled over the display, recomputed for the
// current display size on first use or "View > Reset layout". Afterwards ImGui's imgui.ini keeps what the user
// moved, between runs.
#include <imgui.h>

#include <algorithm>

#include "app/gui/panels.h"

namespace focalscope::gui {

const char* pane_title(Pane p) {
  switch (p) {
    case Pane::Inputs: return "Inputs";
    case Pane::Guidance: return "Focal Guidance";
    case Pane::Keywords: return "Keywords";
    case Pane::Grid: return "Layer x step similarity (Fig. 1)";
    case Pane::LargeView: return "Large view";
    case Pane::Curves: return "Layer curves (Fig. 2)";
    case Pane::Video: return "Video A/B";
    case Pane::Export: return "Export & log";
    case Pane::EditInputs: return "Edit";
    case Pane::EditMask: return "Mask (source frame 0)";
    case Pane::EditResult: return "Source | edit";
    case Pane::EditLock: return "Background fidelity and KV-Lock";
    case Pane::Count: break;
  }
  return "?";
}

bool is_edit_pane(Pane p) {
  return p == Pane::EditInputs || p == Pane::EditMask || p == Pane::EditResult || p == Pane::EditLock;
}
static_assert(static_cast<int>(Pane::Count) <= 16, "AppState::pane_rect holds 16 panes");

namespace {
struct Rect {
  float x, y, w, h;
};

// demo: no Export pane (File > Export all / Screenshot remain); the videos get its room.
Rect default_rect(Pane p, ImVec2 d, float top, bool demo) {
  const float H = d.y - top;
  const float c1 = d.x * 0.215f, c2 = d.x * 0.425f;
  const float x2 = c1, x3 = c1 + c2, c3 = d.x - x3;
  switch (p) {
    case Pane::Inputs: return {0, top, c1, H * 0.6f};
    case Pane::Guidance: return {0, top + H * 0.6f, c1, H * 0.4f};
    case Pane::Keywords: return {x2, top, c2, H * 0.12f};
    case Pane::Grid: return {x2, top + H * 0.12f, c2, H * 0.54f};
    case Pane::Curves: return {x2, top + H * 0.66f, c2, H * 0.34f};
    case Pane::LargeView: return {x3, top, c3, H * 0.46f};
    case Pane::Video: return {x3, top + H * 0.46f, c3, H * (demo ? 0.54f : 0.34f)};
    case Pane::Export: return {x3, top + H * 0.80f, c3, H * 0.20f};
    // Edit mode: inputs where the Inputs pane is; the mask painter and the two videos side by side in a row of
    // squarish panes (source frames are usually as wide as tall or wider), the numbers and the plot below them.
    case Pane::EditInputs: return {0, top, c1, H};
    case Pane::EditMask: return {x2, top, d.x * 0.3f, H * 0.55f};
    case Pane::EditResult: return {x2 + d.x * 0.3f, top, d.x - x2 - d.x * 0.3f, H * 0.55f};
    case Pane::EditLock: return {x2, top + H * 0.55f, d.x - x2, H * 0.45f};
    case Pane::Count: break;
  }
  return {0, top, 300, 200};
}
bool overlaps_other_pane(const AppState& st, Pane p) {
  const int i = static_cast<int>(p);
  const float* a = st.pane_rect[i];
  if (a[2] <= 0 || a[3] <= 0) return true;  // not drawn yet: stay opaque
  for (int j = 0; j < static_cast<int>(Pane::Count); ++j) {
    if (j == i) continue;
    const float* b = st.pane_rect[j];
    if (b[2] <= 0 || b[3] <= 0) continue;
    const float ix = std::min(a[0] + a[2], b[0] + b[2]) - std::max(a[0], b[0]);
    const float iy = std::min(a[1] + a[3], b[1] + b[3]) - std::max(a[1], b[1]);
    if (ix > 1.0f && iy > 1.0f) return true;
  }
  return false;
}
}  // namespace

bool begin_pane(AppState& st, Pane p, ImGuiWindowFlags flags) {
  const ImVec2 d = ImGui::GetIO().DisplaySize;
  const float top = ImGui::GetFrameHeight();  // below the main menu bar
  Rect r = default_rect(p, d, top, st.opt.demo);
  const ImGuiCond cond = st.request_reset_layout ? ImGuiCond_Always : ImGuiCond_FirstUseEver;
  ImGui::SetNextWindowPos(ImVec2(r.x, r.y), cond);
  ImGui::SetNextWindowSize(ImVec2(r.w, r.h), cond);
  // Software GL (llvmpipe) pays for every pixel: a pane that overlaps no other pane skips its background quad and
  // lets the frame's clear colour (= the window colour) show through, which cuts the frame's fill work by ~40%.
  // Panes the user moved over each other keep an opaque background.
  if (!overlaps_other_pane(st, p)) ImGui::SetNextWindowBgAlpha(0.0f);
  const bool open = ImGui::Begin(pane_title(p), nullptr, flags | ImGuiWindowFlags_NoCollapse);
  const int i = static_cast<int>(p);
  const ImVec2 pos = ImGui::GetWindowPos(), size = ImGui::GetWindowSize();
  st.pane_rect[i][0] = pos.x;
  st.pane_rect[i][1] = pos.y;
  st.pane_rect[i][2] = size.x;
  st.pane_rect[i][3] = size.y;
  return open;
}

}  // namespace focalscope::gui
