// Focal Guidance controls: FSG / AC toggles, the thresholds and strengths of Eq. 6-13, the semantic-weak layer
// set (detected from the baseline, editable) and the guided words. They drive session::GuidanceConfig. Under the
// toggles the panel reports what the last guided run (B) actually did: switched-on parts that changed nothing are
// named in the warning colour with the engine's reason, and the Attention Cache's reach per weak layer is counted,
// so a no-op is never silent.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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

// The value a threshold on "model default" takes for the current model: what the last guided run used when it
// ran on auto with this model; else the model's calibrated value from any run of this model; else the engine's
// default. `source` says which, for the tooltip.
float model_default_tau(const AppState& st, bool sel, std::string& source) {
  const std::string& dir = st.settings.inputs.model_dir;
  const session::RunSnapshot* cands[] = {st.snap[1].get(), st.done[1].get(), st.snap[0].get(), st.done[0].get()};
  for (const auto* s : cands) {
    if (!s || s->model_name.empty() || s->inputs.model_dir != dir) continue;
    const double cal = sel ? s->model_tau_sel : s->model_tau_cache;
    if (s->guidance_applied && (sel ? s->guidance.tau_sel_auto : s->guidance.tau_cache_auto)) {
      source = std::isfinite(cal) ? "the model's calibrated value, as the last guided run used it"
                                  : "the engine default (this model has no calibration), as the last guided run used it";
      return sel ? s->guidance_ran.tau_sel : s->guidance_ran.tau_cache;
    }
    if (std::isfinite(cal)) {
      source = "the model's calibrated value (manifest \"calibration\")";
      return static_cast<float>(cal);
    }
    source = "the engine default: this model has no calibration (`focalscope calibrate`)";
    return sel ? session::GuidanceConfig{}.tau_sel : session::GuidanceConfig{}.tau_cache;
  }
  source = "the engine default until the model is loaded (a calibrated model's own value then applies)";
  return sel ? session::GuidanceConfig{}.tau_sel : session::GuidanceConfig{}.tau_cache;
}

