// I2V conditioning tensors built exactly as wan/image2video.py does.
#pragma once
#include <ATen/ATen.h>

namespace focalscope {

// The 4-channel mask of y: ones on latent frame 0 (which encodes the single reference pixel frame, replicated
// 4x because one latent frame packs 4 pixel frames), zeros on the other latent frames. [4, lat_f, lat_h, lat_w].
at::Tensor i2v_mask(int64_t lat_f, int64_t lat_h, int64_t lat_w);

}  // namespace focalscope
