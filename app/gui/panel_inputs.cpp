// Inputs: reference image (path + drag-and-drop + thumbnail), benchmark presets, prompt, negative prompt, seed,
// steps, CFG, model folder; Run / Cancel, auto-run, A/B; per-variant progress with step and ETA.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <random>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

using session::RunSnapshot;
using session::RunState;

namespace {

void progress_row(const AppState& st, int v) {
  const RunSnapshot* s = st.snap[v].get();
  const char* name = v == 0 ? "A baseline" : "B guided  ";
  if (!s || (s->state == RunState::Idle && s->job_id == 0)) {
    ImGui::TextDisabled("%s  not run yet", name);
    return;
  }
  if (s->state == RunState::Idle) {
    ImGui::TextDisabled("%s  %s", name, s->stage.c_str());
    return;
  }
  char overlay[160];
  if (s->state == RunState::Sampling)
    std::snprintf(overlay, sizeof overlay, "step %d/%d  %.1f s  ETA %.1f s", s->steps_done, s->steps_total, s->elapsed_s,
                  s->eta_s);
  else if (s->state == RunState::Done)
    std::snprintf(overlay, sizeof overlay, "done  %d steps  %.2f s", s->steps_total,
                  s->seconds_encode + s->seconds_sample + s->seconds_decode);
  else if (s->state == RunState::Failed)
    std::snprintf(overlay, sizeof overlay, "failed");
  else
    std::snprintf(overlay, sizeof overlay, "%s", s->stage.empty() ? session::run_state_name(s->state) : s->stage.c_str());
  ImGui::TextUnformatted(name);
  ImGui::SameLine();
  if (s->state == RunState::Failed) ImGui::PushStyleColor(ImGuiCol_PlotHistogram, ImVec4(0.75f, 0.25f, 0.2f, 1));
  else if (s->state == RunState::Cancelled) ImGui::PushStyleColor(ImGuiCol_PlotHistogram, ImVec4(0.45f, 0.45f, 0.45f, 1));
  else ImGui::PushStyleColor(ImGuiCol_PlotHistogram, v == 0 ? ImVec4(0.34f, 0.6f, 0.85f, 1) : ImVec4(0.0f, 0.62f, 0.45f, 1));
  ImGui::ProgressBar(static_cast<float>(s->progress()), ImVec2(-1, 0), overlay);
  ImGui::PopStyleColor();
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::Text("%s: %s", session::variant_name(s->variant), session::run_state_name(s->state));
    ImGui::Text("steps %d / %d, elapsed %.3f s, ETA %.3f s", s->steps_done, s->steps_total, s->elapsed_s, s->eta_s);
    ImGui::Text("load %.3f s, encode %.3f s, sample %.3f s, decode %.3f s", s->seconds_load, s->seconds_encode,
                s->seconds_sample, s->seconds_decode);
    if (!s->model_name.empty()) ImGui::Text("model: %s", s->model_name.c_str());
    if (s->width > 0)
      ImGui::Text("video %dx%d, %d frames @ %d fps; latent %dx%dx%d; CFG %.2f", s->width, s->height, s->frames_total,
                  s->fps, s->lat_f, s->lat_h, s->lat_w, s->cfg);
    ImGui::EndTooltip();
  }
}

float radio_width(const char* label) {
  return ImGui::GetFrameHeight() + ImGui::GetStyle().ItemInnerSpacing.x + ImGui::CalcTextSize(label, nullptr, true).x;
}

float radios_width(std::initializer_list<const char*> labels) {
  float w = 0;
  for (const char* l : labels) w += radio_width(l) + ImGui::GetStyle().ItemSpacing.x;
  return w - ImGui::GetStyle().ItemSpacing.x;
}

// Keeps the next radio button on this line when it fits the pane, else wraps (narrow panes, large fonts).
void same_line_if_fits(const char* next_label) {
  const ImGuiStyle& sty = ImGui::GetStyle();
  const float w = radio_width(next_label);
  const float end = ImGui::GetItemRectMax().x + sty.ItemSpacing.x + w;
  if (end <= ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x) ImGui::SameLine();
}

