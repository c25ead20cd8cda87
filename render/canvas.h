// A tiny raster "figure" canvas: enough primitives to draw publication-style PNG figures
// (heatmap mosaics, line plots) without a plotting library. Coordinates are pixels, y down.
#pragma once
#include <string>
#include <vector>

#include "render/colormap.h"
#include "render/image.h"

namespace focalscope::render {

struct PointF {
  float x = 0, y = 0;
};

enum class Align { Left, Center, Right };   // horizontal anchor of text at x
enum class VAlign { Top, Middle, Bottom };  // vertical anchor at y: cap top, cap middle, baseline

namespace colors {
constexpr Color kWhite{255, 255, 255, 255};
constexpr Color kBlack{0, 0, 0, 255};
constexpr Color kText{33, 33, 33, 255};
constexpr Color kAxis{64, 64, 64, 255};
constexpr Color kGrid{225, 225, 225, 255};
// A colour-blind-friendly qualitative palette (Okabe & Ito 2008) for line series.
Color series(int i);
}  // namespace colors

class Canvas {
 public:
  Canvas(int width, int height, Color background = colors::kWhite);

  int width() const { return img_.width; }
  int height() const { return img_.height; }
  const Image& image() const { return img_; }
  Image& image() { return img_; }
  void save(const std::string& path) const { save_png(path, img_); }

  // Restricts all drawing to a rectangle (e.g. a plot area) until reset_clip().
  void set_clip(int x, int y, int w, int h);
  void reset_clip();

  // Blends colour c into one pixel with coverage in [0,1]; respects the clip rectangle.
  void blend(int x, int y, Color c, float coverage = 1.0f);

  void fill_rect(int x, int y, int w, int h, Color c);
  void stroke_rect(int x, int y, int w, int h, Color c, int thickness = 1);
  // Thick line with round caps; antialiased edges by default (distance-to-segment coverage).
  void line(float x0, float y0, float x1, float y1, Color c, float thickness = 1.0f, bool antialias = true);
  // Joined segments; coverage is combined (max) before blending so joints are not double-darkened.
  void polyline(const std::vector<PointF>& pts, Color c, float thickness = 1.0f, bool antialias = true);
  // Even-odd fill, 4x vertically supersampled with exact horizontal coverage when antialiased.
  void fill_polygon(const std::vector<PointF>& pts, Color c, bool antialias = true);
  // Scales img into the rectangle (nearest keeps token cells crisp; smooth = bilinear).
  void draw_image(const Image& img, int x, int y, int w, int h, bool smooth = false);

  // Text with stb_easy_font's 5x7 stroke font, scaled by an integer factor (1..8; 2 is a good
  // default for figures). Printable ASCII only: other bytes are drawn as '?'. '\n' starts a line.
  void text(int x, int y, const std::string& s, Color c, int scale = 2, Align h = Align::Left,
            VAlign v = VAlign::Top);
  // Text rotated 90 degrees counter-clockwise (reads bottom to top), centred on (cx, cy): y-axis titles.
  void text_vertical(int cx, int cy, const std::string& s, Color c, int scale = 2);

  // Ink width of the widest line and height of a block of text (caps + descenders), in pixels.
  static int text_width(const std::string& s, int scale);
  static int text_height(const std::string& s, int scale);
  static int cap_height(int scale) { return 7 * scale; }
  static int line_height(int scale) { return 12 * scale; }

 private:
  struct Clip {
    int x0, y0, x1, y1;  // half-open
  };
  Image img_;
  Clip clip_;
};

// ---- axes and colour bars ---------------------------------------------------------------

// "Nice" tick positions (steps of 1, 2, 2.5 or 5 x 10^k) covering [lo, hi] with about target ticks.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// Formats a tick value with just enough decimals for the tick step; very large/small values use
// scientific notation. Never prints "-0".
std::string format_tick(double v, double step);

// A pixel rectangle paired with the data range it shows.
struct PlotArea {
  int x = 0, y = 0, w = 1, h = 1;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  float px(double x) const;  // data x -> pixel column
  float py(double y) const;  // data y -> pixel row (y0 at the bottom)
};

struct AxesStyle {
  std::string x_title, y_title;
  int font_scale = 2;
  int x_ticks = 6, y_ticks = 5;  // targets for nice_ticks
  bool grid = true;
  Color color = colors::kAxis;
};

// Space (pixels) that draw_axes needs left of and below the plot area for the given y range/style.
int axes_left_margin(const PlotArea& area, const AxesStyle& style);
int axes_bottom_margin(const AxesStyle& style);

// Grid (optional), frame, ticks with numeric labels and axis titles around area.
// Labels go outside the area: reserve axes_left_margin/axes_bottom_margin.
void draw_axes(Canvas& canvas, const PlotArea& area, const AxesStyle& style);

// Vertical colour bar (vmax at the top) with min/max labels right of the bar and an optional
// rotated label beyond them. Returns the total width used (bar + labels).
int draw_colorbar(Canvas& canvas, int x, int y, int w, int h, Colormap cmap, double vmin, double vmax,
                  int font_scale = 2, const std::string& label = "");
// Width draw_colorbar will use, for layout before drawing.
int colorbar_width(int bar_w, double vmin, double vmax, int font_scale, const std::string& label);

}  // namespace focalscope::render
