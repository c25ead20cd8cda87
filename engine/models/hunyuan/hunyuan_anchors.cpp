// FSG / AC visual anchors for HunyuanVideo-I2V (hunyuan_model.h, docs/architectures.md).
//
// Why weights over the visual-context rows: Wan2.1 has an image cross-attention, so a keyword's visual value is the
// layer's own image value projection of a CLIP anchor (Eq. 7-8). HunyuanVideo-I2V has none: the reference image
// reaches the transformer twice — as latent frame 0 (token_replace) and as the MLLM's image tokens inside the text
// sequence, which every joint attention reads with the same v projection as the words. Those image rows' values are
// therefore the layer's own "image values", on the scale the keyword's value rows live on, and a similarity-weighted
// mean of them is the MMDiT counterpart of v_img(v^_k): the same Eq. 8 (keyword value rows += lambda * V_vis,k) then
// mixes in what the image shows where the keyword is, in the layer's value space.
#include <cmath>

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/models/common/anchor_weights.h"
#include "engine/models/hunyuan/hunyuan_model.h"

namespace focalscope {

at::Tensor hunyuan_visual_anchor_weights(const std::vector<at::Tensor>& sims, int64_t grid_side, int64_t stride) {
  for (const at::Tensor& s : sims)
    if (!s.defined()) fail("focal guidance", "a keyword without a similarity map has no HunyuanVideo anchor weights");
  return anchor_weights_on_grid(sims, grid_side, grid_side, stride);  // [K, grid_side^2 / stride]
}

}  // namespace focalscope
