// Keywords: the prompt's content words as chips with their CLIP max similarity (Eq. 6). Left click analyses a
// word (grid, large view, curves); right click adds it to / removes it from the guided words.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"
#include "app/session/prompt_words.h"

namespace focalscope::gui {

void panel_keywords(AppState& st) {
  if (!begin_pane(st, Pane::Keywords)) {
    ImGui::End();
    return;
  }
  // Chips come from the run when it matches the prompt being edited, else from the prompt text itself.
  const session::RunSnapshot* s = st.view_snapshot();
  std::vector<session::KeywordInfo> chips;
  if (s && s->inputs.prompt == st.settings.inputs.prompt && !s->keywords.empty()) {
    chips = s->keywords;
  } else {
    for (const auto& w : session::prompt_words(st.settings.inputs.prompt)) {
      session::KeywordInfo k;
      k.word = w;
      chips.push_back(k);
    }
  }
  if (chips.empty()) {
    ImGui::TextDisabled("Type a prompt: its words appear here.");
    ImGui::End();
    return;
  }
  const int slot = s ? st.keyword_slot(*s) : -1;
  std::string current = st.keyword;
  if (s && slot >= 0 && slot < static_cast<int>(s->capture_keywords.size()))
    current = s->keywords[s->capture_keywords[slot]].word;
  auto& guided = st.settings.guidance.guided_words;

  const float right = ImGui::GetWindowContentRegionMax().x + ImGui::GetWindowPos().x;
  for (size_t i = 0; i < chips.size(); ++i) {
    const auto& k = chips[i];
    char score[32] = "";
    if (std::isfinite(k.clip_score)) std::snprintf(score, sizeof score, "%.2f", k.clip_score);
    const bool is_guided = std::find(guided.begin(), guided.end(), k.word) != guided.end();
    const ImVec2 sz(ImGui::CalcTextSize(k.word.c_str()).x + ImGui::CalcTextSize(score).x + 28, 0);
    if (i > 0) {
      ImGui::SameLine();
      if (ImGui::GetCursorScreenPos().x + sz.x > right) ImGui::NewLine();
    }
    const ImU32 accent = k.captured ? IM_COL32(86, 180, 233, 255) : IM_COL32(140, 140, 150, 255);
    if (chip(k.word.c_str(), score, k.word == current, is_guided, accent)) set_keyword(st, k.word);
    if (ImGui::IsItemClicked(ImGuiMouseButton_Right)) {
      auto it = std::find(guided.begin(), guided.end(), k.word);
      if (it == guided.end()) guided.push_back(k.word);
      else guided.erase(it);
    }
    if (ImGui::IsItemHovered()) {
      ImGui::BeginTooltip();
      ImGui::Text("'%s'", k.word.c_str());
      if (std::isfinite(k.clip_score))
        // The threshold the chips were scored with (the model's calibrated one while τ_sel is on auto).
        ImGui::Text("CLIP max similarity max_n S = %.6f (%s τ_sel = %.3f%s)", k.clip_score, k.selected ? "above" : "below",
                    s ? s->guidance_ran.tau_sel : st.settings.guidance.tau_sel,
                    s && s->guidance.tau_sel_auto ? ", model default" : "");
      else
        ImGui::TextDisabled("CLIP max similarity: not computed (needs the FSG keyword selection, Eq. 6)");
      ImGui::Text("similarity maps: %s", k.captured ? "captured in this run" : "not captured (click to capture)");
      ImGui::Text("guided: %s", is_guided ? "yes (yellow outline)" : (guided.empty() ? "automatic" : "no"));
      ImGui::TextDisabled("left click: analyse   right click: guide / unguide");
      ImGui::EndTooltip();
    }
  }
  ImGui::End();
}

}  // namespace focalscope::gui
