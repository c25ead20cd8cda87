#include "app/gui/screenshot.h"

#include <GL/gl.h>

#include <cstring>
#include <filesystem>

#include "engine/core/error.h"
#include "render/image.h"

namespace focalscope::gui {

void save_screenshot(const std::string& path, int width, int height) {
  if (width <= 0 || height <= 0) fail(path, "the window has no pixels to save");
  render::Image img(width, height, 3);
  std::vector<uint8_t> raw(static_cast<size_t>(width) * height * 3);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, width, height, GL_RGB, GL_UNSIGNED_BYTE, raw.data());
  const size_t row = static_cast<size_t>(width) * 3;
  for (int y = 0; y < height; ++y)  // GL rows are bottom-up
    std::memcpy(img.pixels.data() + static_cast<size_t>(y) * row, raw.data() + static_cast<size_t>(height - 1 - y) * row, row);
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  render::save_png(path, img);
}

}  // namespace focalscope::gui
