#include "engine/shapes/png_io.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "engine/core/error.h"

namespace focalscope::shapes {

void write_png(const std::string& path, const RgbFrame& f) {
  if (f.w <= 0 || f.h <= 0 || f.rgb.size() != static_cast<size_t>(f.w) * f.h * 3)
    throw Error(path + ": refusing to write a malformed frame (" + std::to_string(f.w) + "x" + std::to_string(f.h) + ")");
  if (!stbi_write_png(path.c_str(), f.w, f.h, 3, f.rgb.data(), f.w * 3)) throw Error(path + ": cannot write PNG");
}

RgbFrame read_png(const std::string& path) {
  int w = 0, h = 0, c = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &c, 3);
  if (!data) throw Error(path + ": cannot read image (" + std::string(stbi_failure_reason() ? stbi_failure_reason() : "?") + ")");
  RgbFrame f(w, h);
  std::copy(data, data + static_cast<size_t>(w) * h * 3, f.rgb.begin());
  stbi_image_free(data);
  return f;
}

}  // namespace focalscope::shapes
