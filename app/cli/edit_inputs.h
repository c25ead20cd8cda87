// The files of an edit (focalscope edit, bench --suite shapes-edit) as the engine's tensors.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/guidance/guided_edit.h"

namespace focalscope::cli {

// Reads the source video (file or frame folder; its first `frames` frames) and the mask (image, mask video or
// folder) into req.source_video / req.mask, with their paths as the names errors use. A source with fewer frames,
// an unreadable file, or a mask whose size differs from the video's -> Error naming the file.
void load_edit_inputs(const std::string& video_path, const std::string& mask_path, int frames, EditRequest& req);

// A per-frame mask [F, H, W] as one plane: a pixel is foreground when it is in any frame (the background the
// metrics judge is what no frame edits).
struct StaticMask {
  std::vector<uint8_t> data;  // 0 / 1
  int width = 0, height = 0;
};
StaticMask union_mask(const at::Tensor& mask);

}  // namespace focalscope::cli
