#include "render/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "engine/core/error.h"
#include "engine/core/limits.h"

namespace focalscope::render {
namespace {

[[noreturn]] void raise(const std::string& where, const std::string& what) { throw Error(where + ": " + what); }

uint8_t to_u8(float v) { return static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f) + 0.5f); }

// Reads one source pixel as RGBA so mixed-channel copies share one code path.
void read_rgba(const uint8_t* p, int channels, float out[4]) {
  if (channels == 1) {
    out[0] = out[1] = out[2] = p[0];
    out[3] = 255;
  } else {
    out[0] = p[0], out[1] = p[1], out[2] = p[2];
    out[3] = channels == 4 ? p[3] : 255;
  }
}

void write_rgba(uint8_t* p, int channels, const float in[4]) {
  if (channels == 1) {
    // Rec.601 luma: what "gray" means to most viewers.
    p[0] = to_u8(0.299f * in[0] + 0.587f * in[1] + 0.114f * in[2]);
  } else {
    p[0] = to_u8(in[0]), p[1] = to_u8(in[1]), p[2] = to_u8(in[2]);
    if (channels == 4) p[3] = to_u8(in[3]);
  }
}

void check_size(int w, int h, const char* what) {
  if (w <= 0 || h <= 0) raise(what, "target size " + std::to_string(w) + "x" + std::to_string(h) + " is not positive");
}

}  // namespace

Image::Image(int w, int h, int c, uint8_t fill) : width(w), height(h), channels(c) {
  if (w < 0 || h < 0 || (c != 1 && c != 3 && c != 4))
    raise("Image", "invalid shape " + std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(c));
  pixels.assign(static_cast<size_t>(w) * h * c, fill);
}

void check_image(const Image& img, const std::string& what) {
  if (img.width <= 0 || img.height <= 0)
    raise(what, "image is empty (" + std::to_string(img.width) + "x" + std::to_string(img.height) + ")");
  if (img.channels != 1 && img.channels != 3 && img.channels != 4)
    raise(what, "unsupported channel count " + std::to_string(img.channels) + " (need 1, 3 or 4)");
  if (img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels)
    raise(what, "pixel buffer holds " + std::to_string(img.pixels.size()) + " bytes, expected " +
                    std::to_string(static_cast<size_t>(img.width) * img.height * img.channels));
}

Image load_image(const std::string& path, int channels) {
  if (channels != 3 && channels != 4) raise(path, "load_image supports 3 or 4 channels, got " + std::to_string(channels));
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) raise(path, "file not found");
  if (std::filesystem::is_directory(path, ec)) raise(path, "is a directory, not an image");
  auto size = std::filesystem::file_size(path, ec);
  if (ec) raise(path, "cannot read file size (" + ec.message() + ")");
  if (size == 0) raise(path, "file is empty (0 bytes)");

  int w = 0, h = 0, n = 0;
  // Dimensions from the header first: a small file declaring a huge image is refused before anything is decoded.
  if (!stbi_info(path.c_str(), &w, &h, &n)) {
    const char* why = stbi_failure_reason();
    raise(path, std::string("cannot decode image (") + (why ? why : "unknown reason") + ")");
  }
  if (w <= 0 || h <= 0) raise(path, "image has zero size");
  if (w > focalscope::limits::kImageMaxSide || h > focalscope::limits::kImageMaxSide ||
      static_cast<int64_t>(w) * h > focalscope::limits::kImageMaxPixels)
    raise(path, "image of " + std::to_string(w) + "x" + std::to_string(h) + " pixels exceeds the limit of " +
                    std::to_string(focalscope::limits::kImageMaxSide) + " per side and " +
                    std::to_string(focalscope::limits::kImageMaxPixels) + " pixels");
  uint8_t* data = stbi_load(path.c_str(), &w, &h, &n, channels);
  if (!data) {
    const char* why = stbi_failure_reason();
    raise(path, std::string("cannot decode image (") + (why ? why : "unknown reason") + ")");
  }
  if (w <= 0 || h <= 0) {
    stbi_image_free(data);
    raise(path, "decoded image has zero size");
  }
  Image img;
  img.width = w, img.height = h, img.channels = channels;
  img.pixels.assign(data, data + static_cast<size_t>(w) * h * channels);
  stbi_image_free(data);
  return img;
}

void save_png(const std::string& path, const Image& img) {
  check_image(img, path);
  int ok = stbi_write_png(path.c_str(), img.width, img.height, img.channels, img.pixels.data(),
                          static_cast<int>(img.stride()));
  if (!ok) raise(path, "cannot write PNG (does the directory exist and is it writable?)");
}

Image convert_channels(const Image& img, int channels) {
  check_image(img, "convert_channels");
  if (img.channels == channels) return img;
  Image out(img.width, img.height, channels);
  float px[4];
  const size_t n = static_cast<size_t>(img.width) * img.height;
  for (size_t i = 0; i < n; ++i) {
    read_rgba(img.pixels.data() + i * img.channels, img.channels, px);
    write_rgba(out.pixels.data() + i * channels, channels, px);
  }
  return out;
}