// LoRAs merged into the DiT at load (Wan models; engine/formats/lora.h): one row per file with its strength, a
// remove button, and a path field to add one. A strength is committed when the slider is released (each change
// reloads the model and re-runs, so not on every drag event). What loading said (keys merged / unmatched) is in the
// tooltip of the model line below.
void draw_lora_list(AppState& st) {
  auto& loras = st.settings.inputs.loras;
  if (!ImGui::TreeNodeEx("loras", loras.empty() ? 0 : ImGuiTreeNodeFlags_DefaultOpen, "LoRAs (%d)", static_cast<int>(loras.size())))
    return;
  int remove = -1;
  for (size_t i = 0; i < loras.size(); ++i) {
    ImGui::PushID(static_cast<int>(i));
    const std::string& p = loras[i].path;
    const size_t slash = p.find_last_of('/');
    const std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
    if (ImGui::SmallButton("x")) remove = static_cast<int>(i);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("remove this LoRA (reloads the model)");
    ImGui::SameLine();
    float strength = static_cast<float>(loras[i].strength);
    ImGui::SetNextItemWidth(std::max(60.0f, ImGui::GetContentRegionAvail().x * 0.45f));
    ImGui::SliderFloat("##strength", &strength, -2.0f, 2.0f, "%.2f");
    if (ImGui::IsItemDeactivatedAfterEdit()) loras[i].strength = static_cast<double>(strength);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("strength %.3f: the LoRA's delta is scaled by this when merged\n(ctrl+click to type a value)",
                        loras[i].strength);
    ImGui::SameLine();
    ImGui::TextUnformatted(name.c_str());
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", p.c_str());
    ImGui::PopID();
  }
  if (remove >= 0) loras.erase(loras.begin() + remove);
  ImGui::SetNextItemWidth(-1);
  if (ImGui::InputTextWithHint("##addlora", "add a LoRA file (.safetensors), Enter", &st.lora_edit,
                               ImGuiInputTextFlags_EnterReturnsTrue) &&
      !st.lora_edit.empty()) {
    loras.push_back({st.lora_edit, 1.0});
    st.lora_edit.clear();
  }
  ImGui::TreePop();
}

}  // namespace

