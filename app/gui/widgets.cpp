#include "app/gui/widgets.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "render/canvas.h"  // nice_ticks, format_tick

namespace focalscope::gui {

ImU32 colormap_u32(render::Colormap cmap, float t, int alpha) {
  render::Color c = render::colormap_color(cmap, t);
  return IM_COL32(c.r, c.g, c.b, alpha);
}

float draw_colorbar(ImDrawList* dl, ImVec2 p0, ImVec2 p1, render::Colormap cmap, float vmin, float vmax,
                    const char* label) {
  const int n = 64;
  const float h = p1.y - p0.y;
  for (int i = 0; i < n; ++i) {
    float y0 = p1.y - h * i / n, y1 = p1.y - h * (i + 1) / n;
    ImU32 a = colormap_u32(cmap, (i + 0.0f) / n), b = colormap_u32(cmap, (i + 1.0f) / n);
    dl->AddRectFilledMultiColor(ImVec2(p0.x, y1), ImVec2(p1.x, y0), b, b, a, a);
  }
  dl->AddRect(p0, p1, palette::kAxis);
  float width = p1.x - p0.x;
  const bool flat = !(vmax > vmin);
  std::vector<double> ticks = flat ? std::vector<double>{vmin} : render::nice_ticks(vmin, vmax, 4);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
  float maxw = 0;
  for (double t : ticks) {
    if (!flat && (t < vmin - 1e-9 || t > vmax + 1e-9)) continue;
    float y = flat ? p1.y : p1.y - h * static_cast<float>((t - vmin) / (vmax - vmin));
    std::string s = render::format_tick(t, step);
    dl->AddLine(ImVec2(p1.x, y), ImVec2(p1.x + 4, y), palette::kAxis);
    ImVec2 ts = ImGui::CalcTextSize(s.c_str());
    dl->AddText(ImVec2(p1.x + 6, y - ts.y * 0.5f), ImGui::GetColorU32(ImGuiCol_Text), s.c_str());
    maxw = std::max(maxw, ts.x);
  }
  width += 6 + maxw;
  if (label && *label) {
    ImVec2 ls = ImGui::CalcTextSize(label);
    dl->AddText(ImVec2(p0.x, p0.y - ls.y - 2), ImGui::GetColorU32(ImGuiCol_TextDisabled), label);
    width = std::max(width, ls.x);
  }
  return width;
}

void colorbar_widget(const char* id, render::Colormap cmap, float vmin, float vmax, float height, const char* label) {
  ImGui::PushID(id);
  ImVec2 p0 = ImGui::GetCursorScreenPos();
  const float label_h = label ? ImGui::GetTextLineHeight() + 4 : 0;
  p0.y += label_h;
  ImVec2 p1(p0.x + 14, p0.y + std::max(20.0f, height - label_h - ImGui::GetTextLineHeight() * 0.5f));
  float w = draw_colorbar(ImGui::GetWindowDrawList(), p0, p1, cmap, vmin, vmax, label);
  ImGui::SetCursorScreenPos(ImVec2(p0.x, p0.y - label_h));
  ImGui::InvisibleButton("bar", ImVec2(std::max(w, 14.0f), height));
  if (ImGui::IsItemHovered()) {
    float my = ImGui::GetIO().MousePos.y;
    float t = std::clamp((p1.y - my) / std::max(1.0f, p1.y - p0.y), 0.0f, 1.0f);
    ImGui::SetTooltip("%s = %.6g", label ? label : "value", vmin + t * (vmax - vmin));
  }
  ImGui::PopID();
}

namespace {
void dashed_line(ImDrawList* dl, ImVec2 a, ImVec2 b, ImU32 col, float th) {
  const float dash = 6, gap = 4;
  float len = std::hypot(b.x - a.x, b.y - a.y);
  if (len < 1e-3f) return;
  ImVec2 d((b.x - a.x) / len, (b.y - a.y) / len);
  for (float s = 0; s < len; s += dash + gap) {
    float e = std::min(len, s + dash);
    dl->AddLine(ImVec2(a.x + d.x * s, a.y + d.y * s), ImVec2(a.x + d.x * e, a.y + d.y * e), col, th);
  }
}
}  // namespace

namespace {
// [lo, hi] of the finite values (and band ends) of the series on one axis, padded; fixed bounds win.
void axis_range(const std::vector<ChartSeries>& series, bool right, double fixed_lo, double fixed_hi, double& lo,
                double& hi) {
  lo = fixed_lo;
  hi = fixed_hi;
  if (std::isfinite(lo) && std::isfinite(hi)) return;
  double a = INFINITY, b = -INFINITY;
  auto take = [&](const std::vector<double>& v) {
    for (double x : v)
      if (std::isfinite(x)) a = std::min(a, x), b = std::max(b, x);
  };
  for (const auto& s : series)
    if (s.right_axis == right) take(s.y), take(s.lo), take(s.hi);
  if (!std::isfinite(a)) a = 0, b = 1;
  if (b - a < 1e-6) a -= 0.05, b += 0.05;
  const double pad = 0.08 * (b - a);
  if (!std::isfinite(lo)) lo = a - pad;
  if (!std::isfinite(hi)) hi = b + pad;
}

ImU32 with_alpha(ImU32 c, int alpha) { return (c & ~IM_COL32_A_MASK) | (static_cast<ImU32>(alpha) << IM_COL32_A_SHIFT); }
}  // namespace

ChartResult LineChart::draw(const char* id, ImVec2 size) const {
  ChartResult res;
  ImGui::PushID(id);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  size.x = std::max(size.x, 120.0f);
  size.y = std::max(size.y, 80.0f);
  ImGui::InvisibleButton("chart", size);
  res.hovered = ImGui::IsItemHovered();
  res.clicked = ImGui::IsItemClicked();

  bool has_right = false;
  for (const auto& s : series) has_right = has_right || s.right_axis;
  double lo, hi, lo2 = 0, hi2 = 1;
  axis_range(series, false, y_min, y_max, lo, hi);
  if (has_right) axis_range(series, true, y2_min, y2_max, lo2, hi2);
  const float line_h = ImGui::GetTextLineHeight();
  const std::vector<double> yt = render::nice_ticks(lo, hi, 4);
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  float ylab_w = 0;
  for (double t : yt) ylab_w = std::max(ylab_w, ImGui::CalcTextSize(render::format_tick(t, ystep).c_str()).x);
  std::vector<double> yt2;
  double ystep2 = 1;
  float ylab2_w = 0;
  if (has_right) {
    yt2 = render::nice_ticks(lo2, hi2, 4);
    ystep2 = yt2.size() > 1 ? yt2[1] - yt2[0] : 1;
    for (double t : yt2) ylab2_w = std::max(ylab2_w, ImGui::CalcTextSize(render::format_tick(t, ystep2).c_str()).x);
  }
  const float left = origin.x + ylab_w + 8 + (y_label.empty() ? 0 : line_h + 2);
  const float top = origin.y + (title.empty() ? 4 : line_h + 6);
  const float right = origin.x + size.x - 8 - (has_right ? ylab2_w + 6 : 0);
  const float bottom = origin.y + size.y - line_h * (x_label.empty() ? 1.3f : 2.4f);
  if (right - left < 20 || bottom - top < 20) {
    ImGui::PopID();
    return res;
  }
  auto px = [&](double x) { return left + static_cast<float>((x - x_min) / std::max(1e-9, x_max - x_min)) * (right - left); };
  auto py1 = [&](double y) { return bottom - static_cast<float>((y - lo) / std::max(1e-12, hi - lo)) * (bottom - top); };
  auto py2 = [&](double y) { return bottom - static_cast<float>((y - lo2) / std::max(1e-12, hi2 - lo2)) * (bottom - top); };
  auto py = [&](const ChartSeries& s, double y) { return s.right_axis ? py2(y) : py1(y); };

  dl->PushClipRect(origin, ImVec2(origin.x + size.x, origin.y + size.y), true);
  dl->AddRectFilled(ImVec2(left, top), ImVec2(right, bottom), IM_COL32(20, 22, 27, 255));
  if (!title.empty()) dl->AddText(ImVec2(left, origin.y + 2), ImGui::GetColorU32(ImGuiCol_Text), title.c_str());

  // Shaded ranges (weak layers) under everything.
  for (auto [a, b] : shaded) {
    float x0 = std::max(left, px(a)), x1 = std::min(right, px(b));
    if (x1 > x0) dl->AddRectFilled(ImVec2(x0, top), ImVec2(x1, bottom), palette::kWeak);
  }
  // Grid + y ticks (left axis), then the right axis' ticks in the colour of its first series.
  for (double t : yt) {
    if (t < lo - 1e-12 || t > hi + 1e-12) continue;
    float y = py1(t);
    dl->AddLine(ImVec2(left, y), ImVec2(right, y), palette::kGrid);
    std::string s = render::format_tick(t, ystep);
    ImVec2 ts = ImGui::CalcTextSize(s.c_str());
    dl->AddText(ImVec2(left - 6 - ts.x, y - ts.y * 0.5f), palette::kAxis, s.c_str());
  }
  if (has_right) {
    ImU32 c2 = palette::kAxis;
    for (const auto& s : series)
      if (s.right_axis) {
        c2 = s.color;
        break;
      }
    for (double t : yt2) {
      if (t < lo2 - 1e-12 || t > hi2 + 1e-12) continue;
      float y = py2(t);
      dl->AddLine(ImVec2(right, y), ImVec2(right + 3, y), c2);
      std::string s = render::format_tick(t, ystep2);
      dl->AddText(ImVec2(right + 5, y - line_h * 0.5f), c2, s.c_str());
    }
    // The right axis' name on the title row, right-aligned, when it clears the title (else its coloured ticks and
    // the caller's legend say it).
    const float title_end = left + ImGui::CalcTextSize(title.c_str()).x + 12;
    const ImVec2 ts = ImGui::CalcTextSize(y2_label.c_str());
    if (!y2_label.empty() && right + ylab2_w - ts.x > title_end)
      dl->AddText(ImVec2(right + ylab2_w - ts.x, origin.y + 2), c2, y2_label.c_str());
  }
  // X ticks: integers (layers), thinned to fit.
  const int nx = static_cast<int>(std::floor(x_max)) - static_cast<int>(std::ceil(x_min)) + 1;
  const float min_px = ImGui::CalcTextSize("000").x + 6;
  int every = 1;
  for (int e : {1, 2, 5, 10, 20, 50, 100}) {
    every = e;
    if (nx <= 0 || (right - left) / (static_cast<float>(nx) / e) >= min_px) break;
  }
  for (int x = static_cast<int>(std::ceil(x_min)); x <= static_cast<int>(std::floor(x_max)); ++x) {
    float X = px(x);
    dl->AddLine(ImVec2(X, bottom), ImVec2(X, bottom + 3), palette::kAxis);
    if (x % every != 0) continue;
    char b[16];
    std::snprintf(b, sizeof b, "%d", x);
    ImVec2 ts = ImGui::CalcTextSize(b);
    dl->AddText(ImVec2(X - ts.x * 0.5f, bottom + 3), palette::kAxis, b);
  }
  dl->AddRect(ImVec2(left, top), ImVec2(right, bottom), palette::kAxis);
  if (!x_label.empty()) {
    ImVec2 ts = ImGui::CalcTextSize(x_label.c_str());
    dl->AddText(ImVec2((left + right - ts.x) * 0.5f, bottom + line_h + 4), palette::kAxis, x_label.c_str());
  }
  if (!y_label.empty()) {
    // ImGui has no rotated text: stack a short label vertically letter by letter.
    float y = (top + bottom) * 0.5f - line_h * 0.5f * y_label.size();
    for (char c : y_label) {
      char s[2] = {c, 0};
      dl->AddText(ImVec2(origin.x, y), palette::kAxis, s);
      y += line_h * 0.85f;
    }
  }

  // Selected x marker.
  if (marker_x >= 0) {
    float X = px(marker_x);
    dl->AddLine(ImVec2(X, top), ImVec2(X, bottom), IM_COL32(255, 221, 0, 120), 1.5f);
  }
  // Bands behind every line: one trapezoid per segment whose four ends are finite (a lone point: a bar).
  dl->PushClipRect(ImVec2(left, top), ImVec2(right, bottom), true);
  for (const auto& s : series) {
    if (s.lo.size() != s.y.size() || s.hi.size() != s.y.size()) continue;
    const ImU32 fill = with_alpha(s.color, 55);
    const size_t n = s.y.size();
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(s.lo[i]) || !std::isfinite(s.hi[i])) continue;
      const bool next = i + 1 < n && std::isfinite(s.lo[i + 1]) && std::isfinite(s.hi[i + 1]);
      const bool prev = i > 0 && std::isfinite(s.lo[i - 1]) && std::isfinite(s.hi[i - 1]);
      const float X = px(static_cast<double>(i));
      if (next) {
        const float X1 = px(static_cast<double>(i + 1));
        dl->AddQuadFilled(ImVec2(X, py(s, s.hi[i])), ImVec2(X1, py(s, s.hi[i + 1])), ImVec2(X1, py(s, s.lo[i + 1])),
                          ImVec2(X, py(s, s.lo[i])), fill);
      } else if (!prev) {
        dl->AddRectFilled(ImVec2(X - 3, py(s, s.hi[i])), ImVec2(X + 3, py(s, s.lo[i]) + 1), fill);
      }
    }
  }
  dl->PopClipRect();
  // Series.
  for (const auto& s : series) {
    ImVec2 prev;
    bool has_prev = false;
    for (size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) {
        has_prev = false;
        continue;
      }
      ImVec2 p(px(static_cast<double>(i)), py(s, s.y[i]));
      if (has_prev) {
        if (s.dashed) dashed_line(dl, prev, p, s.color, s.thickness);
        else dl->AddLine(prev, p, s.color, s.thickness);
      }
      if (s.markers || s.y.size() == 1) dl->AddCircleFilled(p, s.thickness + 1.5f, s.color);
      prev = p;
      has_prev = true;
    }
  }
  // Legend (top-right, inside): one row per series; a banded series' swatch is tinted with its band.
  {
    int rows = 0;
    float wmax = 0;
    for (const auto& s : series)
      if (s.in_legend) wmax = std::max(wmax, ImGui::CalcTextSize(s.name.c_str()).x), ++rows;
    float y = top + 4;
    const float x = right - wmax - 30;
    if (rows > 0)
      dl->AddRectFilled(ImVec2(x - 4, y - 2), ImVec2(right - 2, y + rows * (line_h + 2) + 2), IM_COL32(20, 22, 27, 200));
    for (const auto& s : series) {
      if (!s.in_legend) continue;
      const float mid = y + line_h * 0.5f;
      if (!s.lo.empty())
        dl->AddRectFilled(ImVec2(x, mid - line_h * 0.35f), ImVec2(x + 20, mid + line_h * 0.35f), with_alpha(s.color, 70));
      if (s.dashed) dashed_line(dl, ImVec2(x, mid), ImVec2(x + 20, mid), s.color, s.thickness);
      else dl->AddLine(ImVec2(x, mid), ImVec2(x + 20, mid), s.color, s.thickness);
      dl->AddText(ImVec2(x + 24, y), ImGui::GetColorU32(ImGuiCol_Text), s.name.c_str());
      y += line_h + 2;
    }
  }
  // Hover cursor.
  if (res.hovered) {
    const float mx = ImGui::GetIO().MousePos.x;
    const double xv = x_min + (mx - left) / std::max(1.0f, right - left) * (x_max - x_min);
    int xi = static_cast<int>(std::lround(xv));
    xi = std::clamp(xi, static_cast<int>(std::ceil(x_min)), static_cast<int>(std::floor(x_max)));
    res.hover_x = xi;
    float X = px(xi);
    dl->AddLine(ImVec2(X, top), ImVec2(X, bottom), palette::kCursor, 1.0f);
  }
  dl->PopClipRect();
  ImGui::PopID();
  return res;
}

