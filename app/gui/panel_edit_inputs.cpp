// Edit mode, left pane: the source video (path + Load), the edit and source prompts, the guidance mode (the KV-Lock
// variants or off = the plain edit, optionally composed with Focal Guidance), the sampling settings the Generate mode
// shares, Run / Cancel with progress and ETA, and the last one-line error.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

using session::EditSnapshot;
using session::RunState;

namespace {

// A path field with a button on its right; true when the button is pressed or Enter / focus-out commits an edit.
bool path_row(const char* id, const char* hint, std::string& path, const char* button) {
  const ImGuiStyle& sty = ImGui::GetStyle();
  ImGui::SetNextItemWidth(-ImGui::CalcTextSize(button).x - sty.FramePadding.x * 2 - sty.ItemSpacing.x);
  bool go = ImGui::InputTextWithHint(id, hint, &path, ImGuiInputTextFlags_EnterReturnsTrue);
  go = ImGui::IsItemDeactivatedAfterEdit() || go;
  ImGui::SameLine();
  return ImGui::Button(button) || go;
}

void edit_progress(const AppState& st) {
  const EditSnapshot* s = st.edit.snap.get();
  if (!s || s->job_id == 0) {
    ImGui::TextDisabled("no edit run yet");
    return;
  }
  char overlay[160];
  if (s->state == RunState::Sampling)
    std::snprintf(overlay, sizeof overlay, "step %d/%d  %.1f s  ETA %.1f s", s->steps_done, s->steps_total, s->elapsed_s, s->eta_s);
  else if (s->state == RunState::Done)
    std::snprintf(overlay, sizeof overlay, "done  %d steps  %.2f s", s->steps_total, s->elapsed_s);
  else
    std::snprintf(overlay, sizeof overlay, "%s", s->stage.empty() ? session::run_state_name(s->state) : s->stage.c_str());
  const ImVec4 col = s->state == RunState::Failed      ? ImVec4(0.75f, 0.25f, 0.2f, 1)
                     : s->state == RunState::Cancelled ? ImVec4(0.45f, 0.45f, 0.45f, 1)
                                                       : ImVec4(0.8f, 0.35f, 0.6f, 1);
  ImGui::PushStyleColor(ImGuiCol_PlotHistogram, col);
  ImGui::ProgressBar(static_cast<float>(s->progress()), ImVec2(-1, 0), overlay);
  ImGui::PopStyleColor();
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("edit (%s): %s\nsteps %d / %d, elapsed %.3f s, ETA %.3f s%s%s", s->mode.c_str(),
                      session::run_state_name(s->state), s->steps_done, s->steps_total, s->elapsed_s, s->eta_s,
                      s->model_name.empty() ? "" : "\nmodel: ", s->model_name.c_str());
}

}  // namespace

