#include "render/canvas.h"

#include <stb_easy_font.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "engine/core/error.h"

namespace focalscope::render {

Color colors::series(int i) {
  // Okabe-Ito, reordered so the first few are the most distinct on white; black last.
  static constexpr Color kPalette[] = {{0, 114, 178, 255},  {230, 159, 0, 255},  {0, 158, 115, 255},
                                       {213, 94, 0, 255},   {204, 121, 167, 255}, {86, 180, 233, 255},
                                       {240, 228, 66, 255}, {0, 0, 0, 255}};
  constexpr int n = sizeof(kPalette) / sizeof(kPalette[0]);
  return kPalette[((i % n) + n) % n];
}

namespace {

// Printable ASCII only: stb_easy_font indexes its glyph table with (c - 32) unchecked.
std::string sanitize(const std::string& s) {
  std::string out = s;
  for (char& ch : out) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (ch != '\n' && (u < 32 || u > 126)) ch = '?';
  }
  return out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines(1);
  for (char ch : s) {
    if (ch == '\n') lines.emplace_back();
    else lines.back() += ch;
  }
  return lines;
}

int clamp_scale(int scale) { return std::clamp(scale, 1, 8); }

// Unscaled ink width of one line: stb's advance includes ~2 px of trailing gap after the last glyph.
int line_ink_width(const std::string& line) {
  if (line.empty()) return 0;
  std::string tmp = line;
  return std::max(0, stb_easy_font_width(tmp.data()) - 2);
}

// One line of text as axis-aligned unit rectangles (x0, y0, x1, y1) in font pixels, origin at cap top.
struct Quad {
  float x0, y0, x1, y1;
};
std::vector<Quad> line_quads(const std::string& line) {
  std::vector<Quad> quads;
  if (line.empty()) return quads;
  std::vector<char> buf(line.size() * 1024 + 64);  // ~270 bytes/char on average per stb docs
  std::string tmp = line;
  int n = stb_easy_font_print(0, 0, tmp.data(), nullptr, buf.data(), static_cast<int>(buf.size()));
  quads.reserve(n);
  for (int q = 0; q < n; ++q) {
    const float* v0 = reinterpret_cast<const float*>(buf.data() + q * 64);       // vertex 0: top-left
    const float* v2 = reinterpret_cast<const float*>(buf.data() + q * 64 + 32);  // vertex 2: bottom-right
    quads.push_back({v0[0], v0[1], v2[0], v2[1]});
  }
  return quads;
}

double segment_distance(float px, float py, float ax, float ay, float bx, float by) {
  double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? std::clamp(((px - ax) * dx + (py - ay) * dy) / len2, 0.0, 1.0) : 0.0;
  double cx = ax + t * dx - px, cy = ay + t * dy - py;
  return std::sqrt(cx * cx + cy * cy);
}

}  // namespace

// ---- Canvas ---------------------------------------------------------------------------------

Canvas::Canvas(int width, int height, Color bg) {
  if (width <= 0 || height <= 0 || width > 32768 || height > 32768)
    throw Error("Canvas: size " + std::to_string(width) + "x" + std::to_string(height) + " is out of range");
  img_ = Image(width, height, 3);
  for (size_t i = 0; i < img_.pixels.size(); i += 3) img_.pixels[i] = bg.r, img_.pixels[i + 1] = bg.g, img_.pixels[i + 2] = bg.b;
  reset_clip();
}

void Canvas::set_clip(int x, int y, int w, int h) {
  clip_ = {std::max(0, x), std::max(0, y), std::min(img_.width, x + w), std::min(img_.height, y + h)};
}
void Canvas::reset_clip() { clip_ = {0, 0, img_.width, img_.height}; }

void Canvas::blend(int x, int y, Color c, float coverage) {
  if (x < clip_.x0 || y < clip_.y0 || x >= clip_.x1 || y >= clip_.y1) return;
  blend_pixel(img_, x, y, c, coverage);
}

void Canvas::fill_rect(int x, int y, int w, int h, Color c) {
  int x0 = std::max(x, clip_.x0), y0 = std::max(y, clip_.y0);
  int x1 = std::min(x + w, clip_.x1), y1 = std::min(y + h, clip_.y1);
  for (int yy = y0; yy < y1; ++yy)
    for (int xx = x0; xx < x1; ++xx) {
      if (c.a == 255) {
        uint8_t* p = img_.at(xx, yy);
        p[0] = c.r, p[1] = c.g, p[2] = c.b;
      } else {
        blend_pixel(img_, xx, yy, c, 1.0f);
      }
    }
}

