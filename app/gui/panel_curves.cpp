// Layer curves (paper Fig. 2): Moran's I and std of the analysed keyword's maps per layer, averaged over the
// finished steps, with a 95% bootstrap band of that mean, the current step's curve, the guided run's curve for
// comparison, and the weak band shaded. A `focalscope ablate` result can be overlaid on a right-hand axis: the
// causal effect of knocking out each layer's text, with its 95% interval, so "weak by Moran's I" can be compared
// with "matters causally" layer by layer.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

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

constexpr const char* kCausalMeaning =
    "causal effect: share of the text's effect lost when this layer's text is knocked out";

// Mean curves with bands for `s`, recomputed only when the run, its step count, the keyword or the pass changes.
const LayerCurves& banded_curves(AppState& st, const RunSnapshot& s, int slot, PassKind pass) {
  CurvesCache& c = st.curves_cache;
  const int v = static_cast<int>(s.variant), n = static_cast<int>(s.steps.size()), p = static_cast<int>(pass);
  if (c.job != s.job_id || c.variant != v || c.steps != n || c.slot != slot || c.pass != p) {
    c.curves = session::layer_curves(s, slot, pass, -1, /*bootstrap_reps=*/1000);
    c.job = s.job_id;
    c.variant = v;
    c.steps = n;
    c.slot = slot;
    c.pass = p;
  }
  return c.curves;
}

