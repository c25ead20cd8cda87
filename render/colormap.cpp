#include "render/colormap.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include "engine/core/error.h"

namespace focalscope::render {
namespace {

// Tables are generated from published polynomial fits (coefficients only; evaluated here):
//  - viridis, inferno: degree-6 minimax fits to matplotlib's BIDS tables, by Matt Zucconi
//    ("mattz", shadertoy WlfXRN, CC0).
//  - turbo: degree-5 fit by Ruofei Du to Anton Mikhailov's Turbo LUT (Google, 2019, Apache-2.0).
// Ascending powers of t, one row per channel (R, G, B). Max error vs the originals is a few /255,
// invisible in heatmaps, and avoids shipping 3x256 copied table entries.
constexpr double kViridis[3][7] = {
    {0.2777273272234177, 0.1050930431085774, -0.3308618287255563, -4.634230498983486, 6.228269936347081,
     4.776384997670288, -5.435455855934631},
    {0.005407344544966578, 1.404613529898575, 0.214847559468213, -5.799100973351585, 14.17993336680509,
     -13.74514537774601, 4.645852612178535},
    {0.3340998053353061, 1.384590162594685, 0.09509516302823659, -19.33244095627987, 56.69055260068105,
     -65.35303263337234, 26.3124352495832}};
constexpr double kInferno[3][7] = {
    {0.0002189403691192265, 0.1065134194856116, 11.60249308247187, -41.70399613139459, 77.162935699427,
     -71.31942824499214, 25.13112622477341},
    {0.001651004631001012, 0.5639564367884091, -3.972853965665698, 17.43639888205313, -33.40235894210092,
     32.62606426397723, -12.24266895238567},
    {-0.01948089843709184, 3.932712388889277, -15.9423941062914, 44.35414519872813, -81.80730925738993,
     73.20951985803202, -23.07032500287172}};
constexpr double kTurbo[3][7] = {
    {0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943, 0.0},
    {0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604, 0.0},
    {0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973, 0.0}};

ColorTable build_poly_table(const double (&coef)[3][7]) {
  ColorTable t{};
  for (int i = 0; i < 256; ++i) {
    double x = i / 255.0;
    for (int ch = 0; ch < 3; ++ch) {
      double v = 0;
      for (int k = 6; k >= 0; --k) v = v * x + coef[ch][k];  // Horner
      t[i][ch] = static_cast<uint8_t>(std::clamp(v, 0.0, 1.0) * 255.0 + 0.5);
    }
  }
  return t;
}

ColorTable build_gray_table() {
  ColorTable t{};
  for (int i = 0; i < 256; ++i) t[i] = {uint8_t(i), uint8_t(i), uint8_t(i)};
  return t;
}

constexpr uint8_t kNanGray = 128;

// Resolves "NaN means auto" for a value range.
void resolve_range(const float* v, size_t n, float& vmin, float& vmax) {
  if (std::isnan(vmin) || std::isnan(vmax)) {
    auto [lo, hi] = finite_range(v, n);
    if (std::isnan(vmin)) vmin = lo;
    if (std::isnan(vmax)) vmax = hi;
  }
}

void check_map(const float* values, int w, int h, const char* what) {
  if (!values) throw Error(std::string(what) + ": map pointer is null");
  if (w <= 0 || h <= 0)
    throw Error(std::string(what) + ": map size " + std::to_string(w) + "x" + std::to_string(h) + " is not positive");
}

}  // namespace

const ColorTable& colormap_table(Colormap cmap) {
  // Function-local statics: built once, thread-safe initialisation.
  static const ColorTable viridis = build_poly_table(kViridis);
  static const ColorTable inferno = build_poly_table(kInferno);
  static const ColorTable turbo = build_poly_table(kTurbo);
  static const ColorTable gray = build_gray_table();
  switch (cmap) {
    case Colormap::Viridis: return viridis;
    case Colormap::Inferno: return inferno;
    case Colormap::Turbo: return turbo;
    case Colormap::Gray: return gray;
  }
  throw Error("colormap: unknown colormap id " + std::to_string(static_cast<int>(cmap)));
}

Color colormap_color(Colormap cmap, float t) {
  if (std::isnan(t)) return {kNanGray, kNanGray, kNanGray, 255};
  int i = static_cast<int>(std::clamp(t, 0.0f, 1.0f) * 255.0f + 0.5f);
  const auto& e = colormap_table(cmap)[i];
  return {e[0], e[1], e[2], 255};
}

const char* colormap_name(Colormap cmap) {
  switch (cmap) {
    case Colormap::Viridis: return "viridis";
    case Colormap::Inferno: return "inferno";
    case Colormap::Turbo: return "turbo";
    case Colormap::Gray: return "gray";
  }
  return "unknown";
}

Colormap parse_colormap(const std::string& name) {
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (s == "viridis") return Colormap::Viridis;
  if (s == "inferno") return Colormap::Inferno;
  if (s == "turbo") return Colormap::Turbo;
  if (s == "gray" || s == "grey") return Colormap::Gray;
  throw Error("colormap '" + name + "': unknown (expected viridis, inferno, turbo or gray)");
}

std::pair<float, float> finite_range(const float* values, size_t n) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (size_t i = 0; i < n; ++i)
    if (std::isfinite(values[i])) lo = std::min(lo, values[i]), hi = std::max(hi, values[i]);
  if (lo > hi) return {0.0f, 0.0f};
  return {lo, hi};
}