void Canvas::stroke_rect(int x, int y, int w, int h, Color c, int t) {
  t = std::max(1, std::min(t, std::min(w, h)));
  fill_rect(x, y, w, t, c);
  fill_rect(x, y + h - t, w, t, c);
  fill_rect(x, y + t, t, h - 2 * t, c);
  fill_rect(x + w - t, y + t, t, h - 2 * t, c);
}

void Canvas::line(float x0, float y0, float x1, float y1, Color c, float thickness, bool antialias) {
  polyline({{x0, y0}, {x1, y1}}, c, thickness, antialias);
}

void Canvas::polyline(const std::vector<PointF>& pts, Color c, float thickness, bool antialias) {
  if (pts.empty()) return;
  const float r = std::max(thickness, 0.5f) * 0.5f;
  // Bounding box of the whole stroke, clipped: one coverage buffer for the polyline.
  float minx = pts[0].x, maxx = minx, miny = pts[0].y, maxy = miny;
  for (const auto& p : pts) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) return;
    minx = std::min(minx, p.x), maxx = std::max(maxx, p.x), miny = std::min(miny, p.y), maxy = std::max(maxy, p.y);
  }
  int bx0 = std::max(clip_.x0, int(std::floor(minx - r - 1))), by0 = std::max(clip_.y0, int(std::floor(miny - r - 1)));
  int bx1 = std::min(clip_.x1, int(std::ceil(maxx + r + 2))), by1 = std::min(clip_.y1, int(std::ceil(maxy + r + 2)));
  if (bx0 >= bx1 || by0 >= by1) return;
  const int bw = bx1 - bx0;
  std::vector<float> cov(static_cast<size_t>(bw) * (by1 - by0), 0.0f);
  const size_t nseg = pts.size() == 1 ? 1 : pts.size() - 1;
  for (size_t i = 0; i < nseg; ++i) {
    const PointF a = pts[i], b = pts.size() == 1 ? pts[0] : pts[i + 1];
    int sx0 = std::max(bx0, int(std::floor(std::min(a.x, b.x) - r - 1)));
    int sx1 = std::min(bx1, int(std::ceil(std::max(a.x, b.x) + r + 2)));
    int sy0 = std::max(by0, int(std::floor(std::min(a.y, b.y) - r - 1)));
    int sy1 = std::min(by1, int(std::ceil(std::max(a.y, b.y) + r + 2)));
    for (int y = sy0; y < sy1; ++y)
      for (int x = sx0; x < sx1; ++x) {
        // Pixel (x, y) covers [x, x+1) x [y, y+1); sample its centre.
        double d = segment_distance(x + 0.5f, y + 0.5f, a.x, a.y, b.x, b.y);
        float v = antialias ? float(std::clamp(r + 0.5 - d, 0.0, 1.0)) : (d <= r ? 1.0f : 0.0f);
        float& dst = cov[static_cast<size_t>(y - by0) * bw + (x - bx0)];
        dst = std::max(dst, v);
      }
  }
  for (int y = by0; y < by1; ++y)
    for (int x = bx0; x < bx1; ++x) {
      float v = cov[static_cast<size_t>(y - by0) * bw + (x - bx0)];
      if (v > 0) blend(x, y, c, v);
    }
}

