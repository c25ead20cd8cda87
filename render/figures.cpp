#include "render/figures.h"

#include <algorithm>
#include <limits>

#include "engine/core/error.h"

namespace focalscope::render {
namespace {

// Shortens s with a trailing ".." until it fits max_w at this scale.
std::string fit_label(std::string s, int max_w, int scale) {
  if (Canvas::text_width(s, scale) <= max_w) return s;
  while (!s.empty() && Canvas::text_width(s + "..", scale) > max_w) s.pop_back();
  return s + "..";
}

// Breaks a label onto at most two lines (at the last space that fits); the rest is truncated.
// Sets *clean = false when truncation was needed.
std::string wrap_label(const std::string& s, int max_w, int scale, bool* clean) {
  if (Canvas::text_width(s, scale) <= max_w) return s;
  for (size_t sp = s.rfind(' '); sp != std::string::npos && sp > 0; sp = s.rfind(' ', sp - 1)) {
    std::string first = s.substr(0, sp), rest = s.substr(sp + 1);
    if (Canvas::text_width(first, scale) > max_w) continue;
    if (Canvas::text_width(rest, scale) > max_w) *clean = false;
    return first + "\n" + fit_label(rest, max_w, scale);
  }
  *clean = false;
  return fit_label(s, max_w, scale);
}

// Column labels at the largest scale (from preferred down to 1) where all fit in <= 2 lines
// without truncation; truncated at scale 1 if even that fails. Returns the scale used.
int fit_column_labels(const std::vector<std::string>& in, int max_w, int preferred, std::vector<std::string>& out) {
  for (int s = preferred; s >= 1; --s) {
    bool clean = true;
    out.clear();
    for (const auto& l : in) out.push_back(wrap_label(l, max_w, s, &clean));
    if (clean || s == 1) return s;
  }
  return 1;
}

}  // namespace

// ---- (a) heatmap mosaic ------------------------------------------------------------------------

Image draw_heatmap_mosaic(const MosaicSpec& spec) {
  const int rows = static_cast<int>(spec.row_labels.size()), cols = static_cast<int>(spec.col_labels.size());
  if (rows == 0 || cols == 0) throw Error("draw_heatmap_mosaic: need at least one row label and one column label");
  if (spec.tiles.size() != static_cast<size_t>(rows) * cols)
    throw Error("draw_heatmap_mosaic: " + std::to_string(spec.tiles.size()) + " tiles for " + std::to_string(rows) +
                " rows x " + std::to_string(cols) + " columns");
  // Validate tiles, find the shared value range and the aspect ratio (from the first non-empty tile).
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  double aspect = 1.0;
  bool have_aspect = false;
  for (size_t i = 0; i < spec.tiles.size(); ++i) {
    const auto& t = spec.tiles[i];
    if (t.values.empty()) continue;
    if (t.width <= 0 || t.height <= 0 || t.values.size() != static_cast<size_t>(t.width) * t.height)
      throw Error("draw_heatmap_mosaic: tile " + std::to_string(i) + " has " + std::to_string(t.values.size()) +
                  " values for " + std::to_string(t.width) + "x" + std::to_string(t.height));
    auto [a, b] = finite_range(t.values.data(), t.values.size());
    if (a <= b && std::isfinite(a)) lo = std::min(lo, a), hi = std::max(hi, b);
    if (!have_aspect) aspect = double(t.height) / t.width, have_aspect = true;
  }
  if (lo > hi) lo = hi = 0;
  const float vmin = std::isnan(spec.vmin) ? lo : spec.vmin, vmax = std::isnan(spec.vmax) ? hi : spec.vmax;

  const int s = std::clamp(spec.font_scale, 1, 4);
  const int tile_w = std::max(8, spec.tile_px), tile_h = std::max(8, int(std::lround(tile_w * aspect)));
  const int gap = std::max(0, spec.gap_px), margin = 8 * s;
  const int grid_w = cols * tile_w + (cols - 1) * gap, grid_h = rows * tile_h + (rows - 1) * gap;

  // Labels shrink (then truncate) rather than overlap their neighbours.
  std::vector<std::string> col_labels, row_labels;
  const int col_s = fit_column_labels(spec.col_labels, tile_w + gap - 4, s, col_labels);
  const int row_s = std::min(s, std::max(1, (tile_h + gap) / 9));
  for (const auto& l : spec.row_labels) row_labels.push_back(fit_label(l, 40 * 6 * row_s, row_s));
  int row_label_w = 0;
  for (const auto& l : row_labels) row_label_w = std::max(row_label_w, Canvas::text_width(l, row_s));

  const int title_h = spec.title.empty() ? 0 : Canvas::text_height(spec.title, s) + 6 * s;
  const int col_title_h = spec.col_title.empty() ? 0 : Canvas::text_height(spec.col_title, s) + 4 * s;
  int col_label_h = 0;
  for (const auto& l : col_labels) col_label_h = std::max(col_label_h, Canvas::text_height(l, col_s) + 3 * s);
  const int row_title_w = spec.row_title.empty() ? 0 : Canvas::cap_height(s) + 10 * s;

  const int bar_w = 14 + 2 * s, bar_gap = 10 * s;
  const int bar_h = std::max(grid_h, 4 * Canvas::cap_height(s));
  const int cbar_w = colorbar_width(bar_w, vmin, vmax, s, spec.colorbar_label);

  const int grid_x = margin + row_title_w + row_label_w + 6 * s;
  const int grid_y = margin + title_h + col_title_h + col_label_h;
  int width = grid_x + grid_w + bar_gap + cbar_w + margin;
  if (!spec.title.empty()) width = std::max(width, Canvas::text_width(spec.title, s) + 2 * margin);
  const int height = grid_y + std::max(grid_h, bar_h) + margin;

  Canvas cv(width, height);
  if (!spec.title.empty()) cv.text(width / 2, margin, spec.title, colors::kText, s, Align::Center);
  if (!spec.col_title.empty())
    cv.text(grid_x + grid_w / 2, margin + title_h, spec.col_title, colors::kText, s, Align::Center);
  if (!spec.row_title.empty())
    cv.text_vertical(margin + Canvas::cap_height(s) / 2, grid_y + grid_h / 2, spec.row_title, colors::kText, s);

  for (int c = 0; c < cols; ++c) {
    int cx = grid_x + c * (tile_w + gap) + tile_w / 2;
    cv.text(cx, grid_y - 3 * s, col_labels[c], colors::kText, col_s, Align::Center, VAlign::Bottom);
  }
  for (int r = 0; r < rows; ++r) {
    int ty = grid_y + r * (tile_h + gap);
    cv.text(grid_x - 6 * s, ty + tile_h / 2, row_labels[r], colors::kText, row_s, Align::Right, VAlign::Middle);
    for (int c = 0; c < cols; ++c) {
      int tx = grid_x + c * (tile_w + gap);
      const MosaicTile& t = spec.tiles[static_cast<size_t>(r) * cols + c];
      if (t.values.empty()) {
        cv.fill_rect(tx, ty, tile_w, tile_h, Color{235, 235, 235, 255});
        int ns = Canvas::text_width("n/a", s) < tile_w - 4 ? s : 1;
        cv.text(tx + tile_w / 2, ty + tile_h / 2, "n/a", Color{150, 150, 150, 255}, ns, Align::Center, VAlign::Middle);
        continue;
      }
      Image cell;
      if (!t.background.empty()) {
        Image bg = resize_bilinear(convert_channels(t.background, 3), tile_w, tile_h);
        cell = overlay_heatmap(bg, t.values, t.width, t.height, spec.overlay_opacity, spec.cmap, spec.upsample, vmin, vmax);
      } else {
        // Upsample the values, not the colours, so bilinear cells stay on the colormap.
        auto up = upsample_map(t.values.data(), t.width, t.height, tile_w, tile_h, spec.upsample);
        cell = apply_colormap(up, tile_w, tile_h, vmin, vmax, spec.cmap);
      }
      cv.draw_image(cell, tx, ty, tile_w, tile_h);
    }
  }
  draw_colorbar(cv, grid_x + grid_w + bar_gap, grid_y, bar_w, bar_h, spec.cmap, vmin, vmax, s, spec.colorbar_label);
  return cv.image();
}

// ---- (b) line plot -----------------------------------------------------------------------------

namespace {

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  bool valid() const { return lo <= hi; }
};

double x_at(const Series& s, size_t i) { return s.x.empty() ? double(i) : s.x[i]; }

// Index ranges [begin, end) where x, y (and the band, if any) are all finite: NaN breaks a curve.
std::vector<std::pair<size_t, size_t>> finite_runs(const Series& s, bool need_band) {
  std::vector<std::pair<size_t, size_t>> runs;
  size_t start = 0;
  bool in = false;
  for (size_t i = 0; i <= s.y.size(); ++i) {
    bool ok = i < s.y.size() && std::isfinite(x_at(s, i)) &&
              (need_band ? std::isfinite(s.lo[i]) && std::isfinite(s.hi[i]) : std::isfinite(s.y[i]));
    if (ok && !in) start = i, in = true;
    if (!ok && in) runs.emplace_back(start, i), in = false;
  }
  return runs;
}

}  // namespace

