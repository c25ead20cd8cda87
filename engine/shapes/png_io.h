// Minimal PNG I/O for RgbFrame (stb), so engine/shapes and its tools need neither render/ nor FFmpeg.
#pragma once
#include <string>

#include "engine/shapes/rgb_frame.h"

namespace focalscope::shapes {

void write_png(const std::string& path, const RgbFrame& f);  // throws Error("<path>: ...")
RgbFrame read_png(const std::string& path);                  // any PNG, converted to RGB; throws Error("<path>: ...")

}  // namespace focalscope::shapes