void Canvas::fill_polygon(const std::vector<PointF>& pts, Color c, bool antialias) {
  if (pts.size() < 3) return;
  float minx = pts[0].x, maxx = minx, miny = pts[0].y, maxy = miny;
  for (const auto& p : pts) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) return;
    minx = std::min(minx, p.x), maxx = std::max(maxx, p.x), miny = std::min(miny, p.y), maxy = std::max(maxy, p.y);
  }
  int bx0 = std::max(clip_.x0, int(std::floor(minx))), bx1 = std::min(clip_.x1, int(std::ceil(maxx)) + 1);
  int by0 = std::max(clip_.y0, int(std::floor(miny))), by1 = std::min(clip_.y1, int(std::ceil(maxy)) + 1);
  if (bx0 >= bx1 || by0 >= by1) return;
  const int sub = antialias ? 4 : 1;
  std::vector<float> row(bx1 - bx0);
  std::vector<float> xs;
  for (int y = by0; y < by1; ++y) {
    std::fill(row.begin(), row.end(), 0.0f);
    for (int s = 0; s < sub; ++s) {
      const float sy = y + (s + 0.5f) / sub;
      xs.clear();
      for (size_t i = 0; i < pts.size(); ++i) {
        const PointF& a = pts[i];
        const PointF& b = pts[(i + 1) % pts.size()];
        if ((a.y <= sy && b.y > sy) || (b.y <= sy && a.y > sy)) xs.push_back(a.x + (sy - a.y) / (b.y - a.y) * (b.x - a.x));
      }
      std::sort(xs.begin(), xs.end());
      for (size_t k = 0; k + 1 < xs.size(); k += 2) {
        float xa = xs[k], xb = xs[k + 1];
        if (!antialias) {  // pixel centres inside the span
          xa = std::ceil(xa - 0.5f), xb = std::ceil(xb - 0.5f);
        }
        int px0 = std::max(bx0, int(std::floor(xa))), px1 = std::min(bx1 - 1, int(std::ceil(xb)) - 1);
        for (int px = px0; px <= px1; ++px) {
          float overlap = std::min(xb, float(px + 1)) - std::max(xa, float(px));
          if (overlap > 0) row[px - bx0] += overlap / sub;
        }
      }
    }
    for (int x = bx0; x < bx1; ++x)
      if (row[x - bx0] > 0) blend(x, y, c, std::min(1.0f, row[x - bx0]));
  }
}

void Canvas::draw_image(const Image& img, int x, int y, int w, int h, bool smooth) {
  check_image(img, "Canvas::draw_image");
  if (w <= 0 || h <= 0) return;
  Image scaled = (w == img.width && h == img.height) ? img : (smooth ? resize_bilinear(img, w, h) : resize_nearest(img, w, h));
  for (int yy = 0; yy < h; ++yy)
    for (int xx = 0; xx < w; ++xx) {
      const uint8_t* p = scaled.at(xx, yy);
      Color c = scaled.channels == 1 ? Color{p[0], p[0], p[0], 255}
                                     : Color{p[0], p[1], p[2], uint8_t(scaled.channels == 4 ? p[3] : 255)};
      blend(x + xx, y + yy, c, 1.0f);
    }
}

int Canvas::text_width(const std::string& s, int scale) {
  int w = 0;
  for (const auto& line : split_lines(sanitize(s))) w = std::max(w, line_ink_width(line));
  return w * clamp_scale(scale);
}

int Canvas::text_height(const std::string& s, int scale) {
  // Cap top of the first line to the lowest descender (9 font px) of the last line.
  int lines = static_cast<int>(split_lines(s).size());
  return (12 * (lines - 1) + 9) * clamp_scale(scale);
}

void Canvas::text(int x, int y, const std::string& s, Color c, int scale, Align h, VAlign v) {
  scale = clamp_scale(scale);
  const auto lines = split_lines(sanitize(s));
  const int n = static_cast<int>(lines.size());
  // Anchor on cap height: numbers and capitals look centred; descenders hang below as in print.
  int top = y;
  if (v == VAlign::Middle) top = y - (12 * (n - 1) + 7) * scale / 2;
  if (v == VAlign::Bottom) top = y - (12 * (n - 1) + 7) * scale;
  for (int i = 0; i < n; ++i) {
    int lw = line_ink_width(lines[i]) * scale;
    int left = h == Align::Left ? x : h == Align::Center ? x - lw / 2 : x - lw;
    int ly = top + 12 * scale * i;
    for (const Quad& q : line_quads(lines[i]))
      fill_rect(left + int(q.x0) * scale, ly + int(q.y0) * scale, int(q.x1 - q.x0) * scale, int(q.y1 - q.y0) * scale, c);
  }
}

void Canvas::text_vertical(int cx, int cy, const std::string& s, Color c, int scale) {
  scale = clamp_scale(scale);
  const std::string line = split_lines(sanitize(s)).front();  // one line is all a rotated title needs
  const int w = line_ink_width(line) * scale, hgt = 7 * scale;
  // Rotate CCW: font (u, v) -> canvas (left + v, bottom - u); the text box is hgt wide and w tall.
  const int left = cx - hgt / 2, bottom = cy + w / 2;
  for (const Quad& q : line_quads(line)) {
    int u0 = int(q.x0) * scale, u1 = int(q.x1) * scale, v0 = int(q.y0) * scale, v1 = int(q.y1) * scale;
    fill_rect(left + v0, bottom - u1, v1 - v0, u1 - u0, c);
  }
}

