// Main menu bar, with the run status and the measured frame rate on its right.
#include <imgui.h>

#include <cstdio>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

void draw_menu_bar(AppState& st) {
  if (!ImGui::BeginMainMenuBar()) return;
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Export all", nullptr, false, !st.export_task.valid())) start_export_all(st);
    if (ImGui::MenuItem("Screenshot", "F12")) st.screenshot_request = st.export_dir + "/screenshot.png";
    ImGui::Separator();
    if (ImGui::MenuItem("Quit", "Ctrl+Q")) st.want_quit = true;
    ImGui::EndMenu();
  }
  const bool edit = st.settings.view.edit_mode;
  if (ImGui::BeginMenu("Run")) {
    if (ImGui::MenuItem(edit ? "Run edit" : "Run", "Ctrl+R")) edit ? submit_edit(st) : submit_run(st);
    if (ImGui::MenuItem("Cancel", "Esc", false, st.busy())) st.runner->cancel();
    ImGui::MenuItem("Auto re-run", nullptr, &st.settings.view.auto_run);
    ImGui::MenuItem("A/B (baseline + guided)", nullptr, &st.settings.view.ab);
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("View")) {
    if (ImGui::MenuItem("Reset layout")) st.request_reset_layout = true;
    if (st.opt.demo) ImGui::MenuItem("Export panel", nullptr, &st.show_export);
    ImGui::SliderFloat("UI scale", &st.settings.view.font_scale, 0.75f, 2.0f, "%.2f");
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Help")) {
    ImGui::TextUnformatted("FocalScope: look inside a Wan2.1 image-to-video DiT while it denoises.");
    ImGui::TextDisabled("Grid = paper Fig. 1, curves = Fig. 2. Hover anything for exact values.");
    ImGui::TextDisabled("Drop an image on the window to use it as the reference.");
    ImGui::TextDisabled("Ctrl+R run, Esc cancel, F12 screenshot, Space play/pause (video panel).");
    ImGui::TextDisabled("Edit mode: paint the mask on the source's first frame (left drag paints, right drag erases).");
    ImGui::EndMenu();
  }
  mode_tabs(st);

  // Right side: status of both runs + fps.
  char status[256];
  const session::RunSnapshot* a = st.snap[0].get();
  const session::RunSnapshot* b = st.snap[1].get();
  auto part = [](const session::RunSnapshot* s, const char* tag, char* out, size_t n) {
    if (!s || s->job_id == 0 || s->state == session::RunState::Idle) {
      std::snprintf(out, n, "%s %s", tag, s && s->job_id ? "off" : "idle");
    } else if (s->state == session::RunState::Sampling) {
      std::snprintf(out, n, "%s step %d/%d ETA %.1fs", tag, s->steps_done, s->steps_total, s->eta_s);
    } else {
      std::snprintf(out, n, "%s %s", tag, session::run_state_name(s->state));
    }
  };
  char pa[96], pb[96];
  part(a, "A", pa, sizeof pa);
  part(b, "B", pb, sizeof pb);
  std::snprintf(status, sizeof status, "%s   %s   |  %.0f fps", pa, pb, st.stats.current_fps());
  if (edit) {
    const session::EditSnapshot* e = st.edit.snap.get();
    if (!e || e->job_id == 0) std::snprintf(pa, sizeof pa, "edit idle");
    else if (e->state == session::RunState::Sampling)
      std::snprintf(pa, sizeof pa, "edit step %d/%d ETA %.1fs", e->steps_done, e->steps_total, e->eta_s);
    else std::snprintf(pa, sizeof pa, "edit %s", session::run_state_name(e->state));
    std::snprintf(status, sizeof status, "%s   |  %.0f fps", pa, st.stats.current_fps());
  }
  const float w = ImGui::CalcTextSize(status).x;
  ImGui::SameLine(ImGui::GetWindowWidth() - w - 16);
  if (st.busy()) ImGui::TextColored(palette::kWarnText, "%s", status);
  else ImGui::TextDisabled("%s", status);
  ImGui::EndMainMenuBar();
}

void mode_tabs(AppState& st) {
  // Two tabs in the menu bar rather than a row in the Inputs pane: the Generate mode's layout stays as it was.
  bool& edit = st.settings.view.edit_mode;
  ImGui::TextDisabled("|");
  if (ImGui::MenuItem("Generate / analyze", nullptr, !edit)) edit = false;
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("image + prompt -> video, with the layer x step analysis and Focal Guidance");
  if (ImGui::MenuItem("Edit (KV-Lock)", nullptr, edit)) edit = true;
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("source video + painted mask + prompt -> edited video, background kept by KV-Lock");
}

}  // namespace focalscope::gui
