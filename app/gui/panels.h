// The app's panels. Each is an immediate-mode function of AppState: it reads the frame's snapshots and edits
// settings / selection; none of them waits on the worker.
#pragma once
#include <imgui.h>

#include "app/gui/app_state.h"

namespace focalscope::gui {

// The generate / analyze panes, then the Edit mode's (only one mode's panes are drawn at a time).
enum class Pane { Inputs, Guidance, Keywords, Grid, LargeView, Curves, Video, Export, EditInputs, EditMask, EditResult, EditLock, Count };
bool is_edit_pane(Pane p);

// Window title of a pane (also its ImGui id, so the saved layout finds it again).
const char* pane_title(Pane p);
// Begins a pane's window at its default place (first use, or when a layout reset was requested).
bool begin_pane(AppState& st, Pane p, ImGuiWindowFlags flags = 0);

void draw_menu_bar(AppState& st);
void panel_inputs(AppState& st);
void panel_guidance(AppState& st);
void panel_keywords(AppState& st);
void panel_grid(AppState& st);
void panel_large_view(AppState& st);
void panel_curves(AppState& st);
void panel_video(AppState& st);
void panel_export(AppState& st);
// Edit mode (KV-Lock video editing): source, prompts, guidance, Run / Cancel / progress; the reference frame with the
// mask brush and the mask file; source | edit side by side with the mask outline; background fidelity, warnings and
// the lock's alpha over steps.
void panel_edit_inputs(AppState& st);
void panel_edit_mask(AppState& st);
void panel_edit_result(AppState& st);
void panel_edit_lock(AppState& st);
// The edit whose results those panes show: the live one once it has the source, else the last finished one.
const session::EditSnapshot* shown_edit(const AppState& st);
// The mode switch: two tabs in the main menu bar.
void mode_tabs(AppState& st);
// KV-Lock's hallucination metric of A and B (curve over steps with tau, per-frame heatmap): the Large view pane's
// second tab.
void hallucination_section(AppState& st, float height);
// Latent frame f of a hallucination map (F*H*W, row-major) drawn into the rectangle p0 + size, Inferno on [0, vmax];
// translucent (alpha rising with the value) for overlays. Large grids (Wan 480p: 60 x 104) draw as blocks of at most
// ~64 cells per side, each its block's mean.
void draw_hallucination_frame(ImDrawList* dl, const std::vector<float>& map, int64_t f, int64_t H, int64_t W, ImVec2 p0,
                              ImVec2 size, float vmax, bool translucent);

// Exports started from the UI run on a background task (poll each frame for the result message).
void start_export_all(AppState& st);
void poll_exports(AppState& st);

}  // namespace focalscope::gui