// ---- axes -----------------------------------------------------------------------------------

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo <= std::abs(hi) * 1e-12 || hi == lo) {
    double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  target = std::max(2, target);
  double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / mag, step;
  if (norm < 1.5) step = 1;
  else if (norm < 2.25) step = 2;
  else if (norm < 3.5) step = 2.5;
  else if (norm < 7.5) step = 5;
  else step = 10;
  step *= mag;
  std::vector<double> ticks;
  double first = std::ceil(lo / step - 1e-9) * step;
  for (double t = first; t <= hi + step * 1e-9 && ticks.size() < 100; t += step) {
    double snapped = std::round(t / step) * step;  // avoid 0.30000000000000004
    ticks.push_back(std::abs(snapped) < step * 1e-9 ? 0.0 : snapped);
  }
  return ticks;
}

std::string format_tick(double v, double step) {
  char buf[64];
  step = std::abs(step);
  if (!(step > 0) || !std::isfinite(step)) step = std::max(std::abs(v), 1.0);
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  if (std::abs(v) < step * 1e-6) return "0";  // float noise around a zero tick
  if (std::abs(v) >= 1e5 || step < 1e-4) {
    std::snprintf(buf, sizeof buf, "%.3g", v);  // scientific only where fixed decimals get unwieldy
  } else {
    // Fewest decimals that represent the step exactly (0.25 -> 2, 25 -> 0, 0.5 -> 1).
    int dec = 0;
    while (dec < 6 && std::abs(step * std::pow(10.0, dec) - std::round(step * std::pow(10.0, dec))) > 1e-6 * step * std::pow(10.0, dec)) ++dec;
    std::snprintf(buf, sizeof buf, "%.*f", std::min(dec, 6), v);
  }
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos) return "0";  // "-0.00" and friends
  return s;
}

float PlotArea::px(double xv) const {
  double t = x1 != x0 ? (xv - x0) / (x1 - x0) : 0.5;
  return float(x + t * w);
}
float PlotArea::py(double yv) const {
  double t = y1 != y0 ? (yv - y0) / (y1 - y0) : 0.5;
  return float(y + h - t * h);
}

namespace {
double tick_step(const std::vector<double>& t) { return t.size() >= 2 ? t[1] - t[0] : 1.0; }
constexpr int kTickLen = 5;
}  // namespace

int axes_left_margin(const PlotArea& area, const AxesStyle& style) {
  auto ticks = nice_ticks(area.y0, area.y1, style.y_ticks);
  int w = 0;
  for (double t : ticks) w = std::max(w, Canvas::text_width(format_tick(t, tick_step(ticks)), style.font_scale));
  int title = style.y_title.empty() ? 0 : Canvas::cap_height(style.font_scale) + 4 * style.font_scale;
  return kTickLen + 4 + w + 6 + title + 4;
}

int axes_bottom_margin(const AxesStyle& style) {
  int s = style.font_scale;
  int title = style.x_title.empty() ? 0 : Canvas::text_height(style.x_title, s) + 4 * s;
  return kTickLen + 4 + Canvas::text_height("0", s) + 4 + title + 2;
}

