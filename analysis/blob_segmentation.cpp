#include "analysis/blob_segmentation.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "analysis/analysis_error.h"
#include "engine/shapes/shapes_vocab.h"

namespace focalscope::analysis {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::array<double, 6> basis(int x, int y, int w, int h) {
  const double u = (x + 0.5) / w - 0.5, v = (y + 0.5) / h - 0.5;
  return {1.0, u, v, u * u, u * v, v * v};
}

double dist3(const uint8_t* p, const std::array<double, 3>& c) {
  const double a = p[0] - c[0], b = p[1] - c[1], d = p[2] - c[2];
  return std::sqrt(a * a + b * b + d * d);
}

// Nearest named colour and its distance.
std::pair<int, double> nearest_named(const uint8_t* p) {
  const auto& pal = shapes::named_colors();
  int best = -1;
  int bd = 1 << 30;
  for (size_t k = 0; k < pal.size(); ++k) {
    const int a = p[0] - pal[k].rgb[0], b = p[1] - pal[k].rgb[1], c = p[2] - pal[k].rgb[2];
    const int d = a * a + b * b + c * c;
    if (d < bd) {
      bd = d;
      best = static_cast<int>(k);
    }
  }
  return {best, std::sqrt(static_cast<double>(bd))};
}

bool fit_planes(const RgbFrame& f, const std::vector<char>& use, BackgroundModel& m) {
  Eigen::Matrix<double, 6, 6> ata = Eigen::Matrix<double, 6, 6>::Zero();
  Eigen::Matrix<double, 6, 3> atb = Eigen::Matrix<double, 6, 3>::Zero();
  int n = 0;
  // Every other pixel in each direction: the background is smooth, and this is the checker's hot spot.
  for (int y = 0; y < f.h; y += 2)
    for (int x = 0; x < f.w; x += 2) {
      if (!use[static_cast<size_t>(y) * f.w + x]) continue;
      const auto b = basis(x, y, f.w, f.h);
      Eigen::Matrix<double, 6, 1> v;
      for (int i = 0; i < 6; ++i) v[i] = b[i];
      ata += v * v.transpose();
      for (int c = 0; c < 3; ++c) atb.col(c) += v * f.at(x, y)[c];
      ++n;
    }
  if (n < 12) return false;
  ata += 1e-6 * Eigen::Matrix<double, 6, 6>::Identity();  // keeps a near-empty quadratic term solvable
  const Eigen::Matrix<double, 6, 3> sol = ata.ldlt().solve(atb);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 6; ++i) m.coef[c][i] = sol(i, c);
  return true;
}

}  // namespace

std::array<double, 3> BackgroundModel::at(int x, int y) const {
  const auto b = basis(x, y, width, height);
  std::array<double, 3> out{};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 6; ++i) out[c] += coef[c][i] * b[i];
  return out;
}

