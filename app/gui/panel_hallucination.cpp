// KV-Lock's hallucination metric in the app (engine/pipeline/hallucination_trace.h), the Large view pane's second tab: sigma2 of the
// x̂0 trajectory over steps for A and B with tau drawn, live while the runs sample, and "where the model is still
// undecided": the per-position variance of the hovered step (else the latest) as a heatmap per latent frame.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"

namespace focalscope::gui {

using session::RunSnapshot;

namespace {

const RunSnapshot* trace_of(const AppState& st, int v) {
  const RunSnapshot* s = st.snap[v].get();
  if (s && s->state == session::RunState::Idle && s->job_id > 0) return nullptr;  // this side is off now
  if (s && s->hallucination.steps() > 0) return s;
  return st.done[v] && st.done[v]->hallucination.steps() > 0 ? st.done[v].get() : nullptr;
}

// One side's map of step k as F tiles of H x W cells, coloured on [0, vmax]; hovering a cell shows its value.
void heatmap_row(const RunSnapshot& s, int k, float vmax, float tile, const char* label) {
  const HallucinationTrace& t = s.hallucination;
  const auto& map = t.maps[static_cast<size_t>(k)];
  const int64_t F = t.grid[0], H = t.grid[1], W = t.grid[2];
  ImGui::TextUnformatted(label);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float cell = tile / static_cast<float>(std::max<int64_t>(H, W));
  for (int64_t f = 0; f < F; ++f) {
    if (f) ImGui::SameLine();
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::PushID(static_cast<int>(f));
    ImGui::InvisibleButton("tile", ImVec2(cell * W, cell * H));
    draw_hallucination_frame(dl, map, f, H, W, p0, ImVec2(cell * W, cell * H), vmax, /*translucent=*/false);
    if (ImGui::IsItemHovered()) {
      const ImVec2 m = ImGui::GetIO().MousePos;
      const int64_t x = std::clamp<int64_t>(static_cast<int64_t>((m.x - p0.x) / cell), 0, W - 1);
      const int64_t y = std::clamp<int64_t>(static_cast<int64_t>((m.y - p0.y) / cell), 0, H - 1);
      ImGui::SetTooltip("%s, step %d, latent frame %lld, position (%lld, %lld)\nvariance of x0 over the last %d steps: %.6g",
                        session::variant_name(s.variant), k, static_cast<long long>(f), static_cast<long long>(y),
                        static_cast<long long>(x), t.window_used[static_cast<size_t>(k)],
                        map[static_cast<size_t>((f * H + y) * W + x)]);
    }
    ImGui::PopID();
  }
}

}  // namespace

void draw_hallucination_frame(ImDrawList* dl, const std::vector<float>& map, int64_t f, int64_t H, int64_t W, ImVec2 p0,
                              ImVec2 size, float vmax, bool translucent) {
  const int64_t bh = std::max<int64_t>(1, (H + 63) / 64), bw = std::max<int64_t>(1, (W + 63) / 64);
  for (int64_t y = 0; y < H; y += bh)
    for (int64_t x = 0; x < W; x += bw) {
      double sum = 0;
      int n = 0;
      for (int64_t yy = y; yy < std::min(H, y + bh); ++yy)
        for (int64_t xx = x; xx < std::min(W, x + bw); ++xx) sum += map[static_cast<size_t>((f * H + yy) * W + xx)], ++n;
      const float a = vmax > 0 ? std::clamp(static_cast<float>(sum / n) / vmax, 0.0f, 1.0f) : 0.0f;
      dl->AddRectFilled(ImVec2(p0.x + size.x * x / W, p0.y + size.y * y / H),
                        ImVec2(p0.x + size.x * std::min(W, x + bw) / W, p0.y + size.y * std::min(H, y + bh) / H),
                        colormap_u32(render::Colormap::Inferno, a, translucent ? static_cast<int>(40 + 150 * a) : 255));
    }
}

void hallucination_section(AppState& st, float height) {
  const RunSnapshot* runs[2] = {trace_of(st, 0), trace_of(st, 1)};
  const RunSnapshot* any = runs[0] ? runs[0] : runs[1];
  if (!any) {
    ImGui::TextDisabled("sigma2 of the x0 trajectory appears here step by step while a run samples.");
    return;
  }
  int steps = 0;
  for (auto* r : runs)
    if (r) steps = std::max(steps, r->hallucination.steps());
  const double tau = any->hallucination_tau;
  LineChart ch;
  ch.x_label = "step";
  ch.y_label = "sigma2";
  ch.x_min = 0;
  ch.x_max = std::max(1, steps - 1);
  const ImU32 colors[2] = {palette::kMoran, palette::kGuided};
  for (int v = 0; v < 2; ++v) {
    if (!runs[v]) continue;
    ChartSeries s;
    s.name = v == 0 ? "A baseline" : "B focal guidance";
    s.y = runs[v]->hallucination.curve();
    s.color = colors[v];
    s.markers = true;
    ch.series.push_back(s);
  }
  ChartSeries t;
  t.name = any->hallucination_tau_calibrated ? "tau (calibrated)" : "tau (paper's 0.01, uncalibrated)";
  t.y.assign(static_cast<size_t>(std::max(steps, 2)), tau);
  t.color = palette::kAxis;
  t.dashed = true;
  t.thickness = 1.0f;
  ch.series.push_back(t);
  const float w = ImGui::GetContentRegionAvail().x;
  const float chart_h = std::max(90.0f, height * 0.55f);
  ImGui::TextDisabled("hallucination metric (KV-Lock): variance of x0 over the last %d steps, %s", any->hallucination.window,
                      any->hallucination.has_local() ? "inside the mask" : "whole latent");
  ImGui::SameLine();
  help_marker("x0 is the model's clean-latent prediction at each step. Trajectories inside the data support settle "
              "late in denoising; where sigma2 stays above tau the model is still undecided (a hallucination risk, "
              "KV-Lock arXiv 2603.09657). Hover the chart to pick a step for the heatmap.");
  const ChartResult r = ch.draw("hallucination", ImVec2(w, chart_h));
  int k = -1;
  if (r.hovered && r.hover_x >= 0) {
    k = r.hover_x;
    char a[64] = "-", b[64] = "-";
    for (int v = 0; v < 2; ++v) {
      if (!runs[v] || k >= runs[v]->hallucination.steps()) continue;
      const double x = runs[v]->hallucination.curve()[static_cast<size_t>(k)];
      std::snprintf(v == 0 ? a : b, 64, std::isfinite(x) ? "%.6g" : "no value (first step)", x);
    }
    ImGui::SetTooltip("step %d\nA sigma2 %s\nB sigma2 %s\ntau %.6g (%s)", k, a, b, tau,
                      any->hallucination_tau_calibrated ? "calibrated for this model" : "the paper's value, not calibrated");
  }
  // Heatmaps of step k (hovered, else the latest step with a map on the shown sides), on one colour scale.
  if (k < 0) k = steps - 1;
  float vmax = 0;
  for (auto* run : runs)
    if (run && k < run->hallucination.steps())
      for (float v : run->hallucination.maps[static_cast<size_t>(k)]) vmax = std::max(vmax, v);
  if (vmax <= 0) {
    ImGui::TextDisabled("step %d has no map yet (the variance needs two steps)", k);
    return;
  }
  // Tiles as large as the width allows for F frames and the height for the rows shown (one per side).
  int rows = 0;
  for (auto* run : runs) rows += run && k < run->hallucination.steps() && !run->hallucination.maps[static_cast<size_t>(k)].empty();
  const float row_h = (ImGui::GetContentRegionAvail().y - 4) / std::max(1, rows) - ImGui::GetTextLineHeightWithSpacing() -
                      ImGui::GetStyle().ItemSpacing.y;
  const float by_width = (w - 80) / static_cast<float>(std::max<int64_t>(1, any->hallucination.grid[0])) - 6;
  const float tile = std::clamp(std::min(by_width, row_h), 24.0f, 96.0f);
  ImGui::BeginGroup();
  for (int v = 0; v < 2; ++v) {
    if (!runs[v] || k >= runs[v]->hallucination.steps() || runs[v]->hallucination.maps[static_cast<size_t>(k)].empty()) continue;
    char label[64];
    std::snprintf(label, sizeof label, "%s, step %d, per latent frame", v == 0 ? "A" : "B", k);
    heatmap_row(*runs[v], k, vmax, tile, label);
  }
  ImGui::EndGroup();
  ImGui::SameLine();
  colorbar_widget("##hallcb", render::Colormap::Inferno, 0.0f, vmax, tile * 1.6f, "variance");
}

}  // namespace focalscope::gui