void panel_inputs(AppState& st) {
  if (!begin_pane(st, Pane::Inputs)) {
    ImGui::End();
    return;
  }
  auto& in = st.settings.inputs;

  // ---- reference image ----
  ImGui::TextDisabled("Reference image");
  ImGui::SetNextItemWidth(-ImGui::CalcTextSize("Load").x - ImGui::GetStyle().FramePadding.x * 2 - ImGui::GetStyle().ItemSpacing.x);
  bool enter = ImGui::InputTextWithHint("##image", "PNG/JPEG path, or drop a file on the window", &in.image_path,
                                        ImGuiInputTextFlags_EnterReturnsTrue);
  bool load = enter || ImGui::IsItemDeactivatedAfterEdit();
  ImGui::SameLine();
  load = ImGui::Button("Load") || load;
  if (load) load_image_async(st, in.image_path);

  if (st.image.thumb_dirty) {
    if (st.image.pixels) st.image.thumb.upload(*st.image.pixels, false);
    else st.image.thumb.reset();
    st.image.thumb_dirty = false;
  }
  const float thumb_h = std::min(ImGui::GetTextLineHeight() * 6.5f, ImGui::GetContentRegionAvail().x * 0.4f);
  if (st.image.thumb.valid()) {
    const float aspect = static_cast<float>(st.image.thumb.width()) / std::max(1, st.image.thumb.height());
    ImGui::Image(st.image.thumb.imgui_id(), ImVec2(thumb_h * aspect, thumb_h));
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("%s\n%d x %d pixels", st.image.path.c_str(), st.image.pixels ? st.image.pixels->width : 0,
                        st.image.pixels ? st.image.pixels->height : 0);
    ImGui::SameLine();
  } else {
    ImGui::Dummy(ImVec2(0, 0));
  }
  ImGui::BeginGroup();
  if (st.image.pending.valid()) ImGui::TextDisabled("loading...");
  if (!st.image.error.empty()) {
    ImGui::PushTextWrapPos(0);
    ImGui::TextColored(palette::kErrorText, "%s", st.image.error.c_str());
    ImGui::PopTextWrapPos();
  }
  if (!st.presets.empty()) {
    ImGui::TextDisabled("Benchmark preset");
    ImGui::SetNextItemWidth(-1);
    const std::string cur = st.preset >= 0 ? st.presets[st.preset].id : std::string("(choose)");
    if (ImGui::BeginCombo("##preset", cur.c_str())) {
      for (int i = 0; i < static_cast<int>(st.presets.size()); ++i) {
        const auto& p = st.presets[i];
        if (ImGui::Selectable((p.id + "##" + std::to_string(i)).c_str(), i == st.preset)) apply_preset(st, i);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s: %s", p.dimension.c_str(), p.prompt.c_str());
      }
      ImGui::EndCombo();
    }
  }
  ImGui::EndGroup();

  // ---- prompt ----
  ImGui::Spacing();
  ImGui::TextDisabled("Prompt");
  ImGui::InputTextMultiline("##prompt", &in.prompt, ImVec2(-1, ImGui::GetTextLineHeight() * 3.2f));
  if (in.prompt.find_first_not_of(" \t\r\n") == std::string::npos)
    ImGui::TextColored(palette::kWarnText, "The prompt is empty.");
  ImGui::TextDisabled("Negative prompt");
  ImGui::SetNextItemWidth(-1);
  ImGui::InputTextWithHint("##negative", "(the model's default negative prompt)", &in.negative_prompt);

  // ---- sampling ----
  ImGui::Spacing();
  const float w = ImGui::GetContentRegionAvail().x;
  const float field_w = w - ImGui::CalcTextSize("Steps ").x - ImGui::GetStyle().ItemInnerSpacing.x;
  ImGui::SetNextItemWidth(field_w - ImGui::CalcTextSize("Random").x - ImGui::GetStyle().FramePadding.x * 2 -
                          ImGui::GetStyle().ItemSpacing.x);
  ImGui::InputScalar("##seed", ImGuiDataType_S64, &in.seed);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("noise seed: the same seed and inputs give the same video");
  ImGui::SameLine();
  if (ImGui::Button("Random")) in.seed = static_cast<int64_t>(std::random_device{}() & 0x7fffffff);
  ImGui::SameLine();
  ImGui::TextUnformatted("Seed");
  ImGui::SetNextItemWidth(field_w);
  ImGui::SliderInt("Steps", &in.steps, 0, 60, in.steps <= 0 ? "model default" : "%d");
  ImGui::SetNextItemWidth(field_w);
  float cfg = static_cast<float>(in.cfg);
  if (ImGui::SliderFloat("CFG", &cfg, -0.05f, 10.0f, in.cfg < 0 ? "model default" : "%.2f")) in.cfg = cfg < 0 ? -1 : cfg;
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("classifier-free guidance scale (drag left of 0 for the model default; 1 = no CFG)");

  if (ImGui::TreeNode("Advanced")) {
    int k = in.frames > 0 ? (in.frames - 1) / 4 : 0;
    ImGui::SetNextItemWidth(field_w);
    if (ImGui::SliderInt("Frames", &k, 0, 20, k == 0 ? "model default" : "")) in.frames = k == 0 ? 0 : 1 + 4 * k;
    if (k > 0) {
      ImGui::SameLine();
      ImGui::Text("%d", in.frames);
    }
    int side = in.max_area > 0 ? static_cast<int>(std::sqrt(static_cast<double>(in.max_area))) : 0;
    ImGui::SetNextItemWidth(field_w);
    if (ImGui::SliderInt("Area", &side, 0, 832, side == 0 ? "model default" : "%d^2 px"))
      in.max_area = side < 8 ? 0 : static_cast<long long>(side) * side;
    ImGui::TreePop();
  }

  // ---- model ----
  ImGui::Spacing();
  ImGui::TextDisabled("Model");
  refresh_planted_model(st);
  const bool embedded = in.model_dir.empty();
  const bool planted = !embedded && !st.planted_dir.empty() && in.model_dir == st.planted_dir;
  const bool mmdit = !embedded && !st.mmdit_dir.empty() && in.model_dir == st.mmdit_dir;
  std::string& dir_edit = st.model_dir_edit;
  if (ImGui::RadioButton("Embedded default", embedded) && !embedded) in.model_dir.clear();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("shapes: the embedded Wan2.1-architecture model (CrossDiT)");
  // The second embedded model: the same world and data, HunyuanVideo-I2V's MMDiT architecture (docs/architectures.md).
  same_line_if_fits("MMDiT");
  ImGui::BeginDisabled(!st.mmdit_ok);
  if (ImGui::RadioButton("MMDiT", mmdit) && !mmdit) in.model_dir = st.mmdit_dir;
  ImGui::EndDisabled();
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) {
    if (st.mmdit_ok)
      ImGui::SetTooltip("shapes-mmdit: the embedded HunyuanVideo-I2V-architecture model (MMDiT)\n%s", st.mmdit_dir.c_str());
    else
      ImGui::SetTooltip("shapes-mmdit is not installed: %s has no focalscope.json",
                        st.mmdit_dir.empty() ? "(the embedded model's folder was not found, so its sibling)" : st.mmdit_dir.c_str());
  }
  // The full name when all three radios fit on one line, else the short one (the tooltip names the folder): a
  // second line would push the progress bars out of the pane.
  const float line_w = ImGui::GetContentRegionAvail().x;
  const char* planted_label = radios_width({"Embedded default", "MMDiT", "Planted (shapes-planted)", "Folder"}) <= line_w
                                  ? "Planted (shapes-planted)###planted"
                                  : "Planted###planted";
  same_line_if_fits(planted_label);
  // The planted model (shapes-planted, beside the embedded one): its weak layers are known by construction, so
  // the detector and Focal Guidance can be checked against ground truth.
  ImGui::BeginDisabled(!st.planted_ok);
  if (ImGui::RadioButton(planted_label, planted) && !planted) in.model_dir = st.planted_dir;
  ImGui::EndDisabled();
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) {
    if (st.planted_ok)
      ImGui::SetTooltip("shapes-planted: the embedded model trained with planted weak layers\n%s", st.planted_dir.c_str());
    else
      ImGui::SetTooltip("shapes-planted is not installed: %s has no focalscope.json",
                        st.planted_dir.empty() ? "(the embedded model's folder was not found, so its sibling)"
                                               : st.planted_dir.c_str());
  }
  same_line_if_fits("Folder");
  if (ImGui::RadioButton("Folder", !embedded && !planted && !mmdit) && (embedded || planted || mmdit))
    in.model_dir = dir_edit.empty() ? "." : dir_edit;
  // The CLIP field belongs to the Folder choice: the embedded models bring their own CLIP, and a CLIP left over from a
  // folder would make every run on them fail with a field no longer shown.
  if (in.model_dir.empty() || in.model_dir == st.planted_dir || in.model_dir == st.mmdit_dir) in.clip_file.clear();
  if (!in.model_dir.empty() && !planted && !mmdit) {
    ImGui::SetNextItemWidth(-1);
    std::string edit = in.model_dir;
    if (ImGui::InputTextWithHint("##modeldir", "Wan2.1-I2V release folder or FocalScope model folder", &edit,
                                 ImGuiInputTextFlags_EnterReturnsTrue) ||
        ImGui::IsItemDeactivatedAfterEdit()) {
      in.model_dir = edit.empty() ? "." : edit;
      dir_edit = in.model_dir;
    }
    // Wan2.2 I2V-A14B ships no CLIP: one given here serves Eq. 6 (keyword selection and maps), as the CLI's --clip.
    ImGui::SetNextItemWidth(-1);
    std::string clip = in.clip_file;
    if (ImGui::InputTextWithHint("##clipfile", "CLIP file (Wan2.2 only: Eq. 6 keyword selection)", &clip,
                                 ImGuiInputTextFlags_EnterReturnsTrue) ||
        ImGui::IsItemDeactivatedAfterEdit())
      in.clip_file = clip;
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("Wan2.2 I2V-A14B folders only. Wan2.1's open-clip .pth with xlm-roberta-large/ beside it selects\n"
                        "keywords by Eq. 6; clip_vision_h (image tower only) needs guided words. Empty: no CLIP.");
  }
  draw_lora_list(st);
  // The model of the latest run (with A/B off only B runs, and A's snapshot is an older run's).
  const RunSnapshot* latest = st.snap[0].get();
  if (const RunSnapshot* b = st.snap[1].get(); b && !b->model_name.empty() && (!latest || b->job_id > latest->job_id)) latest = b;
  if (const RunSnapshot* s = latest; s && !s->model_name.empty()) {
    ImGui::TextDisabled("%s", s->model_name.c_str());
    if (ImGui::IsItemHovered()) {
      std::string notes;
      for (const auto& n : s->model_notes) notes += "\n" + n;
      ImGui::SetTooltip("%s\n%d DiT layers%s", s->model_dir.c_str(), s->num_layers, notes.c_str());
    }
  }

  // ---- run ----
  ImGui::Separator();
  if (ImGui::Button(st.busy() ? "Re-run" : "Run")) submit_run(st);
  ImGui::SameLine();
  ImGui::BeginDisabled(!st.busy());
  if (ImGui::Button("Cancel")) st.runner->cancel();
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::Checkbox("Auto re-run", &st.settings.view.auto_run);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("re-run in the background when an input or guidance setting changes\n(cancels the run in flight)");
  ImGui::SameLine();
  ImGui::Checkbox("A/B", &st.settings.view.ab);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("run the baseline (FG off) and Focal Guidance side by side");
  progress_row(st, 0);
  progress_row(st, 1);
  for (int v = 0; v < session::kNumVariants; ++v) {
    const RunSnapshot* s = st.snap[v].get();
    if (s && s->state == RunState::Failed) {
      ImGui::PushTextWrapPos(0);
      ImGui::TextColored(palette::kErrorText, "%s", s->error.c_str());
      ImGui::PopTextWrapPos();
      break;
    }
  }
  ImGui::End();
}

}  // namespace focalscope::gui
