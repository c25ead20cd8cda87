// Edit masks for `focalscope edit`: which pixels of the source video may change. One binary plane per frame,
// or a single plane applied to every frame (a static mask).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "render/video_reader.h"

namespace focalscope::render {

struct Mask {
  int width = 0, height = 0, frames = 0;
  std::vector<uint8_t> data;  // frames * height * width values, each 0 or 1 (1 = foreground / editable)

  bool is_static() const { return frames == 1; }
  const uint8_t* frame(int f) const { return data.data() + static_cast<size_t>(f) * width * height; }
};

// Reads a mask:
//  - *.png / *.jpg / *.jpeg: a static mask. Foreground = luma > 127; for an image with alpha whose RGB is the same
//    everywhere (a cut-out drawn only in the alpha channel), foreground = alpha > 127 instead.
//  - a video file or a directory of frames (read with read_video and lim): one mask per frame, luma > 127.
// Throws Error("<path>: ...") on any failure. An all-background or all-foreground mask is valid here; whether it
// makes sense for an edit is the caller's call.
Mask read_mask(const std::string& path, const VideoReadLimits& lim = {});

// Nearest-neighbour resample of every frame to width x height (pixel-centre aligned, like the Image version):
// keeps the mask binary. Throws Error if the mask is malformed or the size is not positive.
Mask resize_nearest(const Mask& mask, int width, int height);

}  // namespace focalscope::render