// tau_sel / tau_cache: on auto the slider shows the model default, labelled so; moving it makes the value explicit
// (given to the engine as such), and "reset" returns to the model default.
void threshold_slider(AppState& st, const char* label, bool sel, const char* tip) {
  auto& g = st.settings.guidance;
  float& v = sel ? g.tau_sel : g.tau_cache;
  bool& is_auto = sel ? g.tau_sel_auto : g.tau_cache_auto;
  std::string source;
  const float def = model_default_tau(st, sel, source);
  float x = is_auto ? def : v;
  const float reset_w = is_auto ? 0 : ImGui::CalcTextSize("reset").x + ImGui::GetStyle().FramePadding.x * 2 +
                                         ImGui::GetStyle().ItemSpacing.x;
  ImGui::SetNextItemWidth(-ImGui::CalcTextSize("lambda_cache ").x - reset_w);
  ImGui::PushID(label);
  if (ImGui::SliderFloat("##v", &x, 0.0f, 1.0f, is_auto ? "%.3f (model default)" : "%.3f")) {
    v = x;
    is_auto = false;
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("%s\nvalue = %.6g (%s)\nmodel default = %.6g: %s\n(ctrl+click to type)", tip, x,
                      is_auto ? "model default" : "explicit", def, source.c_str());
  if (!is_auto) {
    ImGui::SameLine();
    if (ImGui::SmallButton("reset")) {
      is_auto = true;
      v = sel ? session::GuidanceConfig{}.tau_sel : session::GuidanceConfig{}.tau_cache;
    }
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("back to the model default (%.6g: %s)", def, source.c_str());
  }
  ImGui::SameLine(0, ImGui::GetStyle().ItemInnerSpacing.x);
  ImGui::TextUnformatted(label);
  ImGui::PopID();
}

// What the last guided run did: the engine's no-op lines (warning colour) and the Attention Cache's reach.
void guided_run_report(const session::RunSnapshot& b) {
  const auto& ran = b.guidance_ran;
  for (const auto& line : b.guidance_noops) {
    ImGui::PushTextWrapPos(0);
    ImGui::TextColored(palette::kWarnText, "B: %s", line.c_str());
    ImGui::PopTextWrapPos();
    if (ImGui::IsItemHovered()) {
      ImGui::BeginTooltip();
      ImGui::TextUnformatted("Switched on, but changed nothing in the last guided run (B):");
      ImGui::TextUnformatted(line.c_str());
      ImGui::Text("ran with tau_sel %.6g, tau_cache %.6g, lambda_txt %.6g, lambda_lat %.6g, lambda_cache %.6g", ran.tau_sel,
                  ran.tau_cache, ran.lambda_txt, ran.lambda_lat, ran.lambda_cache);
      if (b.cache_values > 0)
        ImGui::Text("cache values above tau_cache: %lld of %lld (%.4f%%), largest %.6g",
                    static_cast<long long>(b.cache_above), static_cast<long long>(b.cache_values),
                    100.0 * double(b.cache_above) / double(b.cache_values), b.cache_max);
      ImGui::EndTooltip();
    }
  }
  if (!b.guidance_applied) return;
  std::string line = "AC tokens touched per weak layer: ";
  if (!b.guidance.ac) {
    line += "off";
  } else if (b.guidance_layer_stats.empty()) {
    line += "none (no weak layer ran)";
  } else {
    for (size_t i = 0; i < b.guidance_layer_stats.size(); ++i) {
      const auto& l = b.guidance_layer_stats[i];
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s%d: %lld/%lld", i ? ", " : "", l.layer, static_cast<long long>(l.ac_tokens_touched),
                    static_cast<long long>(l.ac_tokens_seen));
      line += buf;
    }
  }
  ImGui::PushTextWrapPos(0);
  ImGui::TextDisabled("%s", line.c_str());
  ImGui::PopTextWrapPos();
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::TextUnformatted("What Focal Guidance did in each weak layer of the last guided run (B), summed over its forwards:");
    for (const auto& l : b.guidance_layer_stats)
      ImGui::Text("layer %d: AC ran %lld times, touched %lld of %lld tokens (%.3f%%); FSG ran %lld times", l.layer,
                  static_cast<long long>(l.ac_applications), static_cast<long long>(l.ac_tokens_touched),
                  static_cast<long long>(l.ac_tokens_seen),
                  l.ac_tokens_seen ? 100.0 * double(l.ac_tokens_touched) / double(l.ac_tokens_seen) : 0.0,
                  static_cast<long long>(l.fsg_applications));
    if (b.cache_values > 0)
      ImGui::Text("aggregated cache values: %lld, above tau_cache %.6g: %lld; largest %.6g",
                  static_cast<long long>(b.cache_values), ran.tau_cache, static_cast<long long>(b.cache_above), b.cache_max);
    else if (b.guidance.ac)
      ImGui::TextUnformatted("no aggregated cache value was built");
    ImGui::EndTooltip();
  }
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
    } else if (b->guidance_applied && !b->guidance.fsg && !b->guidance.ac) {
      ImGui::TextColored(ImVec4(0.0f, 0.75f, 0.55f, 1), "B: dynamic CFG only (%s reading; its sigma2 in the Large view's "
                         "Hallucination tab)", b->guidance.dyncfg_raise ? "raise-only" : "literal");
    } else if (b->guidance_applied) {
      std::string kw;
      for (const auto& w : b->guided_keywords) kw += (kw.empty() ? "" : ", ") + w;
      ImGui::TextColored(ImVec4(0.0f, 0.75f, 0.55f, 1), "B: %s%s%s on weak layers %s; keywords: %s%s",
                         b->guidance.fsg ? "FSG" : "", b->guidance.fsg && b->guidance.ac ? " + " : "",
                         b->guidance.ac ? "Attention Cache" : "", ranges(b->guidance_weak_layers).c_str(),
                         kw.empty() ? "(none yet)" : kw.c_str(), b->guidance.dyncfg ? "; + dynamic CFG" : "");
    } else if (b->state == session::RunState::Done) {
      ImGui::TextDisabled("B ran with Focal Guidance off (same as the baseline).");
    }
    ImGui::PopTextWrapPos();
    if (b->state == session::RunState::Done && !b->guided_keywords.empty() && ImGui::IsItemHovered()) {
      std::string kw;
      for (const auto& w : b->guided_keywords) kw += (kw.empty() ? "'" : ", '") + w + "'";
      ImGui::SetTooltip("FSG words of the last guided run: %s\n(%s)", kw.c_str(),
                        b->guidance.guided_words.empty() ? "selected by Eq. 6: CLIP max similarity above tau_sel"
                                                         : "the guided words you chose");
    }
  }
  ImGui::Checkbox("FSG", &g.fsg);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Fine-grained Semantic Guidance (Sec. 4.1): visual anchors fused into the keyword values (Eq. 8)\nand injected into the reference latent (Eq. 9) of the weak layers");
  ImGui::SameLine();
  ImGui::Checkbox("Attention Cache", &g.ac);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Attention Cache (Sec. 4.2): similarity maps of the responsive layers (Eq. 11)\nguide the weak layers (Eq. 12-13)");
  ImGui::SameLine();
  ImGui::Checkbox("Dynamic CFG", &g.dyncfg);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("KV-Lock's dynamic CFG on B: CFG-Zero*'s s* every step, and in the last kappa steps the\n"
                      "guidance weight scaled by the hallucination metric: w0 * clamp(sigma2 / tau, 0, 2)\n"
                      "(raise-only: never below w0). tau: the model's calibrated value, else 0.01 (docs/kv_lock.md)");
  if (g.dyncfg) {
    ImGui::SameLine();
    ImGui::Checkbox("raise only", &g.dyncfg_raise);
  }
  ImGui::SameLine();
  ImGui::TextDisabled(g.enabled() ? "B on" : "B off");
  // The last guided run's report sits right under the toggles it is about.
  const session::RunSnapshot* last_b = st.snap[1] && st.snap[1]->state == session::RunState::Done ? st.snap[1].get()
                                       : st.snap[1] && session::is_active(st.snap[1]->state)      ? st.done[1].get()
                                                                                                   : nullptr;
  if (last_b && last_b->guidance.enabled()) guided_run_report(*last_b);

  ImGui::BeginDisabled(!g.fsg);
  threshold_slider(st, "tau_sel", true, "τ_sel: a word becomes a keyword when max_n S(m,n) exceeds it (Eq. 6)");
  slider("tau_region", &g.tau_region, 0.0f, 1.0f, "τ_region: region R_k of Eq. 9 = patches whose normalised similarity exceeds it");
  slider("lambda_txt", &g.lambda_txt, 0.0f, 2.0f, "λ_txt: strength of the visual anchor fused into the text value (Eq. 8)");
  slider("lambda_lat", &g.lambda_lat, 0.0f, 2.0f, "λ_lat: strength of the anchor injected into the reference latent (Eq. 9)");
  ImGui::EndDisabled();
  ImGui::BeginDisabled(!g.ac);
  threshold_slider(st, "tau_cache", false, "τ_cache: keep cache positions with similarity above it (Eq. 12)");
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
  help_marker("Guidance acts on these layers. Unless you edit the set, it is the model's own, recorded in its manifest "
              "by `focalscope analyze` with the validated rule (each layer's text response against the depth trend over "
              "30 samples; docs/validation.md). Without one, the set from this session's single baseline run: a Moran's I "
              "dip (robust z-score, one contiguous band) - a quick map reading, not the validated detector.");
  ImGui::TextDisabled("model: %s   Moran's I dip in this run: %s", ranges(from_model).c_str(), ranges(detected).c_str());
  const std::vector<int> planted = base ? base->model_planted_weak_layers : std::vector<int>{};
  if (!planted.empty()) {
    ImGui::PushTextWrapPos(0);
    ImGui::TextColored(palette::kPlantedText, "planted weak layers: %s (ground truth, never read by the detector or FG)",
                       ranges(planted).c_str());
    ImGui::PopTextWrapPos();
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("The model was trained with these layers made weak on purpose (manifest \"planted_weak_layers\").\n"
                        "Compare them with the detected set; they are shown only.\nMarked with a bar under their buttons.");
  }
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
      const bool is_planted = std::find(planted.begin(), planted.end(), l) != planted.end();
      if (is_planted) {
        const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
        ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(a.x + 2, b.y - 3), ImVec2(b.x - 2, b.y), palette::kPlanted);
      }
      if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("layer %d: %s%s%s", l, on ? "weak" : "responsive", is_planted ? "; planted weak (ground truth)" : "",
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
