#include "analysis/edit_metrics.h"

#include <algorithm>
#include <cmath>

#include "analysis/analysis_error.h"

namespace focalscope::analysis {
namespace {

using shapes::RgbFrame;
constexpr double kPsnrCap = 60.0;

// Checks the inputs and returns the background (outside the mask) of the videos' canvas, 1 = background.
std::vector<uint8_t> background_of(const char* what, const std::vector<RgbFrame>& a, const std::vector<RgbFrame>& b,
                                   const std::vector<uint8_t>& mask, int mask_w, int mask_h) {
  if (a.size() != b.size())
    raise(what, "videos have " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + " frames");
  if (a.size() < 2) raise(what, "need at least 2 frames (frame 0 is the shared reference), got " + std::to_string(a.size()));
  const int w = a[0].w, h = a[0].h;
  for (size_t t = 0; t < a.size(); ++t)
    for (const RgbFrame* f : {&a[t], &b[t]})
      if (f->w != w || f->h != h || f->rgb.size() != static_cast<size_t>(w) * h * 3)
        raise(what, "frame " + std::to_string(t) + " is " + std::to_string(f->w) + "x" + std::to_string(f->h) +
                        ", expected " + std::to_string(w) + "x" + std::to_string(h) + " in both videos");
  if (w <= 0 || h <= 0) raise(what, "empty frames");
  if (mask_w <= 0 || mask_h <= 0 || mask.size() != static_cast<size_t>(mask_w) * mask_h)
    raise(what, "mask is not " + std::to_string(mask_w) + "x" + std::to_string(mask_h) + " bytes");
  std::vector<uint8_t> bg(static_cast<size_t>(w) * h);
  size_t count = 0;
  for (int y = 0; y < h; ++y) {
    const int my = std::min(mask_h - 1, static_cast<int>(static_cast<long long>(y) * mask_h / h));
    for (int x = 0; x < w; ++x) {
      const int mx = std::min(mask_w - 1, static_cast<int>(static_cast<long long>(x) * mask_w / w));
      const bool background = mask[static_cast<size_t>(my) * mask_w + mx] == 0;
      bg[static_cast<size_t>(y) * w + x] = background;
      count += background;
    }
  }
  if (!count) raise(what, "the mask covers the whole frame: no background to compare");
  return bg;
}

std::vector<double> luma(const RgbFrame& f) {
  std::vector<double> y(static_cast<size_t>(f.w) * f.h);
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = 0.299 * f.rgb[3 * i] + 0.587 * f.rgb[3 * i + 1] + 0.114 * f.rgb[3 * i + 2];
  return y;
}

// Separable Gaussian blur, coordinates outside the image clamped to the nearest edge pixel.
std::vector<double> blur(const std::vector<double>& img, int w, int h, const std::vector<double>& k) {
  const int r = static_cast<int>(k.size() / 2);
  std::vector<double> tmp(img.size()), out(img.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double s = 0;
      for (int i = -r; i <= r; ++i) s += k[i + r] * img[static_cast<size_t>(y) * w + std::clamp(x + i, 0, w - 1)];
      tmp[static_cast<size_t>(y) * w + x] = s;
    }
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double s = 0;
      for (int i = -r; i <= r; ++i) s += k[i + r] * tmp[static_cast<size_t>(std::clamp(y + i, 0, h - 1)) * w + x];
      out[static_cast<size_t>(y) * w + x] = s;
    }
  return out;
}

std::vector<double> gaussian_kernel(int size, double sigma) {
  std::vector<double> k(size);
  double sum = 0;
  for (int i = 0; i < size; ++i) {
    const double d = i - size / 2;
    k[i] = std::exp(-d * d / (2 * sigma * sigma));
    sum += k[i];
  }
  for (double& v : k) v /= sum;
  return k;
}

}  // namespace

double background_psnr(const std::vector<RgbFrame>& a, const std::vector<RgbFrame>& b, const std::vector<uint8_t>& mask,
                       int mask_w, int mask_h) {
  const auto bg = background_of("background PSNR", a, b, mask, mask_w, mask_h);
  double total = 0;
  for (size_t t = 1; t < a.size(); ++t) {
    double se = 0;
    size_t n = 0;
    for (size_t i = 0; i < bg.size(); ++i) {
      if (!bg[i]) continue;
      for (int c = 0; c < 3; ++c) {
        const double d = static_cast<double>(a[t].rgb[3 * i + c]) - b[t].rgb[3 * i + c];
        se += d * d;
      }
      n += 3;
    }
    const double mse = se / n;
    total += mse > 0 ? std::min(kPsnrCap, 10 * std::log10(255.0 * 255.0 / mse)) : kPsnrCap;
  }
  return total / (a.size() - 1);
}

double background_ssim(const std::vector<RgbFrame>& a, const std::vector<RgbFrame>& b, const std::vector<uint8_t>& mask,
                       int mask_w, int mask_h) {
  const auto bg = background_of("background SSIM", a, b, mask, mask_w, mask_h);
  const int w = a[0].w, h = a[0].h;
  const auto k = gaussian_kernel(11, 1.5);
  const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2);
  double total = 0;
  for (size_t t = 1; t < a.size(); ++t) {
    const auto x = luma(a[t]), y = luma(b[t]);
    std::vector<double> xx(x.size()), yy(x.size()), xy(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      xx[i] = x[i] * x[i];
      yy[i] = y[i] * y[i];
      xy[i] = x[i] * y[i];
    }
    const auto mx = blur(x, w, h, k), my = blur(y, w, h, k);
    const auto sxx = blur(xx, w, h, k), syy = blur(yy, w, h, k), sxy = blur(xy, w, h, k);
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < bg.size(); ++i) {
      if (!bg[i]) continue;
      const double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cxy = sxy[i] - mx[i] * my[i];
      sum += ((2 * mx[i] * my[i] + c1) * (2 * cxy + c2)) / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
      ++n;
    }
    total += sum / n;
  }
  return total / (a.size() - 1);
}

}  // namespace focalscope::analysis
