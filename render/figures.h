// Two ready-made figures built on Canvas, with plain-data inputs:
//  (a) a mosaic grid of heatmaps (rows = layers, columns = denoising steps), one shared colour scale;
//  (b) a line plot of per-layer curves with optional shaded lo/hi bands and shaded x-ranges.
#pragma once
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "render/canvas.h"
#include "render/colormap.h"
#include "render/image.h"

namespace focalscope::render {

// One cell of the mosaic: a w x h scalar map (e.g. a token grid). Empty values draw a grey "n/a" cell.
// If background is set, the map is drawn over it (overlay_heatmap) instead of on its own.
struct MosaicTile {
  std::vector<float> values;
  int width = 0, height = 0;
  Image background;
};

struct MosaicSpec {
  std::vector<std::string> row_labels;  // one per row (layers)
  std::vector<std::string> col_labels;  // one per column (steps)
  std::vector<MosaicTile> tiles;        // row-major: tiles[r * cols + c]
  std::string title;
  std::string row_title = "layer";
  std::string col_title = "step";
  std::string colorbar_label;
  Colormap cmap = Colormap::Viridis;
  // Shared colour scale so cells are comparable; NaN = the finite range over all tiles.
  float vmin = NAN, vmax = NAN;
  int tile_px = 96;     // displayed width of each cell; height follows the map's aspect ratio
  int gap_px = 4;       // space between cells
  int font_scale = 2;
  Upsample upsample = Upsample::Nearest;  // nearest shows the token grid honestly
  float overlay_opacity = 0.6f;           // only used for tiles with a background
};

// Renders the mosaic. Throws Error when the tile count or a tile's size does not match its labels/values.
Image draw_heatmap_mosaic(const MosaicSpec& spec);

struct Series {
  std::string name;
  std::optional<Color> color;  // unset: colors::series(index)
  std::vector<double> y;
  std::vector<double> x;       // empty: 0, 1, 2, ...
  std::vector<double> lo, hi;  // optional band (both or neither), same length as y
  float thickness = 2.0f;
};

// A shaded vertical strip, e.g. "steps where guidance is on".
struct ShadedRange {
  double x0 = 0, x1 = 0;
  Color color{0, 0, 0, 28};
  std::string label;  // drawn inside the top of the strip when it fits
};

struct LinePlotSpec {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::vector<ShadedRange> shaded;
  int width = 900, height = 520;
  int font_scale = 2;
  // Axis limits; NaN = from the data (including bands) with a little padding on y.
  double x_min = NAN, x_max = NAN, y_min = NAN, y_max = NAN;
  float band_alpha = 0.22f;  // opacity of lo/hi bands
  bool legend = true;        // drawn to the right of the plot, never over the data
};

// Renders the plot. NaN y values break a line (and its band). Throws Error on mismatched lengths.
Image draw_line_plot(const LinePlotSpec& spec);

}  // namespace focalscope::render
