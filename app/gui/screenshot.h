// Saves what was just rendered into the window's back buffer as a PNG (call after rendering, before swapping).
#pragma once
#include <string>

namespace focalscope::gui {

// Throws Error naming the path when the file cannot be written.
void save_screenshot(const std::string& path, int width, int height);

}  // namespace focalscope::gui
