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
#include "engine/models/hunyuan/hunyuan_model.h"

namespace focalscope {

at::Tensor hunyuan_visual_anchor_weights(const std::vector<at::Tensor>& sims, int64_t grid_side, int64_t stride) {
  if (grid_side < 1 || stride < 1 || (grid_side * grid_side) % stride != 0)
    fail("focal guidance", "HunyuanVideo visual rows: a " + std::to_string(grid_side) + "x" + std::to_string(grid_side) +
                               " patch grid does not split into every " + std::to_string(stride) + "th row");
  std::vector<at::Tensor> rows;
  for (const at::Tensor& s : sims) {
    if (s.dim() != 2 || s.size(0) < 1 || s.size(1) < 1)
      fail("focal guidance", "a keyword's similarity map must be [g, g], got " + shape_str(s.sizes()));
    // Area mean onto the vision tower's patch grid (row-major like CLIP's), then the rows the crop keeps.
    at::Tensor w = at::adaptive_avg_pool2d(s.to(at::kFloat).unsqueeze(0).unsqueeze(0), {grid_side, grid_side}).reshape({-1});
    w = w.slice(0, 0, w.size(0), stride).clamp_min(0);
    const double total = w.sum().item<double>();
    rows.push_back(total > 0 ? w / total : at::full({w.size(0)}, 1.0 / double(w.size(0))));
  }
  if (rows.empty()) return {};
  return at::stack(rows);  // [K, grid_side^2 / stride]
}

}  // namespace focalscope