void panel_edit_inputs(AppState& st) {
  if (!begin_pane(st, Pane::EditInputs)) {
    ImGui::End();
    return;
  }
  auto& ed = st.settings.edit;
  EditState& e = st.edit;

  // ---- source ----
  ImGui::TextDisabled("Source video");
  if (path_row("##editvideo", "video file or folder of PNG/JPEG frames", ed.video_path, "Load"))
    load_edit_video_async(st, ed.video_path);
  if (e.video_pending.valid()) ImGui::TextDisabled("loading...");
  else if (e.reference)
    ImGui::TextDisabled("%d x %d; frame 0 is the reference (Mask pane)", e.reference->width, e.reference->height);
  else ImGui::TextDisabled("drop a video or a frame folder on the window");

  // ---- prompts ----
  ImGui::Spacing();
  ImGui::TextDisabled("Edit prompt");
  ImGui::InputTextMultiline("##editprompt", &ed.prompt, ImVec2(-1, ImGui::GetTextLineHeight() * 3.2f));
  if (ed.prompt.find_first_not_of(" \t\r\n") == std::string::npos)
    ImGui::TextColored(palette::kWarnText, "Describe what the edited video shows.");
  ImGui::TextDisabled("Source prompt (optional)");
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##sourceprompt", "(the edit prompt)", &ed.source_prompt);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("what the source shows: the text of KV-Lock's source pass");

  // ---- guidance ----
  ImGui::Spacing();
  ImGui::TextDisabled("Guidance");
  ImGui::SetNextItemWidth(-1);
  const std::string shown = ed.guidance == "off" ? "off (plain edit)" : ed.guidance;
  if (ImGui::BeginCombo("##editguidance", shown.c_str())) {
    for (const auto& t : session::edit_guidance_tokens()) {
      const std::string label = t == "off" ? "off (plain edit)" : t;
      if (ImGui::Selectable(label.c_str(), t == ed.guidance)) ed.guidance = t;
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", session::edit_guidance_help(t));
    }
    ImGui::EndCombo();
  }
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", session::edit_guidance_help(ed.guidance));
  ImGui::Checkbox("compose with Focal Guidance", &ed.compose_fg);
  ImGui::SameLine();
  help_marker("FSG + Attention Cache on top of the edit (\"fg+kvlock\"), with the Focal Guidance pane's strengths, "
              "thresholds and guided words (Generate mode). A model without a CLIP text tower needs guided words.");

  // ---- sampling (shared with the Generate mode's Inputs pane) ----
  auto& in = st.settings.inputs;
  if (ImGui::TreeNode("Sampling")) {
    const float field_w = ImGui::GetContentRegionAvail().x - ImGui::CalcTextSize("Frames ").x;
    ImGui::SetNextItemWidth(field_w - ImGui::CalcTextSize("Random").x - ImGui::GetStyle().FramePadding.x * 2 -
                            ImGui::GetStyle().ItemSpacing.x);
    ImGui::InputScalar("##editseed", ImGuiDataType_S64, &in.seed);
    ImGui::SameLine();
    if (ImGui::Button("Random")) in.seed = static_cast<int64_t>(std::random_device{}() & 0x7fffffff);
    ImGui::SameLine();
    ImGui::TextUnformatted("Seed");
    ImGui::SetNextItemWidth(field_w);
    ImGui::SliderInt("Steps", &in.steps, 0, 60, in.steps <= 0 ? "model default" : "%d");
    ImGui::SetNextItemWidth(field_w);
    float cfg = static_cast<float>(in.cfg);
    if (ImGui::SliderFloat("CFG", &cfg, -0.05f, 10.0f, in.cfg < 0 ? "model default" : "%.2f")) in.cfg = cfg < 0 ? -1 : cfg;
    int k = in.frames > 0 ? (in.frames - 1) / 4 : 0;
    ImGui::SetNextItemWidth(field_w);
    if (ImGui::SliderInt("Frames", &k, 0, 20, k == 0 ? "model default" : "")) in.frames = k == 0 ? 0 : 1 + 4 * k;
    if (k > 0) {
      ImGui::SameLine();
      ImGui::Text("%d", in.frames);
    }
    ImGui::TextDisabled("model: %s", in.model_dir.empty() ? "embedded default" : in.model_dir.c_str());
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("chosen in the Generate mode's Inputs pane");
    ImGui::TreePop();
  }

  // ---- run ----
  ImGui::Separator();
  const bool busy = st.busy();
  if (ImGui::Button(busy ? "Re-run edit" : "Run edit")) submit_edit(st);
  ImGui::SameLine();
  ImGui::BeginDisabled(!busy);
  if (ImGui::Button("Cancel")) st.runner->cancel();
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::TextDisabled("%s", session::edit_mode_string(ed).c_str());
  edit_progress(st);
  if (!e.error.empty()) {
    ImGui::PushTextWrapPos(0);
    ImGui::TextColored(palette::kErrorText, "%s", e.error.c_str());
    ImGui::PopTextWrapPos();
  }
  ImGui::End();
}

}  // namespace focalscope::gui
