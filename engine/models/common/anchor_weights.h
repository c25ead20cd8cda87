// Visual anchors of a model without an image cross-attention, shared by both architectures' FSG / AC
// (docs/focal_guidance.md): HunyuanVideo's MLLM image rows, a Wan2.2 I2V-A14B expert's reference-frame tokens.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace focalscope {

// Each keyword's Eq. 6 map [g, g] area-resampled onto the gh x gw grid of the model's visual tokens (raster order),
// every `stride`-th kept, negative parts dropped, normalised to sum 1 — uniform when nothing is positive or the map
// is undefined (no CLIP text tower to draw it). -> [K, gh * gw / stride] float32.
at::Tensor anchor_weights_on_grid(const std::vector<at::Tensor>& sims, int64_t gh, int64_t gw, int64_t stride = 1);

}  // namespace focalscope