Image draw_line_plot(const LinePlotSpec& spec) {
  for (const auto& se : spec.series) {
    auto bad = [&](const char* what, size_t n) {
      throw Error("draw_line_plot: series '" + se.name + "' has " + std::to_string(n) + " " + what + " values for " +
                  std::to_string(se.y.size()) + " y values");
    };
    if (!se.x.empty() && se.x.size() != se.y.size()) bad("x", se.x.size());
    if (se.lo.size() != se.hi.size()) bad(se.lo.size() < se.hi.size() ? "lo" : "hi", std::min(se.lo.size(), se.hi.size()));
    if (!se.lo.empty() && se.lo.size() != se.y.size()) bad("lo/hi", se.lo.size());
  }
  const int s = std::clamp(spec.font_scale, 1, 4);
  const int margin = 8 * s;

  // Data ranges (bands included so they are never clipped by auto limits).
  Range xr, yr;
  for (const auto& se : spec.series)
    for (size_t i = 0; i < se.y.size(); ++i) {
      xr.add(x_at(se, i));
      yr.add(se.y[i]);
      if (!se.lo.empty()) yr.add(se.lo[i]), yr.add(se.hi[i]);
    }
  if (!xr.valid()) xr.lo = 0, xr.hi = 1;
  if (!yr.valid()) yr.lo = 0, yr.hi = 1;
  if (xr.hi == xr.lo) xr.lo -= 0.5, xr.hi += 0.5;
  if (yr.hi == yr.lo) yr.lo -= std::max(0.5, std::abs(yr.lo) * 0.1), yr.hi += std::max(0.5, std::abs(yr.hi) * 0.1);
  const double ypad = (yr.hi - yr.lo) * 0.05;
  PlotArea area;
  area.x0 = std::isnan(spec.x_min) ? xr.lo : spec.x_min;
  area.x1 = std::isnan(spec.x_max) ? xr.hi : spec.x_max;
  area.y0 = std::isnan(spec.y_min) ? yr.lo - ypad : spec.y_min;
  area.y1 = std::isnan(spec.y_max) ? yr.hi + ypad : spec.y_max;

  AxesStyle style;
  style.x_title = spec.x_label, style.y_title = spec.y_label, style.font_scale = s;

  // Legend sits right of the plot so it can never cover data.
  const int swatch = 22 + 2 * s, legend_pad = 5 * s, row_h = Canvas::line_height(s);
  int legend_w = 0;
  if (spec.legend && !spec.series.empty()) {
    int name_w = 0;
    for (const auto& se : spec.series) name_w = std::max(name_w, Canvas::text_width(se.name, s));
    legend_w = 2 * legend_pad + swatch + 4 * s + name_w;
  }
  bool shaded_labels = false;
  for (const auto& r : spec.shaded) shaded_labels = shaded_labels || !r.label.empty();
  const int small = std::max(1, s - 1);

  const int title_h = spec.title.empty() ? 0 : Canvas::text_height(spec.title, s) + 6 * s;
  const int strip_h = shaded_labels ? Canvas::text_height("0", s) + 4 * s : 0;
  area.y = margin + title_h + strip_h;
  area.x = margin + axes_left_margin(area, style);
  area.w = spec.width - area.x - margin - (legend_w ? legend_w + 6 * s : 0);
  area.h = spec.height - area.y - axes_bottom_margin(style) - margin;
  if (area.w < 40 || area.h < 40)
    throw Error("draw_line_plot: figure " + std::to_string(spec.width) + "x" + std::to_string(spec.height) +
                " is too small for its labels and legend");

  Canvas cv(spec.width, spec.height);
  if (!spec.title.empty()) cv.text(area.x + area.w / 2, margin, spec.title, colors::kText, s, Align::Center);
  draw_axes(cv, area, style);

  cv.set_clip(area.x, area.y, area.w, area.h);
  for (const auto& r : spec.shaded) {
    float a = area.px(r.x0), b = area.px(r.x1);
    int x0 = int(std::lround(std::min(a, b))), x1 = int(std::lround(std::max(a, b)));
    cv.fill_rect(x0, area.y, std::max(1, x1 - x0), area.h, r.color);
  }
  for (size_t k = 0; k < spec.series.size(); ++k) {
    const Series& se = spec.series[k];
    if (se.lo.empty()) continue;
    Color c = se.color.value_or(colors::series(int(k)));
    c.a = uint8_t(std::clamp(spec.band_alpha, 0.0f, 1.0f) * 255);
    for (auto [b, e] : finite_runs(se, true)) {
      std::vector<PointF> poly;
      for (size_t i = b; i < e; ++i) poly.push_back({area.px(x_at(se, i)), area.py(se.hi[i])});
      for (size_t i = e; i-- > b;) poly.push_back({area.px(x_at(se, i)), area.py(se.lo[i])});
      if (e - b == 1) {  // a one-point band is a short vertical bar
        cv.line(poly[0].x, poly[0].y, poly[1].x, poly[1].y, c, 3.0f);
      } else {
        cv.fill_polygon(poly, c);
      }
    }
  }
  for (size_t k = 0; k < spec.series.size(); ++k) {
    const Series& se = spec.series[k];
    Color c = se.color.value_or(colors::series(int(k)));
    for (auto [b, e] : finite_runs(se, false)) {
      std::vector<PointF> pts;
      for (size_t i = b; i < e; ++i) pts.push_back({area.px(x_at(se, i)), area.py(se.y[i])});
      cv.polyline(pts, c, e - b == 1 ? std::max(5.0f, se.thickness * 2) : se.thickness);
    }
  }
  cv.reset_clip();

  // Shaded-range labels in their own strip above the plot: they never sit on the curves.
  for (const auto& r : spec.shaded) {
    if (r.label.empty()) continue;
    float a = std::clamp(area.px(r.x0), float(area.x), float(area.x + area.w));
    float b = std::clamp(area.px(r.x1), float(area.x), float(area.x + area.w));
    int strip = int(std::abs(b - a));
    // Full size when it fits the strip, else the small font, else truncated, else omitted.
    const int ls = Canvas::text_width(r.label, s) <= strip ? s : small;
    std::string lab = fit_label(r.label, std::max(strip, 0), ls);
    if (lab == ".." || Canvas::text_width(lab, ls) > strip) continue;
    Color tc{uint8_t(r.color.r * 0.6), uint8_t(r.color.g * 0.6), uint8_t(r.color.b * 0.6), 255};
    cv.text(int((a + b) / 2), area.y - 2 * s, lab, tc, ls, Align::Center, VAlign::Bottom);
  }

  if (legend_w) {
    const int lx = area.x + area.w + 6 * s, ly = area.y;
    const int lh = 2 * legend_pad + int(spec.series.size()) * row_h - (row_h - Canvas::cap_height(s));
    cv.fill_rect(lx, ly, legend_w, lh, colors::kWhite);
    cv.stroke_rect(lx, ly, legend_w, lh, colors::kGrid);
    for (size_t k = 0; k < spec.series.size(); ++k) {
      const Series& se = spec.series[k];
      Color c = se.color.value_or(colors::series(int(k)));
      int cy = ly + legend_pad + int(k) * row_h + Canvas::cap_height(s) / 2;
      if (!se.lo.empty()) {
        Color bc = c;
        bc.a = uint8_t(std::clamp(spec.band_alpha, 0.0f, 1.0f) * 255);
        cv.fill_rect(lx + legend_pad, cy - 3 * s, swatch, 6 * s, bc);
      }
      cv.line(float(lx + legend_pad), cy + 0.5f, float(lx + legend_pad + swatch), cy + 0.5f, c, se.thickness + 0.5f);
      cv.text(lx + legend_pad + swatch + 4 * s, cy, se.name, colors::kText, s, Align::Left, VAlign::Middle);
    }
  }
  return cv.image();
}

}  // namespace focalscope::render
