// Plain 8-bit raster images for render/: PNG/JPEG I/O, resizing and compositing.
// Deliberately torch-free: frames and maps arrive here as plain buffers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace focalscope::render {

// Interleaved 8-bit pixels, row-major, top row first. channels is 1 (gray), 3 (RGB) or 4 (RGBA).
struct Image {
  int width = 0, height = 0, channels = 3;
  std::vector<uint8_t> pixels;  // width * height * channels bytes

  Image() = default;
  Image(int w, int h, int c, uint8_t fill = 0);

  bool empty() const { return width <= 0 || height <= 0; }
  size_t stride() const { return static_cast<size_t>(width) * channels; }
  uint8_t* at(int x, int y) { return pixels.data() + static_cast<size_t>(y) * stride() + static_cast<size_t>(x) * channels; }
  const uint8_t* at(int x, int y) const {
    return pixels.data() + static_cast<size_t>(y) * stride() + static_cast<size_t>(x) * channels;
  }
};

// Straight (non-premultiplied) RGBA colour; a = 255 is opaque.
struct Color {
  uint8_t r = 0, g = 0, b = 0, a = 255;
};

// Loads a PNG or JPEG (anything stb_image decodes) as 3 (RGB) or 4 (RGBA) channels.
// Missing, unreadable, empty or corrupt files throw Error("<path>: ...").
Image load_image(const std::string& path, int channels = 3);

// Writes a PNG (1, 3 or 4 channels). Throws Error("<path>: ...") if the image is invalid or the write fails.
void save_png(const std::string& path, const Image& img);

// Same pixels with a different channel count: gray<->RGB<->RGBA (alpha added as 255, dropped when going down).
Image convert_channels(const Image& img, int channels);

// Bilinear resample with pixel-centre alignment (edges clamp), so a 1-pixel image becomes a flat fill.
Image resize_bilinear(const Image& src, int width, int height);
// Nearest-neighbour resample: keeps hard token/patch boundaries visible.
Image resize_nearest(const Image& src, int width, int height);

// Copies src into dst with its top-left at (x, y); clipped to dst. Channel counts may differ.
void blit(Image& dst, const Image& src, int x, int y);

// Composites src over dst at (x, y) with alpha = src alpha (if RGBA) * opacity; clipped to dst.
void alpha_blend(Image& dst, const Image& src, int x, int y, float opacity = 1.0f);

// Blends one colour into one pixel with coverage in [0,1] (times c.a). Out-of-range coordinates are ignored.
void blend_pixel(Image& dst, int x, int y, Color c, float coverage = 1.0f);

// Whole-image validity check used by every entry point; throws Error("<what>: ...") when malformed.
void check_image(const Image& img, const std::string& what);

}  // namespace focalscope::render
