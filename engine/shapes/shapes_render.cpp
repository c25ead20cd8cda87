// Rendering a Shapes case from its annotation alone: a smooth background, then every object in z order,
// 4x4 supersampled so edges are clean but not jagged (the VAE learns smooth edges more easily).
#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/shapes/shapes_world.h"

namespace focalscope::shapes {
namespace {

using nlohmann::json;
constexpr double kPi = 3.14159265358979323846;

// Smooth value noise on a coarse lattice (cells of ~24 px), in [-1, 1].
double lattice_value(uint64_t seed, int i, int j) {
  SplitMix64 r(seed ^ (static_cast<uint64_t>(i + 1000) * 0x9E3779B1ULL) ^ (static_cast<uint64_t>(j + 1000) << 32));
  return r.uniform() * 2 - 1;
}
double value_noise(uint64_t seed, double x, double y) {
  const double cell = 24.0;
  const double fx = x / cell, fy = y / cell;
  const int i = static_cast<int>(std::floor(fx)), j = static_cast<int>(std::floor(fy));
  double tx = fx - i, ty = fy - j;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  const double a = lattice_value(seed, i, j), b = lattice_value(seed, i + 1, j);
  const double c = lattice_value(seed, i, j + 1), d = lattice_value(seed, i + 1, j + 1);
  return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
}

std::array<double, 3> rgb_of(const json& v) { return {v.at(0).get<double>(), v.at(1).get<double>(), v.at(2).get<double>()}; }

// Background as floating-point RGB, so objects blend before the single final rounding.
std::vector<double> render_background(const json& bg, int w, int h) {
  const auto c0 = rgb_of(bg.at("color0")), c1 = rgb_of(bg.at("color1"));
  const double ang = bg.at("angle_deg").get<double>() * kPi / 180.0;
  const double amp = bg.at("noise_amp").get<double>();
  const uint64_t nseed = bg.at("noise_seed").get<uint64_t>();
  const double dx = std::cos(ang), dy = std::sin(ang);
  // Gradient parameter spans [0, 1] across the canvas along the direction.
  double lo = 1e9, hi = -1e9;
  for (double cx : {0.0, w - 1.0})
    for (double cy : {0.0, h - 1.0}) {
      lo = std::min(lo, cx * dx + cy * dy);
      hi = std::max(hi, cx * dx + cy * dy);
    }
  std::vector<double> out(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double t = hi > lo ? (x * dx + y * dy - lo) / (hi - lo) : 0.0;
      const double n = amp > 0 ? amp * value_noise(nseed, x, y) : 0.0;
      for (int c = 0; c < 3; ++c) out[(static_cast<size_t>(y) * w + x) * 3 + c] = c0[c] + (c1[c] - c0[c]) * t + n;
    }
  return out;
}

// Signed distance (negative inside) to the outline of an upright shape of the given size, exact inside and
// never larger than the true distance outside: a pixel whose centre is more than a half-diagonal from the
// outline is entirely in or out, and only the others need supersampling.
double outline_distance(ShapeKind shape, double lx, double ly, double s) {
  const double h = s / 2;
  switch (shape) {
    case ShapeKind::Circle: return std::hypot(lx, ly) - h;
    case ShapeKind::Square: return std::max(std::fabs(lx), std::fabs(ly)) - h;
    case ShapeKind::Diamond: return (std::fabs(lx) + std::fabs(ly) - h) / std::sqrt(2.0);
    case ShapeKind::Triangle: {
      // Centroid-centred, pointing up: apex (0, -2s/3), base corners (+-s/2, s/3). Sides: |x| = (y + 2s/3) / 2.
      const double side = (2 * std::fabs(lx) - (ly + 2 * s / 3)) / std::sqrt(5.0);
      return std::max(ly - s / 3, side);
    }
  }
  return 1e9;
}

}  // namespace

std::vector<RgbFrame> render_annotation(const json& ann) {
  try {
    const int w = ann.at("width").get<int>(), h = ann.at("height").get<int>();
    const auto& objects = ann.at("objects");
    const auto& states = ann.at("states");
    const auto bg = render_background(ann.at("background"), w, h);
    constexpr int kSS = 4;  // samples per axis
    std::vector<RgbFrame> frames;
    for (const auto& frame_states : states) {
      std::vector<double> px = bg;
      std::vector<const json*> order;
      for (const auto& s : frame_states) order.push_back(&s);
      std::stable_sort(order.begin(), order.end(),
                       [](const json* a, const json* b) { return a->at("z").get<int>() < b->at("z").get<int>(); });
      for (const json* sp : order) {
        const json& s = *sp;
        const double opacity = s.at("opacity").get<double>();
        if (opacity <= 0) continue;
        const ShapeKind shape = parse_shape(objects.at(s.at("id").get<int>()).at("shape").get<std::string>());
        const double cx = s.at("x").get<double>(), cy = s.at("y").get<double>(), size = s.at("size").get<double>();
        const double rot = s.at("rotation").get<double>() * kPi / 180.0, cr = std::cos(rot), sr = std::sin(rot);
        const auto col = rgb_of(s.at("color"));
        const double reach = size * 0.75 + 1;
        const int x0 = std::max(0, static_cast<int>(std::floor(cx - reach))), x1 = std::min(w - 1, static_cast<int>(std::ceil(cx + reach)));
        const int y0 = std::max(0, static_cast<int>(std::floor(cy - reach))), y1 = std::min(h - 1, static_cast<int>(std::ceil(cy + reach)));
        for (int y = y0; y <= y1; ++y)
          for (int x = x0; x <= x1; ++x) {
            // Pixel (x, y) covers [x, x+1) x [y, y+1); object coordinates use the same convention. Samples are
            // rotated into the object's frame (rotation is clockwise on screen).
            auto local_distance = [&](double px_, double py_) {
              const double dx = px_ - cx, dy = py_ - cy;
              return outline_distance(shape, cr * dx + sr * dy, -sr * dx + cr * dy, size);
            };
            const double centre = local_distance(x + 0.5, y + 0.5);
            double coverage;
            if (centre > 0.75) {
              continue;
            } else if (centre < -0.75) {
              coverage = 1;
            } else {
              int hits = 0;
              for (int sy = 0; sy < kSS; ++sy)
                for (int sx = 0; sx < kSS; ++sx) hits += local_distance(x + (sx + 0.5) / kSS, y + (sy + 0.5) / kSS) <= 0;
              if (!hits) continue;
              coverage = hits / static_cast<double>(kSS * kSS);
            }
            const double a = opacity * coverage;
            double* p = &px[(static_cast<size_t>(y) * w + x) * 3];
            for (int c = 0; c < 3; ++c) p[c] = p[c] * (1 - a) + col[c] * a;
          }
      }
      RgbFrame f(w, h);
      for (size_t i = 0; i < px.size(); ++i) f.rgb[i] = static_cast<uint8_t>(std::clamp(std::lround(px[i]), 0L, 255L));
      frames.push_back(std::move(f));
    }
    return frames;
  } catch (const nlohmann::json::exception& e) {
    throw Error("shapes annotation: cannot render (" + std::string(e.what()) + ")");
  }
}

std::vector<RgbFrame> render_case(const ShapesCase& c, const ShapesWorldConfig& cfg) {
  if (c.annotation.at("width").get<int>() != cfg.width || c.annotation.at("height").get<int>() != cfg.height ||
      c.annotation.at("frames").get<int>() != cfg.frames)
    throw Error("shapes case " + std::to_string(c.seed) + ": annotation was sampled for a different canvas than the config");
  return render_annotation(c.annotation);
}

RgbFrame render_reference(const ShapesCase& c) {
  nlohmann::json first = c.annotation;
  first["states"] = nlohmann::json::array({c.annotation.at("states").at(0)});
  return render_annotation(first).at(0);
}

std::vector<RgbFrame> render_static(const ShapesCase& c) {
  return std::vector<RgbFrame>(static_cast<size_t>(c.annotation.at("frames").get<int>()), render_reference(c));
}

}  // namespace focalscope::shapes
