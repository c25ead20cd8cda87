// Conversions between the engine's tensors and render's images / files (used by CLI commands and the GUI).
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "render/image.h"

namespace focalscope {

// Reads a PNG/JPEG as the pipeline's [3, H, W] float image in [-1, 1]. Unreadable file -> Error naming it.
at::Tensor load_image_tensor(const std::string& path);
at::Tensor image_to_tensor(const render::Image& img);
// [3, H, W] in [-1, 1] -> RGB8.
render::Image tensor_to_image(const at::Tensor& chw);
// [3, F, H, W] in [-1, 1] -> F RGB8 frames.
std::vector<render::Image> video_to_images(const at::Tensor& video);
// Writes frames as DIR/frame_000.png ... (creates DIR).
void write_frames_png(const std::string& dir, const std::vector<render::Image>& frames);

}  // namespace focalscope