BackgroundModel fit_background(const RgbFrame& ref, const SegmentParams& p) {
  if (ref.w <= 0 || ref.h <= 0 || ref.rgb.size() != static_cast<size_t>(ref.w) * ref.h * 3)
    raise("reference frame", "malformed (" + std::to_string(ref.w) + "x" + std::to_string(ref.h) + ")");
  BackgroundModel m;
  m.width = ref.w;
  m.height = ref.h;
  // First pass: everything not near a named colour; then drop pixels far from that fit (object edges,
  // anti-aliasing) and refit.
  std::vector<char> use(static_cast<size_t>(ref.w) * ref.h, 1);
  for (int y = 0; y < ref.h; ++y)
    for (int x = 0; x < ref.w; ++x)
      if (nearest_named(ref.at(x, y)).second < p.max_color_dist) use[static_cast<size_t>(y) * ref.w + x] = 0;
  if (!fit_planes(ref, use, m)) {
    // Nearly the whole frame is object-coloured: fall back to a flat grey.
    for (int c = 0; c < 3; ++c) m.coef[c] = {100, 0, 0, 0, 0, 0};
    m.image.assign(static_cast<size_t>(ref.w) * ref.h * 3, 100.0f);
    return m;
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (int y = 0; y < ref.h; ++y)
      for (int x = 0; x < ref.w; ++x) {
        const size_t i = static_cast<size_t>(y) * ref.w + x;
        if (use[i] && dist3(ref.at(x, y), m.at(x, y)) > 24) use[i] = 0;
      }
    BackgroundModel refit = m;
    if (fit_planes(ref, use, refit)) m = refit;
  }
  m.image.resize(static_cast<size_t>(ref.w) * ref.h * 3);
  m.palette_gap.resize(static_cast<size_t>(ref.w) * ref.h);
  for (int y = 0; y < ref.h; ++y)
    for (int x = 0; x < ref.w; ++x) {
      const auto c = m.at(x, y);
      const size_t i = static_cast<size_t>(y) * ref.w + x;
      uint8_t px[3];
      for (int k = 0; k < 3; ++k) {
        m.image[i * 3 + k] = static_cast<float>(c[k]);
        px[k] = static_cast<uint8_t>(std::clamp(std::lround(c[k]), 0L, 255L));
      }
      m.palette_gap[i] = static_cast<float>(std::max(0.0, nearest_named(px).second - 1.0));
    }
  return m;
}

std::vector<int> label_pixels(const RgbFrame& f, const BackgroundModel& bg, const SegmentParams& p) {
  if (f.w != bg.width || f.h != bg.height)
    raise("frame", std::to_string(f.w) + "x" + std::to_string(f.h) + " does not match the reference " +
                       std::to_string(bg.width) + "x" + std::to_string(bg.height));
  std::vector<int> labels(static_cast<size_t>(f.w) * f.h, -1);
  const bool cached = bg.image.size() == static_cast<size_t>(f.w) * f.h * 3 &&
                      bg.palette_gap.size() == static_cast<size_t>(f.w) * f.h;  // models built by hand have none
  for (int y = 0; y < f.h; ++y)
    for (int x = 0; x < f.w; ++x) {
      if (cached) {
        // Fast path for plain background: a pixel within gap/(1 + ratio) of the background cannot be within
        // ratio * (its distance to the background) of any named colour (triangle inequality).
        const size_t i = static_cast<size_t>(y) * f.w + x;
        const uint8_t* q = f.at(x, y);
        const double a = q[0] - bg.image[i * 3], b = q[1] - bg.image[i * 3 + 1], c = q[2] - bg.image[i * 3 + 2];
        const double lim = bg.palette_gap[i] / (1 + p.bg_ratio);
        if (a * a + b * b + c * c < lim * lim) continue;
      }
      const auto [k, d] = nearest_named(f.at(x, y));
      if (d > p.max_color_dist) continue;
      const size_t i = (static_cast<size_t>(y) * f.w + x) * 3;
      const std::array<double, 3> back = cached ? std::array<double, 3>{bg.image[i], bg.image[i + 1], bg.image[i + 2]}
                                                : bg.at(x, y);
      if (d <= p.bg_ratio * dist3(f.at(x, y), back))
        labels[static_cast<size_t>(y) * f.w + x] = k;
    }
  if (!p.open_masks) return labels;
  // Opening per label with a plus-shaped (4-neighbour) element: erode (keep a pixel only if it and its four
  // neighbours share the label), then dilate back within the original label. Removes slivers up to 2 px
  // wide (the mixed edge between two touching objects) and specks, but keeps the 1-px tips of diamonds and
  // triangles that a 3x3 square element would cut off.
  const int w = f.w, h = f.h;
  auto lab = [&](const std::vector<int>& L, int x, int y) { return x < 0 || y < 0 || x >= w || y >= h ? -1 : L[static_cast<size_t>(y) * w + x]; };
  static const int kPlus[5][2] = {{0, 0}, {1, 0}, {-1, 0}, {0, 1}, {0, -1}};
  std::vector<int> eroded(labels.size(), -1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int l = lab(labels, x, y);
      if (l < 0) continue;
      bool all = true;
      for (const auto& d : kPlus) all = all && lab(labels, x + d[0], y + d[1]) == l;
      if (all) eroded[static_cast<size_t>(y) * w + x] = l;
    }
  std::vector<int> opened(labels.size(), -1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int l = lab(labels, x, y);
      if (l < 0) continue;
      bool any = false;
      for (const auto& d : kPlus) any = any || lab(eroded, x + d[0], y + d[1]) == l;
      if (any) opened[static_cast<size_t>(y) * w + x] = l;
    }
  return opened;
}

