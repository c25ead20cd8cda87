// Focal Guidance controls: FSG / AC toggles, the thresholds and strengths of Eq. 6-13, the semantic-weak layer
// set (detected from the baseline, editable) and the guided words. They drive session::GuidanceConfig; until
// the engine applies it, the panel says so.
#include <imgui.h>

#include <algorithm>
#include <string>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

namespace {

std::string ranges(const std::vector<int>& v) {
  if (v.empty()) return "none";
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += std::to_string(v[i]);
    if (j > i) out += "-" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

void slider(const char* label, float* v, float lo, float hi, const char* tip) {
  ImGui::SetNextItemWidth(-ImGui::CalcTextSize("lambda_cache ").x);
  ImGui::SliderFloat(label, v, lo, hi, "%.3f");
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s\nvalue = %.6g (ctrl+click to type)", tip, *v);
}

}  // namespace

void panel_guidance(AppState& st) {
  if (!begin_pane(st, Pane::Guidance)) {
    ImGui::End();
    return;
  }
  auto& g = st.settings.guidance;
  // What the last guided run did (or why it failed).
  if (const session::RunSnapshot* b = st.snap[1].get(); b && b->job_id != 0) {
    ImGui::PushTextWrapPos(0);
    if (b->state == session::RunState::Failed) {
      ImGui::TextColored(palette::kErrorText, "B failed: %s", b->error.c_str());
    } else if (b->guidance_applied) {
      std::string kw;
      for (const auto& w : b->guided_keywords) kw += (kw.empty() ? "" : ", ") + w;
      ImGui::TextColored(ImVec4(0.0f, 0.75f, 0.55f, 1), "B: %s%s%s on weak layers %s; keywords: %s",
                         b->guidance.fsg ? "FSG" : "", b->guidance.fsg && b->guidance.ac ? " + " : "",
                         b->guidance.ac ? "Attention Cache" : "", ranges(b->guidance_weak_layers).c_str(),
                         kw.empty() ? "(none yet)" : kw.c_str());
    } else if (b->state == session::RunState::Done) {
      ImGui::TextDisabled("B ran with Focal Guidance off (same as the baseline).");
    }
    ImGui::PopTextWrapPos();
  }
  ImGui::Checkbox("FSG", &g.fsg);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Fine-grained Semantic Guidance (Sec. 4.1): visual anchors fused into the keyword values (Eq. 8)\nand injected into the reference latent (Eq. 9) of the weak layers");
  ImGui::SameLine();
  ImGui::Checkbox("Attention Cache", &g.ac);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Attention Cache (Sec. 4.2): similarity maps of the responsive layers (Eq. 11)\nguide the weak layers (Eq. 12-13)");
  ImGui::SameLine();
  ImGui::TextDisabled(g.enabled() ? "FG on" : "FG off");

  ImGui::BeginDisabled(!g.fsg);
  slider("tau_sel", &g.tau_sel, 0.0f, 1.0f, "τ_sel: a word becomes a keyword when max_n S(m,n) exceeds it (Eq. 6)");
  slider("tau_region", &g.tau_region, 0.0f, 1.0f, "τ_region: region R_k of Eq. 9 = patches whose normalised similarity exceeds it");
  slider("lambda_txt", &g.lambda_txt, 0.0f, 2.0f, "λ_txt: strength of the visual anchor fused into the text value (Eq. 8)");
  slider("lambda_lat", &g.lambda_lat, 0.0f, 2.0f, "λ_lat: strength of the anchor injected into the reference latent (Eq. 9)");
  ImGui::EndDisabled();
  ImGui::BeginDisabled(!g.ac);
  slider("tau_cache", &g.tau_cache, 0.0f, 1.0f, "τ_cache: keep cache positions with similarity above it (Eq. 12)");
  slider("lambda_cache", &g.lambda_cache, 0.0f, 2.0f, "λ_cache: strength of the cache injection into weak layers (Eq. 13)");
  ImGui::EndDisabled();

  // ---- weak layers ----
  ImGui::Separator();
  const session::RunSnapshot* base = st.snap[0] && !st.snap[0]->weak_layers.empty() ? st.snap[0].get()
                                     : st.done[0] ? st.done[0].get()
                                                  : st.snap[0].get();
  const std::vector<int> detected = base ? base->weak_layers : std::vector<int>{};
  const std::vector<int> from_model = base ? base->model_weak_layers : std::vector<int>{};
  const int L = base ? base->num_layers : 0;
  ImGui::Text("Semantic-weak layers");
  ImGui::SameLine();
  help_marker("Guidance acts on these layers. Unless you edit the set, it is the model's own (recorded in its manifest "
              "by `focalscope analyze`), else the set detected from this session's baseline maps: layers whose Moran's I "
              "falls well below the others (robust z-score, one contiguous band; analysis/weak_layers.h).");
  ImGui::TextDisabled("model: %s   detected in this run: %s", ranges(from_model).c_str(), ranges(detected).c_str());
  ImGui::Checkbox("Edit", &g.weak_override);
  if (g.weak_override && g.weak_layers.empty()) g.weak_layers = from_model.empty() ? detected : from_model;
  ImGui::SameLine();
  if (g.weak_override) {
    if (ImGui::SmallButton("Use detected")) g.weak_layers = detected;
    ImGui::SameLine();
    if (!from_model.empty() && ImGui::SmallButton("Use model's")) g.weak_layers = from_model;
    ImGui::SameLine();
    if (ImGui::SmallButton("Clear")) g.weak_layers.clear();
  }
  const std::vector<int>& shown = g.weak_override ? g.weak_layers : (from_model.empty() ? detected : from_model);
  if (L > 0) {
    const float cell = ImGui::GetFrameHeight() * 1.15f;
    const int per_row = std::max(1, static_cast<int>(ImGui::GetContentRegionAvail().x / (cell + 3)));
    ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(3, 3));
    for (int l = 0; l < L; ++l) {
      if (l % per_row) ImGui::SameLine();
      const bool on = std::find(shown.begin(), shown.end(), l) != shown.end();
      ImGui::PushID(l);
      ImGui::PushStyleColor(ImGuiCol_Button, on ? ImVec4(0.84f, 0.37f, 0.0f, 0.85f) : ImVec4(0.2f, 0.21f, 0.24f, 1));
      ImGui::BeginDisabled(!g.weak_override);
      if (ImGui::Button(std::to_string(l).c_str(), ImVec2(cell, 0))) {
        auto& v = g.weak_layers;
        auto it = std::find(v.begin(), v.end(), l);
        if (it == v.end()) v.push_back(l), std::sort(v.begin(), v.end());
        else v.erase(it);
      }
      ImGui::EndDisabled();
      if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("layer %d: %s%s", l, on ? "weak" : "responsive",
                          g.weak_override ? " (click to toggle)" : " (tick Edit to change)");
      ImGui::PopStyleColor();
      ImGui::PopID();
    }
    ImGui::PopStyleVar();
  } else {
    ImGui::TextDisabled("(run the baseline to see the model's layers)");
  }

  // ---- guided words ----
  ImGui::Separator();
  ImGui::Text("Guided words:");
  ImGui::SameLine();
  if (g.guided_words.empty()) {
    ImGui::TextDisabled("automatic (τ_sel)");
  } else {
    std::string s;
    for (const auto& w : g.guided_words) s += (s.empty() ? "" : ", ") + w;
    ImGui::TextWrapped("%s", s.c_str());
    if (ImGui::SmallButton("Automatic")) g.guided_words.clear();
  }
  ImGui::TextDisabled("right-click a keyword chip to guide it");
  ImGui::End();
}

}  // namespace focalscope::gui