// A result-file row ("Causal effect", "Compare"): label, path field, Load / Clear, then its one-line error if any.
// Returns true when a result is loaded and there is no error (the caller then draws its legend / warnings).
template <class Overlay>
bool file_row(AppState& st, Overlay& o, const char* label, const char* id, const char* hint, const char* tooltip,
              bool (*load)(AppState&, const std::string&)) {
  const ImGuiStyle& sty = ImGui::GetStyle();
  ImGui::TextDisabled("%s", label);
  if (tooltip && ImGui::IsItemHovered()) ImGui::SetTooltip("%s", tooltip);
  ImGui::SameLine();
  const float buttons = ImGui::CalcTextSize("Load").x + ImGui::CalcTextSize("Clear").x + sty.FramePadding.x * 4 +
                        sty.ItemSpacing.x * 2;
  ImGui::SetNextItemWidth(std::max(80.0f, ImGui::GetContentRegionAvail().x - buttons));
  ImGui::PushID(id);
  const bool enter = ImGui::InputTextWithHint("##path", hint, &o.path_edit, ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if (ImGui::Button("Load") || enter) load(st, o.path_edit);
  ImGui::SameLine();
  ImGui::BeginDisabled(!o.result && o.error.empty());
  if (ImGui::Button("Clear")) {
    o.result.reset();
    o.error.clear();
  }
  ImGui::EndDisabled();
  ImGui::PopID();
  if (!o.error.empty()) {
    ImGui::PushTextWrapPos(0);
    ImGui::TextColored(palette::kErrorText, "%s", o.error.c_str());
    ImGui::PopTextWrapPos();
    return false;
  }
  return static_cast<bool>(o.result);
}

// The ablation row, then the overlay's legend line.
void ablation_controls(AppState& st, int num_layers, const std::string& run_model) {
  auto& ab = st.ablation;
  if (!file_row(st, ab, "Causal effect", "ablation", "ablate.json of `focalscope ablate --out DIR` (or DIR)", nullptr,
                load_ablation))
    return;
  const auto& r = *ab.result;
  // Legend entry for the overlay (its meaning is too long for the in-chart legend): line + band swatch.
  const float lh = ImGui::GetTextLineHeight();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(ImVec2(p.x, p.y + lh * 0.2f), ImVec2(p.x + 20, p.y + lh * 0.8f), (palette::kCausal & 0x00FFFFFF) | (55u << 24));
  dl->AddLine(ImVec2(p.x, p.y + lh * 0.5f), ImVec2(p.x + 20, p.y + lh * 0.5f), palette::kCausal, 2.0f);
  ImGui::Dummy(ImVec2(22, lh));
  ImGui::SameLine();
  ImGui::PushTextWrapPos(0);
  ImGui::TextUnformatted(kCausalMeaning);
  ImGui::PopTextWrapPos();
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("%s (right-hand axis; band: its 95%% bootstrap interval)\n%s\nmodel %s; layers %d-%d (%zu); %d units\n"
                      "baseline pass rate %.4f; Spearman rho (Moran's I vs effect) %.4f",
                      kCausalMeaning, r.path.c_str(), r.model_name.empty() ? "(not recorded)" : r.model_name.c_str(),
                      r.layers.front().layer, r.max_layer(), r.layers.size(), r.units, r.base_pass_rate, r.spearman_latent);
  // A file from another model (or one that names layers this model lacks) still draws, with a warning.
  if (num_layers > 0 && r.max_layer() >= num_layers)
    ImGui::TextColored(palette::kWarnText, "the file has layers up to %d, this model has %d: those beyond are not drawn",
                       r.max_layer(), num_layers);
  else if (!r.model_name.empty() && !run_model.empty() && r.model_name != run_model)
    ImGui::TextColored(palette::kWarnText, "ablation of model '%s', the run is '%s'", r.model_name.c_str(), run_model.c_str());
}

// The comparison row: another model's `focalscope analyze` curves (metrics.json) on the same charts.
void compare_controls(AppState& st, int num_layers) {
  auto& cmp = st.compare;
  if (!file_row(st, cmp, "Compare", "compare", "metrics.json of `focalscope analyze --out DIR` (or DIR)",
                "Another model's layer curves over many samples (`focalscope analyze --out DIR`), e.g. the\n"
                "embedded MMDiT's beside the Wan toy's run: its Moran's I mean with analyze's 95% interval, its std mean.",
                load_compare))
    return;
  if (cmp.result && num_layers > 0 && cmp.result->num_layers() != num_layers)
    ImGui::TextColored(palette::kWarnText, "'%s' has %d layers, this model %d: drawn at the same relative depth",
                       cmp.result->model_name.c_str(), cmp.result->num_layers(), num_layers);
}

// The compared curve on this model's layer axis: the same layer when the counts agree, else linear interpolation at
// the same relative depth (l / (L - 1)).
std::vector<double> on_axis(const session::AnalyzeCurves& c, int L, double session::AnalyzeLayer::*field) {
  std::vector<double> y(static_cast<size_t>(L), NAN);
  const int n = c.num_layers();
  for (int l = 0; l < L && n > 0; ++l) {
    if (n == L) {
      y[l] = c.layers[l].*field;
      continue;
    }
    const double pos = L > 1 ? double(l) / double(L - 1) * double(n - 1) : 0.0;
    const int i = std::min(n - 2, static_cast<int>(pos));
    if (n == 1) {
      y[l] = c.layers[0].*field;
      continue;
    }
    const double t = pos - i;
    y[l] = (1 - t) * (c.layers[i].*field) + t * (c.layers[i + 1].*field);
  }
  return y;
}

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
    ablation_controls(st, 0, "");
    compare_controls(st, 0);
    ImGui::End();
    return;
  }
  const std::string word = main->keywords[main->capture_keywords[slot]].word;
  const PassKind pass = st.pass == PassKind::Uncond && main->has_uncond ? PassKind::Uncond : PassKind::Cond;
  const int L = main->num_layers;
  const int cur = static_cast<int>(main->steps.size()) - 1;
  const LayerCurves& mean = banded_curves(st, *main, slot, pass);
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
  ImGui::TextDisabled("%s pass; mean of %d steps, band = 95%% bootstrap CI; step %d of %d; weak shaded",
                      pass == PassKind::Cond ? "cond" : "uncond", mean.steps_used, main->steps[cur]->step,
                      main->steps_total);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Lines: Moran's I / std of the map per layer, averaged over the %d finished steps.\n"
                      "Band: 95%% percentile-bootstrap interval of that mean (1000 resamples of the steps).\n"
                      "Dashed: the current step alone, and the other run's mean. Shaded: the weak layers.",
                      mean.steps_used);
  ablation_controls(st, L, main->model_name);
  compare_controls(st, L);
  const session::AnalyzeCurves* cmp = st.compare.result.get();
  // The overlay's per-layer series on this model's layer axis (NaN where the file has no such layer).
  const session::AblationResult* abl = st.ablation.result.get();
  std::vector<double> eff(L, NAN), eff_lo(L, NAN), eff_hi(L, NAN);
  if (abl)
    for (int l = 0; l < L; ++l)
      if (const auto* e = abl->find(l)) eff[l] = e->effect, eff_lo[l] = e->effect_lo, eff_hi[l] = e->effect_hi;

  const ImVec2 avail = ImGui::GetContentRegionAvail();  // after the header and the ablation rows
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
    // The band's meaning is in the name (the header line spells it out).
    ChartSeries m{main_is_a ? "A mean ± 95% CI" : "B mean ± 95% CI", moran ? mean.moran : mean.std_dev, col, 2.5f,
                  false, L <= 16};
    m.lo = moran ? mean.moran_lo : mean.std_lo;
    m.hi = moran ? mean.moran_hi : mean.std_hi;
    c.series.push_back(m);
    c.series.push_back({cur_name, moran ? last.moran : last.std_dev, IM_COL32(255, 255, 255, 150), 1.2f, true, false});
    if (other_mean.steps_used > 0)
      c.series.push_back({main_is_a ? "B mean" : "A mean", moran ? other_mean.moran : other_mean.std_dev,
                          palette::kGuided, 1.8f, true, false});
    if (cmp) {
      ChartSeries o{(cmp->model_name.empty() ? std::string("compared") : cmp->model_name) + (moran ? " ± 95% CI" : ""),
                    on_axis(*cmp, L, moran ? &session::AnalyzeLayer::moran : &session::AnalyzeLayer::std_dev),
                    palette::kCompare, 1.8f, false, false};
      if (moran) {
        o.lo = on_axis(*cmp, L, &session::AnalyzeLayer::moran_lo);
        o.hi = on_axis(*cmp, L, &session::AnalyzeLayer::moran_hi);
      }
      c.series.push_back(o);
    }
    if (abl) {
      ChartSeries e{"causal effect", eff, palette::kCausal, 2.0f, false, true};
      e.lo = eff_lo;
      e.hi = eff_hi;
      e.right_axis = true;
      e.in_legend = false;  // its legend entry is the line above the charts (the meaning is too long for inside)
      c.series.push_back(e);
      c.y2_label = "causal effect";
    }
    if (k) ImGui::SameLine();
    ChartResult r = c.draw(moran ? "moran" : "std", ImVec2(w, avail.y));
    if (r.hovered && r.hover_x >= 0) {
      const int l = r.hover_x;
      const bool weak = std::find(weak_set.begin(), weak_set.end(), l) != weak_set.end();
      ImGui::BeginTooltip();
      ImGui::Text("layer %d%s", l, weak ? "  [weak]" : "");
      ImGui::Text("Moran's I: mean %.6f [%.6f, %.6f], step %d %.6f", at(mean.moran, l), at(mean.moran_lo, l),
                  at(mean.moran_hi, l), main->steps[cur]->step, at(last.moran, l));
      ImGui::Text("std:       mean %.6f [%.6f, %.6f], step %d %.6f", at(mean.std_dev, l), at(mean.std_lo, l),
                  at(mean.std_hi, l), main->steps[cur]->step, at(last.std_dev, l));
      ImGui::TextDisabled("[lo, hi]: 95%% percentile-bootstrap interval of the mean over the %d steps", mean.steps_used);
      if (other_mean.steps_used > 0)
        ImGui::Text("%s: Moran's I %.6f, std %.6f", main_is_a ? "guided" : "baseline", at(other_mean.moran, l),
                    at(other_mean.std_dev, l));
      if (abl) {
        if (const auto* e = abl->find(l)) {
          ImGui::Text("causal effect: %.6f [%.6f, %.6f] (n = %d)", e->effect, e->effect_lo, e->effect_hi, e->n);
          ImGui::Text("  pass drop %.4f [%.4f, %.4f], agreement drop %.4f [%.4f, %.4f]", e->pass_drop, e->pass_drop_lo,
                      e->pass_drop_hi, e->agreement_drop, e->agreement_drop_lo, e->agreement_drop_hi);
          ImGui::Text("  pass rate knocked out %.4f; ablation run's Moran's I median %.4f [%.4f, %.4f]", e->pass_rate,
                      e->moran_median, e->moran_lo, e->moran_hi);
          ImGui::TextDisabled("  %s", kCausalMeaning);
        } else {
          ImGui::TextDisabled("causal effect: layer %d is not in %s", l, abl->path.c_str());
        }
      }
      if (cmp) {
        const auto y = on_axis(*cmp, L, &session::AnalyzeLayer::moran);
        const auto lo = on_axis(*cmp, L, &session::AnalyzeLayer::moran_lo);
        const auto hi = on_axis(*cmp, L, &session::AnalyzeLayer::moran_hi);
        const auto sd = on_axis(*cmp, L, &session::AnalyzeLayer::std_dev);
        ImGui::Text("%s (analyze, %d samples): Moran's I %.6f [%.6f, %.6f], std %.6f%s",
                    cmp->model_name.empty() ? "compared" : cmp->model_name.c_str(), cmp->samples, y[l], lo[l], hi[l], sd[l],
                    cmp->num_layers() == L && cmp->layers[l].weak ? "  [weak there]" : "");
      }
      ImGui::TextDisabled("click: show layer %d in the large view", l);
      ImGui::EndTooltip();
      if (r.clicked) st.large.layer = l;
    }
  }
  ImGui::End();
}

}  // namespace focalscope::gui