std::string shape_class_name(ShapeClass s) {
  switch (s) {
    case ShapeClass::Circle: return "circle";
    case ShapeClass::Square: return "square";
    case ShapeClass::Triangle: return "triangle";
    case ShapeClass::TriangleDown: return "triangle (upside down)";
    case ShapeClass::Diamond: return "diamond";
    case ShapeClass::Unknown: break;
  }
  return "unknown";
}

ShapeClass shape_class_of(const std::string& shape) {
  if (shape == "circle") return ShapeClass::Circle;
  if (shape == "square") return ShapeClass::Square;
  if (shape == "triangle") return ShapeClass::Triangle;
  if (shape == "diamond") return ShapeClass::Diamond;
  return ShapeClass::Unknown;
}

namespace {

// Ideal outlines of a given area, centred on their centroid: one membership test per class.
struct Templates {
  double r2, half_sq, half_diamond, tri_s;
  explicit Templates(double area)
      : r2(area / kPi), half_sq(std::sqrt(area) / 2), half_diamond(std::sqrt(area / 2)), tri_s(std::sqrt(2 * area)) {}
  bool inside(ShapeClass c, double dx, double dy) const {
    switch (c) {
      case ShapeClass::Circle: return dx * dx + dy * dy <= r2;
      case ShapeClass::Square: return std::fabs(dx) <= half_sq && std::fabs(dy) <= half_sq;
      case ShapeClass::Diamond: return std::fabs(dx) + std::fabs(dy) <= half_diamond;
      case ShapeClass::Triangle:
      case ShapeClass::TriangleDown: {
        const double s = tri_s;  // base = height = s, apex 2s/3 above the centroid
        if (c == ShapeClass::TriangleDown) dy = -dy;
        if (dy > s / 3 || dy < -2 * s / 3) return false;
        return 2 * std::fabs(dx) <= dy + 2 * s / 3;
      }
      case ShapeClass::Unknown: break;
    }
    return false;
  }
};

}  // namespace

void classify_shape(Blob& b, int img_w, double min_iou) {
  b.shape = ShapeClass::Unknown;
  b.shape_iou = 0;
  b.ious.fill(0);
  if (b.area < 12) return;  // too small to tell
  // Local bitmap covering the blob and any template of its area (templates reach at most ~0.95*sqrt(2A)).
  const double reach = 0.7 * std::sqrt(2.0 * b.area) + 2;
  const Templates tpl(b.area);
  const int x0 = std::min(b.x0, static_cast<int>(std::floor(b.cx - reach))), x1 = std::max(b.x1, static_cast<int>(std::ceil(b.cx + reach)));
  const int y0 = std::min(b.y0, static_cast<int>(std::floor(b.cy - reach))), y1 = std::max(b.y1, static_cast<int>(std::ceil(b.cy + reach)));
  const int lw = x1 - x0 + 1, lh = y1 - y0 + 1;
  std::vector<char> mine(static_cast<size_t>(lw) * lh, 0);
  for (int i : b.pixels) mine[static_cast<size_t>(i / img_w - y0) * lw + (i % img_w - x0)] = 1;
  for (ShapeClass c : {ShapeClass::Circle, ShapeClass::Square, ShapeClass::Diamond, ShapeClass::Triangle, ShapeClass::TriangleDown}) {
    int inter = 0, tmpl = 0;
    for (int y = 0; y < lh; ++y)
      for (int x = 0; x < lw; ++x) {
        // Blob coordinates use pixel centres at +0.5, like the centroid.
        if (!tpl.inside(c, x0 + x + 0.5 - b.cx, y0 + y + 0.5 - b.cy)) continue;
        ++tmpl;
        inter += mine[static_cast<size_t>(y) * lw + x];
      }
    const double iou = static_cast<double>(inter) / (tmpl + b.area - inter);
    b.ious[static_cast<size_t>(c)] = iou;
    if (iou > b.shape_iou) {
      b.shape_iou = iou;
      b.shape = c;
    }
  }
  if (b.shape_iou < min_iou) b.shape = ShapeClass::Unknown;
}

