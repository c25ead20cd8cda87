// Small immediate-mode drawing helpers on top of ImDrawList: colour bars, a line chart with axes, ticks,
// legend and shaded ranges (implot is not packaged), keyword chips, and the app's colours.
#pragma once
#include <imgui.h>

#include <string>
#include <vector>

#include "render/colormap.h"

namespace focalscope::gui {

namespace palette {
constexpr ImU32 kWeak = IM_COL32(213, 94, 0, 60);         // weak-layer band (Okabe-Ito vermillion, translucent)
constexpr ImU32 kWeakEdge = IM_COL32(230, 120, 40, 255);
constexpr ImU32 kMoran = IM_COL32(86, 180, 233, 255);     // sky blue
constexpr ImU32 kStd = IM_COL32(230, 159, 0, 255);        // orange
constexpr ImU32 kGuided = IM_COL32(0, 158, 115, 255);     // bluish green
constexpr ImU32 kCausal = IM_COL32(204, 121, 167, 255);   // reddish purple: ablation causal effect (right axis)
constexpr ImU32 kAxis = IM_COL32(170, 170, 170, 255);
constexpr ImU32 kGrid = IM_COL32(255, 255, 255, 28);
constexpr ImU32 kCursor = IM_COL32(255, 255, 255, 200);
constexpr ImU32 kSelect = IM_COL32(255, 221, 0, 255);     // selected grid cell
inline ImVec4 kErrorText{1.0f, 0.45f, 0.4f, 1.0f};
inline ImVec4 kWarnText{1.0f, 0.8f, 0.35f, 1.0f};
constexpr ImU32 kPlanted = IM_COL32(240, 228, 66, 255);
constexpr ImU32 kCompare = IM_COL32(240, 240, 240, 255);  // another model's analyze curves (white: neither run's colour)   // planted (ground-truth) weak layers: Okabe-Ito yellow
inline ImVec4 kPlantedText{0.94f, 0.89f, 0.26f, 1.0f};
inline ImVec4 kDimText{0.62f, 0.62f, 0.66f, 1.0f};
}  // namespace palette

ImU32 colormap_u32(render::Colormap cmap, float t, int alpha = 255);

// Vertical colour bar in [p0, p1] with the max at the top; tick labels to the right. Returns the width used.
float draw_colorbar(ImDrawList* dl, ImVec2 p0, ImVec2 p1, render::Colormap cmap, float vmin, float vmax,
                    const char* label = nullptr);
// Reserves space in the layout for a colour bar `height` tall and draws it; hovering shows the value there.
void colorbar_widget(const char* id, render::Colormap cmap, float vmin, float vmax, float height, const char* label);

// A line chart over an x range (layers). Add series, shaded x ranges and markers, then draw().
struct ChartSeries {
  std::string name;
  std::vector<double> y;      // one per x = 0..n-1; NaN breaks the line
  ImU32 color = palette::kMoran;
  float thickness = 2.0f;
  bool dashed = false;
  bool markers = false;
  // Optional interval band drawn behind the lines (translucent series colour; it also tints the legend swatch, so
  // the name should say what the band is); lo/hi like y.
  std::vector<double> lo, hi;
  bool right_axis = false;    // scaled on the chart's second (right-hand) y axis
  bool in_legend = true;      // false: explained outside the chart (long descriptions do not fit in it)
};
struct ChartResult {
  bool hovered = false;
  int hover_x = -1;           // nearest integer x under the mouse
  bool clicked = false;
};
struct LineChart {
  std::string title, x_label, y_label;
  std::vector<ChartSeries> series;
  std::vector<std::pair<double, double>> shaded;  // x ranges (e.g. weak layers, as [l - .5, l + .5])
  double x_min = 0, x_max = 1;
  double y_min = NAN, y_max = NAN;                // NaN: from the data
  std::string y2_label;                           // right-hand axis (series with right_axis), drawn when any has one
  double y2_min = NAN, y2_max = NAN;
  int marker_x = -1;                              // highlighted x (selected layer)
  ChartResult draw(const char* id, ImVec2 size) const;
};

// A rounded "chip" button: label plus a small score; filled when active. Returns true when clicked.
bool chip(const char* label, const char* score, bool active, bool highlight, ImU32 accent);

// "(?)" marker with a wrapped tooltip.
void help_marker(const char* text);

}  // namespace focalscope::gui