bool chip(const char* label, const char* score, bool active, bool highlight, ImU32 accent) {
  ImGui::PushID(label);
  const ImVec2 pad(8, 3);
  const ImVec2 ls = ImGui::CalcTextSize(label);
  const ImVec2 ss = score && *score ? ImGui::CalcTextSize(score) : ImVec2(0, 0);
  const ImVec2 size(pad.x * 2 + ls.x + (ss.x > 0 ? ss.x + 6 : 0), pad.y * 2 + ls.y);
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const bool clicked = ImGui::InvisibleButton("chip", size);
  const bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 bg = active ? accent : (hovered ? IM_COL32(70, 74, 84, 255) : IM_COL32(48, 51, 58, 255));
  dl->AddRectFilled(p, ImVec2(p.x + size.x, p.y + size.y), bg, size.y * 0.5f);
  if (highlight) dl->AddRect(p, ImVec2(p.x + size.x, p.y + size.y), palette::kSelect, size.y * 0.5f, 0, 2.0f);
  const ImU32 fg = active ? IM_COL32(15, 15, 18, 255) : ImGui::GetColorU32(ImGuiCol_Text);
  dl->AddText(ImVec2(p.x + pad.x, p.y + pad.y), fg, label);
  if (ss.x > 0)
    dl->AddText(ImVec2(p.x + pad.x + ls.x + 6, p.y + pad.y), active ? IM_COL32(40, 40, 48, 255) : palette::kAxis, score);
  ImGui::PopID();
  return clicked;
}

void help_marker(const char* text) {
  ImGui::TextDisabled("(?)");
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
    ImGui::TextUnformatted(text);
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
}

}  // namespace focalscope::gui
