// Layer curves (paper Fig. 2): Moran's I and std of the analysed keyword's maps per layer, averaged over the
// finished steps, with the current step's curve, the guided run's curve for comparison, and the weak band shaded.
#include <imgui.h>

#include <algorithm>
#include <cmath>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

using session::LayerCurves;
using session::PassKind;
using session::RunSnapshot;

namespace {

std::vector<std::pair<double, double>> weak_ranges(const std::vector<int>& weak) {
  std::vector<std::pair<double, double>> out;
  for (size_t i = 0; i < weak.size();) {
    size_t j = i;
    while (j + 1 < weak.size() && weak[j + 1] == weak[j] + 1) ++j;
    out.emplace_back(weak[i] - 0.5, weak[j] + 0.5);
    i = j + 1;
  }
  return out;
}

double at(const std::vector<double>& v, int i) { return i >= 0 && i < static_cast<int>(v.size()) ? v[i] : NAN; }

}  // namespace

void panel_curves(AppState& st) {
  if (!begin_pane(st, Pane::Curves)) {
    ImGui::End();
    return;
  }
  // Baseline is the reference; the guided run is overlaid when it has maps for the same keyword.
  const RunSnapshot* a = st.snap[0] && !st.snap[0]->steps.empty() ? st.snap[0].get() : st.done[0].get();
  const bool b_off = st.snap[1] && st.snap[1]->state == session::RunState::Idle && st.snap[1]->job_id > 0;
  const RunSnapshot* b = b_off ? nullptr : st.snap[1] && !st.snap[1]->steps.empty() ? st.snap[1].get() : st.done[1].get();
  const RunSnapshot* main = st.view_variant == 1 && b ? b : (a ? a : b);
  const int slot = main ? st.keyword_slot(*main) : -1;
  if (!main || slot < 0 || main->steps.empty()) {
    ImGui::TextDisabled("Per-layer Moran's I and std appear here as steps finish.");
    ImGui::End();
    return;
  }
  const std::string word = main->keywords[main->capture_keywords[slot]].word;
  const PassKind pass = st.pass == PassKind::Uncond && main->has_uncond ? PassKind::Uncond : PassKind::Cond;
  const int L = main->num_layers;
  const int cur = static_cast<int>(main->steps.size()) - 1;
  LayerCurves mean = session::layer_curves(*main, slot, pass);
  LayerCurves last = session::layer_curves(*main, slot, pass, cur);
  const RunSnapshot* other = main == a ? b : a;
  LayerCurves other_mean;
  int other_slot = -1;
  if (other && other != main && other->num_layers == L) {
    other_slot = other->map_slot(word);
    if (other_slot >= 0) other_mean = session::layer_curves(*other, other_slot, pass);
  }
  const bool main_is_a = main->variant == session::Variant::Baseline;
  ImGui::Text("'%s'", word.c_str());
  ImGui::SameLine();
  ImGui::TextDisabled("%s pass; mean over %d finished steps; current step %d of %d; weak band shaded", 
                      pass == PassKind::Cond ? "cond" : "uncond", mean.steps_used, main->steps[cur]->step,
                      main->steps_total);

  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float w = (avail.x - ImGui::GetStyle().ItemSpacing.x) * 0.5f;
  const std::vector<int> weak_set = st.weak_layers_for(*main);
  const auto shaded = weak_ranges(weak_set);
  char cur_name[64];
  std::snprintf(cur_name, sizeof cur_name, "step %d", main->steps[cur]->step);
  for (int k = 0; k < 2; ++k) {
    const bool moran = k == 0;
    LineChart c;
    c.title = moran ? "(a) Moran's I" : "(b) std of normalised map";
    c.x_label = "layer";
    c.x_min = -0.5;
    c.x_max = L - 0.5;
    c.shaded = shaded;
    c.marker_x = st.large.layer;
    const ImU32 col = moran ? palette::kMoran : palette::kStd;
    c.series.push_back({main_is_a ? "A mean" : "B mean", moran ? mean.moran : mean.std_dev, col, 2.5f, false, L <= 16});
    c.series.push_back({cur_name, moran ? last.moran : last.std_dev, IM_COL32(255, 255, 255, 150), 1.2f, true, false});
    if (other_mean.steps_used > 0)
      c.series.push_back({main_is_a ? "B mean" : "A mean", moran ? other_mean.moran : other_mean.std_dev,
                          palette::kGuided, 1.8f, true, false});
    if (k) ImGui::SameLine();
    ChartResult r = c.draw(moran ? "moran" : "std", ImVec2(w, avail.y));
    if (r.hovered && r.hover_x >= 0) {
      const int l = r.hover_x;
      const bool weak = std::find(weak_set.begin(), weak_set.end(), l) != weak_set.end();
      ImGui::BeginTooltip();
      ImGui::Text("layer %d%s", l, weak ? "  [weak]" : "");
      ImGui::Text("Moran's I: mean %.6f, step %d %.6f", at(mean.moran, l), main->steps[cur]->step, at(last.moran, l));
      ImGui::Text("std:       mean %.6f, step %d %.6f", at(mean.std_dev, l), main->steps[cur]->step, at(last.std_dev, l));
      if (other_mean.steps_used > 0)
        ImGui::Text("%s: Moran's I %.6f, std %.6f", main_is_a ? "guided" : "baseline", at(other_mean.moran, l),
                    at(other_mean.std_dev, l));
      ImGui::TextDisabled("mean over %d steps; click: show layer %d in the large view", mean.steps_used, l);
      ImGui::EndTooltip();
      if (r.clicked) st.large.layer = l;
    }
  }
  ImGui::End();
}

}  // namespace focalscope::gui