Image apply_colormap(const float* values, int w, int h, float vmin, float vmax, Colormap cmap) {
  check_map(values, w, h, "apply_colormap");
  const size_t n = static_cast<size_t>(w) * h;
  resolve_range(values, n, vmin, vmax);
  const auto& table = colormap_table(cmap);
  const float span = vmax - vmin;
  const float scale = span > 0 ? 255.0f / span : 0.0f;  // degenerate range -> low end
  Image out(w, h, 3);
  for (size_t i = 0; i < n; ++i) {
    uint8_t* p = out.pixels.data() + 3 * i;
    float v = values[i];
    if (!std::isfinite(v)) {
      p[0] = p[1] = p[2] = kNanGray;
      continue;
    }
    int idx = static_cast<int>(std::clamp((v - vmin) * scale, 0.0f, 255.0f) + 0.5f);
    p[0] = table[idx][0], p[1] = table[idx][1], p[2] = table[idx][2];
  }
  return out;
}

Image apply_colormap(const std::vector<float>& values, int w, int h, float vmin, float vmax, Colormap cmap) {
  if (w <= 0 || h <= 0 || values.size() != static_cast<size_t>(w) * h)
    throw Error("apply_colormap: " + std::to_string(values.size()) + " values do not match " + std::to_string(w) +
                "x" + std::to_string(h));
  return apply_colormap(values.data(), w, h, vmin, vmax, cmap);
}

std::vector<float> upsample_map(const float* map, int map_w, int map_h, int out_w, int out_h, Upsample mode) {
  check_map(map, map_w, map_h, "upsample_map");
  if (out_w <= 0 || out_h <= 0) throw Error("upsample_map: output size is not positive");
  std::vector<float> out(static_cast<size_t>(out_w) * out_h);
  for (int y = 0; y < out_h; ++y) {
    for (int x = 0; x < out_w; ++x) {
      float& o = out[static_cast<size_t>(y) * out_w + x];
      if (mode == Upsample::Nearest) {
        int sx = std::min(static_cast<int>((x + 0.5) * map_w / out_w), map_w - 1);
        int sy = std::min(static_cast<int>((y + 0.5) * map_h / out_h), map_h - 1);
        o = map[static_cast<size_t>(sy) * map_w + sx];
        continue;
      }
      float fx = std::clamp((x + 0.5f) * map_w / out_w - 0.5f, 0.0f, float(map_w - 1));
      float fy = std::clamp((y + 0.5f) * map_h / out_h - 0.5f, 0.0f, float(map_h - 1));
      int x0 = int(fx), y0 = int(fy), x1 = std::min(x0 + 1, map_w - 1), y1 = std::min(y0 + 1, map_h - 1);
      float ax = fx - x0, ay = fy - y0;
      auto m = [&](int xx, int yy) { return map[static_cast<size_t>(yy) * map_w + xx]; };
      float top = m(x0, y0) * (1 - ax) + m(x1, y0) * ax;
      float bot = m(x0, y1) * (1 - ax) + m(x1, y1) * ax;
      o = top * (1 - ay) + bot * ay;  // NaN taps propagate by IEEE rules
    }
  }
  return out;
}

Image overlay_heatmap(const Image& frame, const float* map, int map_w, int map_h, float opacity, Colormap cmap,
                      Upsample mode, float vmin, float vmax) {
  check_image(frame, "overlay_heatmap (frame)");
  check_map(map, map_w, map_h, "overlay_heatmap");
  // Range comes from the original map so nearest/bilinear share identical colours.
  resolve_range(map, static_cast<size_t>(map_w) * map_h, vmin, vmax);
  std::vector<float> up = upsample_map(map, map_w, map_h, frame.width, frame.height, mode);
  const float span = vmax - vmin;
  Image out = frame;
  opacity = std::clamp(opacity, 0.0f, 1.0f);
  for (int y = 0; y < frame.height; ++y)
    for (int x = 0; x < frame.width; ++x) {
      float v = up[static_cast<size_t>(y) * frame.width + x];
      if (!std::isfinite(v)) continue;
      float t = span > 0 ? (v - vmin) / span : 0.0f;
      blend_pixel(out, x, y, colormap_color(cmap, t), opacity);
    }
  return out;
}

Image overlay_heatmap(const Image& frame, const std::vector<float>& map, int map_w, int map_h, float opacity,
                      Colormap cmap, Upsample mode, float vmin, float vmax) {
  if (map_w <= 0 || map_h <= 0 || map.size() != static_cast<size_t>(map_w) * map_h)
    throw Error("overlay_heatmap: " + std::to_string(map.size()) + " map values do not match " +
                std::to_string(map_w) + "x" + std::to_string(map_h));
  return overlay_heatmap(frame, map.data(), map_w, map_h, opacity, cmap, mode, vmin, vmax);
}

}  // namespace focalscope::render
