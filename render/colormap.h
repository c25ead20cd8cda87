// Perceptual colormaps and heatmap rendering: scalar maps (token grids, attention, statistics)
// in, RGB pixels out.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "render/image.h"

namespace focalscope::render {

// Viridis and Inferno are perceptually uniform with monotone lightness (safe for magnitudes);
// Turbo is a rainbow for maximum contrast (not monotone: do not read it as "brighter = more").
enum class Colormap { Viridis, Inferno, Turbo, Gray };

// How a small token-grid map is brought up to frame size.
enum class Upsample { Nearest, Bilinear };

using ColorTable = std::array<std::array<uint8_t, 3>, 256>;

// The 256-entry table for a colormap (built once, on first use).
const ColorTable& colormap_table(Colormap cmap);
// Colour at t in [0,1] (clamped; NaN gives mid-gray).
Color colormap_color(Colormap cmap, float t);
const char* colormap_name(Colormap cmap);
// "viridis" | "inferno" | "turbo" | "gray" (case-insensitive); anything else throws Error.
Colormap parse_colormap(const std::string& name);

// Min and max over the finite values; {0, 0} when there are none.
std::pair<float, float> finite_range(const float* values, size_t n);

// Maps values (row-major, w*h) linearly from [vmin, vmax] to the colormap -> RGB image of w x h.
// Values outside the range clamp; NaN/inf become mid-gray; vmin == vmax maps everything to the low end.
// Pass NaN for vmin/vmax to use the data's finite range.
Image apply_colormap(const float* values, int w, int h, float vmin, float vmax, Colormap cmap = Colormap::Viridis);
Image apply_colormap(const std::vector<float>& values, int w, int h, float vmin, float vmax,
                     Colormap cmap = Colormap::Viridis);

// Resamples a scalar map to (out_w, out_h) with pixel-centre alignment. Bilinear interpolates the
// *values* (not colours) so the colormap stays exact; a NaN tap makes the output NaN.
std::vector<float> upsample_map(const float* map, int map_w, int map_h, int out_w, int out_h, Upsample mode);

// Colourises map (map_w x map_h, covering the whole frame) and blends it over frame with opacity in [0,1].
// Output has the frame's size and channel count. NaN map cells leave the frame untouched.
// vmin/vmax: NaN means "use the map's finite range".
Image overlay_heatmap(const Image& frame, const float* map, int map_w, int map_h, float opacity,
                      Colormap cmap = Colormap::Viridis, Upsample mode = Upsample::Bilinear, float vmin = NAN,
                      float vmax = NAN);
Image overlay_heatmap(const Image& frame, const std::vector<float>& map, int map_w, int map_h, float opacity,
                      Colormap cmap = Colormap::Viridis, Upsample mode = Upsample::Bilinear, float vmin = NAN,
                      float vmax = NAN);

}  // namespace focalscope::render