Image resize_bilinear(const Image& src, int width, int height) {
  check_image(src, "resize_bilinear");
  check_size(width, height, "resize_bilinear");
  Image out(width, height, src.channels);
  const int c = src.channels;
  // Precompute horizontal taps once; the inner loop is then two lerps per channel.
  std::vector<int> x0(width), x1(width);
  std::vector<float> fx(width);
  for (int x = 0; x < width; ++x) {
    float sx = std::clamp((x + 0.5f) * src.width / width - 0.5f, 0.0f, float(src.width - 1));
    x0[x] = static_cast<int>(sx);
    x1[x] = std::min(x0[x] + 1, src.width - 1);
    fx[x] = sx - x0[x];
  }
  for (int y = 0; y < height; ++y) {
    float sy = std::clamp((y + 0.5f) * src.height / height - 0.5f, 0.0f, float(src.height - 1));
    int y0 = static_cast<int>(sy), y1 = std::min(y0 + 1, src.height - 1);
    float fy = sy - y0;
    uint8_t* o = out.at(0, y);
    for (int x = 0; x < width; ++x) {
      const uint8_t *a = src.at(x0[x], y0), *b = src.at(x1[x], y0), *d = src.at(x0[x], y1), *e = src.at(x1[x], y1);
      for (int k = 0; k < c; ++k) {
        float top = a[k] + (b[k] - a[k]) * fx[x];
        float bot = d[k] + (e[k] - d[k]) * fx[x];
        *o++ = to_u8(top + (bot - top) * fy);
      }
    }
  }
  return out;
}

Image resize_nearest(const Image& src, int width, int height) {
  check_image(src, "resize_nearest");
  check_size(width, height, "resize_nearest");
  Image out(width, height, src.channels);
  for (int y = 0; y < height; ++y) {
    int sy = std::min(static_cast<int>((y + 0.5) * src.height / height), src.height - 1);
    for (int x = 0; x < width; ++x) {
      int sx = std::min(static_cast<int>((x + 0.5) * src.width / width), src.width - 1);
      std::copy_n(src.at(sx, sy), src.channels, out.at(x, y));
    }
  }
  return out;
}

void blit(Image& dst, const Image& src, int x, int y) {
  check_image(dst, "blit (destination)");
  check_image(src, "blit (source)");
  float px[4];
  for (int sy = std::max(0, -y); sy < src.height && y + sy < dst.height; ++sy)
    for (int sx = std::max(0, -x); sx < src.width && x + sx < dst.width; ++sx) {
      if (src.channels == dst.channels) {
        std::copy_n(src.at(sx, sy), src.channels, dst.at(x + sx, y + sy));
      } else {
        read_rgba(src.at(sx, sy), src.channels, px);
        write_rgba(dst.at(x + sx, y + sy), dst.channels, px);
      }
    }
}

void blend_pixel(Image& dst, int x, int y, Color c, float coverage) {
  if (x < 0 || y < 0 || x >= dst.width || y >= dst.height) return;
  float a = std::clamp(coverage, 0.0f, 1.0f) * (c.a / 255.0f);
  if (a <= 0.0f) return;
  uint8_t* p = dst.at(x, y);
  float d[4];
  read_rgba(p, dst.channels, d);
  const float s[3] = {float(c.r), float(c.g), float(c.b)};
  float out[4];
  if (dst.channels == 4) {
    // Porter-Duff "over" with straight alpha, so transparent canvases composite correctly later.
    float da = d[3] / 255.0f, oa = a + da * (1 - a);
    for (int k = 0; k < 3; ++k) out[k] = oa > 0 ? (s[k] * a + d[k] * da * (1 - a)) / oa : 0.0f;
    out[3] = oa * 255.0f;
  } else {
    for (int k = 0; k < 3; ++k) out[k] = d[k] + (s[k] - d[k]) * a;
    out[3] = 255.0f;
  }
  write_rgba(p, dst.channels, out);
}

void alpha_blend(Image& dst, const Image& src, int x, int y, float opacity) {
  check_image(dst, "alpha_blend (destination)");
  check_image(src, "alpha_blend (source)");
  opacity = std::clamp(opacity, 0.0f, 1.0f);
  float px[4];
  for (int sy = std::max(0, -y); sy < src.height && y + sy < dst.height; ++sy)
    for (int sx = std::max(0, -x); sx < src.width && x + sx < dst.width; ++sx) {
      read_rgba(src.at(sx, sy), src.channels, px);
      Color c{to_u8(px[0]), to_u8(px[1]), to_u8(px[2]), 255};
      blend_pixel(dst, x + sx, y + sy, c, opacity * px[3] / 255.0f);
    }
}

}  // namespace focalscope::render
