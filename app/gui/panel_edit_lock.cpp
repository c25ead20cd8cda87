// Edit mode, bottom pane: how well the background was kept (PSNR / SSIM of the edit vs the source outside the mask,
// frames 1..N, as `focalscope edit` prints it), what ran, the engine's no-op warnings ("the background lock did
// nothing"), and the lock over steps: alpha (left axis) with sigma2 and tau (right axis), the locked steps shaded;
// sigma2 fills in live while the edit samples, alpha when it is done. Hover the plot for exact values.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

using session::EditSnapshot;

namespace {

constexpr ImU32 kAlpha = IM_COL32(204, 121, 167, 255);   // reddish purple: the lock's alpha
constexpr ImU32 kSigma = palette::kMoran;                // sky blue: sigma2, as in the hallucination tab

void numbers(const EditSnapshot& s) {
  if (std::isfinite(s.bg_psnr)) {
    ImGui::Text("Background vs source (outside the mask, frames 1-%d):  PSNR %.2f dB   SSIM %.4f", s.frames_total - 1,
                s.bg_psnr, s.bg_ssim);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("PSNR %.6g dB (R, G, B outside the mask, per frame, capped at 60 dB, averaged)\n"
                        "SSIM %.6g (luma, 11x11 Gaussian window, averaged outside the mask)\n"
                        "frame 0 is the shared reference, so it is left out (analysis/edit_metrics.h)",
                        s.bg_psnr, s.bg_ssim);
  } else if (s.state == session::RunState::Done) {
    ImGui::TextDisabled("Background fidelity: not measured (see the warnings)");
  } else {
    ImGui::TextDisabled("Background fidelity: when the edit is decoded");
  }
  if (s.width > 0) {
    char locked[64] = "";
    if (s.kappa > 0) std::snprintf(locked, sizeof locked, " (locked: steps %d-%d, shaded)", s.steps_total - s.kappa, s.steps_total - 1);
    ImGui::TextDisabled("mask %.1f%% of the pixels; %s%s; %d steps, %d frames %dx%d%s%s", 100 * s.mask_fraction, s.mode.c_str(),
                        locked, s.steps_total, s.frames_total, s.width, s.height, s.model_name.empty() ? "" : "; ",
                        s.model_name.c_str());
  }
  for (const auto& w : s.noops) {
    ImGui::PushTextWrapPos(0);
    ImGui::TextColored(palette::kWarnText, "%s", w.c_str());
    ImGui::PopTextWrapPos();
  }
}

void lock_plot(AppState& st, const EditSnapshot& s, float height) {
  const int steps = std::max({s.steps_total, static_cast<int>(s.sigma2.size()), static_cast<int>(s.kvlock.size())});
  if (steps <= 0) return;
  LineChart ch;
  ch.title = s.lock ? "KV-Lock over steps: alpha (left), sigma2 and tau (right)" : "sigma2 over steps (this mode has no background lock)";
  ch.x_label = "step";
  ch.y_label = s.lock ? "alpha" : "";
  ch.y2_label = "sigma2";
  ch.x_min = 0;
  ch.x_max = std::max(1, steps - 1);
  ch.y_min = 0;
  ch.y_max = 1.05;
  ChartSeries alpha;
  alpha.name = "alpha (fusion ratio)";
  alpha.color = kAlpha;
  alpha.markers = true;
  for (const auto& k : s.kvlock) alpha.y.push_back(k.alpha);
  ChartSeries sig;
  sig.name = "sigma2 (inside the mask)";
  if (s.mode.find("kvlock-global") != std::string::npos) sig.name = "sigma2 (whole latent)";
  sig.y = s.sigma2;
  sig.color = kSigma;
  sig.right_axis = true;
  sig.thickness = 1.5f;
  ChartSeries tau;
  tau.name = s.tau_calibrated ? "tau (calibrated)" : "tau (paper's 0.01)";
  tau.y.assign(static_cast<size_t>(std::max(steps, 2)), s.tau);
  tau.color = palette::kAxis;
  tau.dashed = true;
  tau.thickness = 1.0f;
  tau.right_axis = true;
  if (s.lock) {
    ch.series.push_back(alpha);
  } else {  // no alpha to show: sigma2 and tau get the left axis
    sig.right_axis = tau.right_axis = false;
    ch.y_min = ch.y_max = NAN;
    ch.y_label = "sigma2";
    ch.y2_label.clear();
  }
  ch.series.push_back(sig);
  ch.series.push_back(tau);
  if (s.kappa > 0) ch.shaded.push_back({steps - s.kappa - 0.5, steps - 0.5});  // the locked steps
  const ImVec2 p0 = ImGui::GetCursorScreenPos();
  const float w = ImGui::GetContentRegionAvail().x;
  const ChartResult r = ch.draw("lockplot", ImVec2(w, height));
  st.edit.plot_rect[0] = p0.x;
  st.edit.plot_rect[1] = p0.y;
  st.edit.plot_rect[2] = w;
  st.edit.plot_rect[3] = height;
  if (r.hovered && r.hover_x >= 0) {
    const int k = r.hover_x;
    const double sg = k < static_cast<int>(s.sigma2.size()) ? s.sigma2[k] : NAN;
    char sig_s[48];
    std::snprintf(sig_s, sizeof sig_s, std::isfinite(sg) ? "%.6g" : "no value yet", sg);
    if (k < static_cast<int>(s.kvlock.size())) {
      const auto& ks = s.kvlock[k];
      char read[48];
      std::snprintf(read, sizeof read, std::isfinite(ks.sigma2) ? "%.6g" : "none yet", ks.sigma2);
      ImGui::SetTooltip("step %d\nalpha %.6g%s\nsigma2 read (step before) %s\nsigma2 at this step %s\ntau %.6g (%s)%s", k,
                        ks.alpha, ks.scheduled ? " (locked step)" : " (not locked)", read, sig_s, s.tau,
                        s.tau_calibrated ? "calibrated for this model" : "the paper's value", ks.source_pass ? "\nsource pass run" : "");
    } else {
      ImGui::SetTooltip("step %d\nsigma2 %s\ntau %.6g%s", k, sig_s, s.tau,
                        k >= steps - s.kappa && s.kappa > 0 ? "\nlocked step (alpha known when the edit finishes)" : "");
    }
  }
}

}  // namespace

void panel_edit_lock(AppState& st) {
  if (!begin_pane(st, Pane::EditLock)) {
    ImGui::End();
    return;
  }
  const EditSnapshot* s = shown_edit(st);
  if (!s) {
    std::fill(st.edit.plot_rect, st.edit.plot_rect + 4, 0.0f);
    ImGui::TextDisabled("Background PSNR / SSIM outside the mask and the lock's alpha per step appear here.");
    ImGui::End();
    return;
  }
  numbers(*s);
  lock_plot(st, *s, std::max(120.0f, ImGui::GetContentRegionAvail().y - 4));
  ImGui::End();
}

}  // namespace focalscope::gui