bool blob_shows(const Blob& b, ShapeClass c, double slack, double min_iou) {
  if (c == ShapeClass::Unknown || b.area < 12) return false;
  const double v = b.ious[static_cast<size_t>(c)];
  return v >= min_iou && v >= b.shape_iou - slack;
}

std::vector<Blob> find_blobs(const std::vector<int>& labels, int w, int h, const SegmentParams& p) {
  std::vector<int> comp(labels.size(), -1);
  std::vector<Blob> blobs;
  std::vector<int> stack;
  for (int start = 0; start < w * h; ++start) {
    if (labels[start] < 0 || comp[start] >= 0) continue;
    Blob b;
    b.color = labels[start];
    b.x0 = w;
    b.y0 = h;
    b.x1 = b.y1 = -1;
    const int id = static_cast<int>(blobs.size());
    stack.assign(1, start);
    comp[start] = id;
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      b.pixels.push_back(i);
      const int x = i % w, y = i / w;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          const int j = ny * w + nx;
          if (comp[j] < 0 && labels[j] == b.color) {
            comp[j] = id;
            stack.push_back(j);
          }
        }
    }
    b.area = static_cast<int>(b.pixels.size());
    double sx = 0, sy = 0;
    int edges = 0;
    for (int i : b.pixels) {
      const int x = i % w, y = i / w;
      sx += x + 0.5;
      sy += y + 0.5;
      b.x0 = std::min(b.x0, x);
      b.x1 = std::max(b.x1, x);
      b.y0 = std::min(b.y0, y);
      b.y1 = std::max(b.y1, y);
      const int nb[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
      for (const auto& d : nb) {
        const int nx = x + d[0], ny = y + d[1];
        if (nx < 0 || ny < 0 || nx >= w || ny >= h || comp[ny * w + nx] != id) ++edges;
      }
    }
    b.cx = sx / b.area;
    b.cy = sy / b.area;
    b.fill = static_cast<double>(b.area) / ((b.x1 - b.x0 + 1) * (b.y1 - b.y0 + 1));
    b.compactness = edges > 0 ? 4 * kPi * b.area / (static_cast<double>(edges) * edges) : 0;
    classify_shape(b, w);
    blobs.push_back(std::move(b));
  }
  std::vector<Blob> kept;
  for (auto& b : blobs)
    if (b.area >= p.min_blob_area) kept.push_back(std::move(b));
  return kept;
}

FrameBlobs segment_frame(const RgbFrame& f, const BackgroundModel& bg, const SegmentParams& p) {
  FrameBlobs out;
  out.labels = label_pixels(f, bg, p);
  out.blobs = find_blobs(out.labels, f.w, f.h, p);
  for (auto& b : out.blobs) {
    for (int i : b.pixels)
      for (int k = 0; k < 3; ++k) b.mean_rgb[k] += f.rgb[static_cast<size_t>(i) * 3 + k];
    for (int k = 0; k < 3; ++k) b.mean_rgb[k] /= b.area;
  }
  return out;
}

}  // namespace focalscope::analysis
