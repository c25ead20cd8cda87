#include "render/mask_io.h"

#include <stb_image.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

#include "engine/core/error.h"

namespace focalscope::render {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void raise(const std::string& where, const std::string& what) { throw Error(where + ": " + what); }

bool has_image_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Rec.601 luma > 127 after rounding (the same gray convert_channels produces), in integers.
uint8_t luma_on(const uint8_t* rgb) { return 299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2] >= 127500 ? 1 : 0; }

Mask mask_from_image(const std::string& path, const VideoReadLimits& lim) {
  // Header first: refuse absurd sizes before stb allocates them.
  int w = 0, h = 0, comp = 0;
  if (!stbi_info(path.c_str(), &w, &h, &comp)) {
    const char* why = stbi_failure_reason();
    raise(path, std::string("cannot read mask image (") + (why ? why : "unknown reason") + ")");
  }
  if (w <= 0 || h <= 0 || int64_t(w) * h > lim.max_pixels)
    raise(path, "mask is " + std::to_string(w) + "x" + std::to_string(h) + ", outside 1.." +
                    std::to_string(lim.max_pixels) + " pixels");
  const Image img = load_image(path, 4);  // gray and RGB arrive with alpha 255
  const size_t n = static_cast<size_t>(img.width) * img.height;
  const uint8_t* px = img.pixels.data();

  // A mask painted only in alpha (e.g. a cut-out exported over flat colour) has no luma signal; use its alpha.
  bool use_alpha = comp == 2 || comp == 4;
  for (size_t i = 1; use_alpha && i < n; ++i)
    use_alpha = std::equal(px + i * 4, px + i * 4 + 3, px);

  Mask m;
  m.width = img.width, m.height = img.height, m.frames = 1;
  m.data.resize(n);
  for (size_t i = 0; i < n; ++i) m.data[i] = use_alpha ? (px[i * 4 + 3] > 127 ? 1 : 0) : luma_on(px + i * 4);
  return m;
}

Mask mask_from_frames(const std::string& path, const VideoReadLimits& lim) {
  VideoInfo info;
  const std::vector<Image> frames = read_video(path, lim, &info);
  // A mask that silently covers fewer frames than it should would leave the rest unedited: damage is an error.
  if (!info.warning.empty()) throw Error(info.warning);
  Mask m;
  m.width = info.width, m.height = info.height, m.frames = static_cast<int>(frames.size());
  const size_t plane = static_cast<size_t>(m.width) * m.height;
  m.data.resize(plane * frames.size());
  for (size_t f = 0; f < frames.size(); ++f)
    for (size_t i = 0; i < plane; ++i) m.data[f * plane + i] = luma_on(frames[f].pixels.data() + i * 3);
  return m;
}

}  // namespace

Mask read_mask(const std::string& path, const VideoReadLimits& lim) {
  if (path.empty()) raise("read_mask", "empty path");
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) raise(path, "no such file or directory");
  if (ec) raise(path, "cannot access (" + ec.message() + ")");
  if (!fs::is_directory(st) && !fs::is_regular_file(st)) raise(path, "is not a regular file or a directory");
  if (!fs::is_directory(st) && has_image_extension(path)) return mask_from_image(path, lim);
  return mask_from_frames(path, lim);
}

Mask resize_nearest(const Mask& mask, int width, int height) {
  if (mask.width <= 0 || mask.height <= 0 || mask.frames <= 0 ||
      mask.data.size() != static_cast<size_t>(mask.width) * mask.height * mask.frames)
    raise("resize_nearest", "malformed mask (" + std::to_string(mask.width) + "x" + std::to_string(mask.height) + "x" +
                                std::to_string(mask.frames) + ", " + std::to_string(mask.data.size()) + " values)");
  if (width <= 0 || height <= 0)
    raise("resize_nearest", "target size " + std::to_string(width) + "x" + std::to_string(height) + " is not positive");
  // Source column/row per target pixel, computed once for all frames.
  std::vector<int> sx(width), sy(height);
  for (int x = 0; x < width; ++x)
    sx[x] = std::min(static_cast<int>((x + 0.5) * mask.width / width), mask.width - 1);
  for (int y = 0; y < height; ++y)
    sy[y] = std::min(static_cast<int>((y + 0.5) * mask.height / height), mask.height - 1);
  Mask out;
  out.width = width, out.height = height, out.frames = mask.frames;
  out.data.resize(static_cast<size_t>(width) * height * mask.frames);
  uint8_t* dst = out.data.data();
  for (int f = 0; f < mask.frames; ++f) {
    const uint8_t* src = mask.frame(f);
    for (int y = 0; y < height; ++y) {
      const uint8_t* row = src + static_cast<size_t>(sy[y]) * mask.width;
      for (int x = 0; x < width; ++x) *dst++ = row[sx[x]];
    }
  }
  return out;
}

}  // namespace focalscope::render