void draw_axes(Canvas& cv, const PlotArea& a, const AxesStyle& st) {
  const int s = st.font_scale;
  auto xt = nice_ticks(a.x0, a.x1, st.x_ticks), yt = nice_ticks(a.y0, a.y1, st.y_ticks);
  auto inside = [](double v, double lo, double hi) {
    double e = (std::max(lo, hi) - std::min(lo, hi)) * 1e-9;
    return v >= std::min(lo, hi) - e && v <= std::max(lo, hi) + e;
  };
  if (st.grid) {
    for (double t : xt)
      if (inside(t, a.x0, a.x1)) cv.fill_rect(int(std::lround(a.px(t))), a.y, 1, a.h, colors::kGrid);
    for (double t : yt)
      if (inside(t, a.y0, a.y1)) cv.fill_rect(a.x, int(std::lround(a.py(t))), a.w, 1, colors::kGrid);
  }
  // Left and bottom spines only: the open box reads cleaner in print.
  cv.fill_rect(a.x - 1, a.y, 1, a.h + 1, st.color);
  cv.fill_rect(a.x - 1, a.y + a.h, a.w + 1, 1, st.color);
  int label_w = 0;
  for (double t : yt) {
    if (!inside(t, a.y0, a.y1)) continue;
    int py = std::min(int(std::lround(a.py(t))), a.y + a.h);
    cv.fill_rect(a.x - 1 - kTickLen, py, kTickLen, 1, st.color);
    std::string lab = format_tick(t, tick_step(yt));
    label_w = std::max(label_w, Canvas::text_width(lab, s));
    cv.text(a.x - kTickLen - 5, py, lab, colors::kText, s, Align::Right, VAlign::Middle);
  }
  const int label_top = a.y + a.h + kTickLen + 4;
  for (double t : xt) {
    if (!inside(t, a.x0, a.x1)) continue;
    int px = int(std::lround(a.px(t)));
    cv.fill_rect(px, a.y + a.h + 1, 1, kTickLen, st.color);
    cv.text(px, label_top, format_tick(t, tick_step(xt)), colors::kText, s, Align::Center, VAlign::Top);
  }
  if (!st.x_title.empty())
    cv.text(a.x + a.w / 2, label_top + Canvas::text_height("0", s) + 4 * s, st.x_title, colors::kText, s,
            Align::Center, VAlign::Top);
  if (!st.y_title.empty()) {
    int cx = a.x - kTickLen - 5 - label_w - 6 - Canvas::cap_height(s) / 2 - 2 * s;
    cv.text_vertical(cx, a.y + a.h / 2, st.y_title, colors::kText, s);
  }
}

// ---- colour bar -----------------------------------------------------------------------------

namespace {
// Colour-bar ends are arbitrary data values, not nice ticks: 3 significant digits of the span,
// so 5e-18 next to 0.9 prints as 0 and 1000.2..1000.9 keeps its decimal.
std::string format_value(double v, double span) {
  char buf[64];
  double a = std::abs(v);
  if (!(span > 0) || !std::isfinite(span)) span = a;
  if (a == 0 || a < span * 1e-4) return "0";
  if (a >= 1e6 || span < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
  }
  int dec = std::clamp(2 - int(std::floor(std::log10(span))), 0, 6);
  std::snprintf(buf, sizeof buf, "%.*f", dec, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}
std::pair<std::string, std::string> colorbar_labels(double vmin, double vmax) {
  double span = std::abs(vmax - vmin);
  return {format_value(vmin, span), format_value(vmax, span)};
}
}  // namespace

int colorbar_width(int bar_w, double vmin, double vmax, int s, const std::string& label) {
  auto [lo, hi] = colorbar_labels(vmin, vmax);
  int w = bar_w + 6 + std::max(Canvas::text_width(lo, s), Canvas::text_width(hi, s));
  if (!label.empty()) w += 6 * s + Canvas::cap_height(s);
  return w;
}

int draw_colorbar(Canvas& cv, int x, int y, int w, int h, Colormap cmap, double vmin, double vmax, int s,
                  const std::string& label) {
  if (w <= 0 || h <= 0) return 0;
  for (int yy = 0; yy < h; ++yy) {
    float t = h > 1 ? 1.0f - float(yy) / (h - 1) : 0.5f;
    cv.fill_rect(x, y + yy, w, 1, colormap_color(cmap, t));
  }
  cv.stroke_rect(x, y, w, h, colors::kAxis, 1);
  auto [lo, hi] = colorbar_labels(vmin, vmax);
  const int lx = x + w + 6;
  cv.text(lx, y, hi, colors::kText, s, Align::Left, VAlign::Top);
  cv.text(lx, y + h, lo, colors::kText, s, Align::Left, VAlign::Bottom);
  int used = colorbar_width(w, vmin, vmax, s, "");
  if (!label.empty()) {
    int cx = x + used + 6 * s + Canvas::cap_height(s) / 2;
    cv.text_vertical(cx, y + h / 2, label, colors::kText, s);
  }
  return colorbar_width(w, vmin, vmax, s, label);
}

}  // namespace focalscope::render
