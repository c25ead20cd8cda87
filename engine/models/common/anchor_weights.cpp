#include "engine/models/common/anchor_weights.h"

#include <ATen/ATen.h>

#include <string>

#include "engine/core/error.h"
#include "engine/core/weights.h"

namespace focalscope {

at::Tensor anchor_weights_on_grid(const std::vector<at::Tensor>& sims, int64_t gh, int64_t gw, int64_t stride) {
  if (gh < 1 || gw < 1 || stride < 1 || (gh * gw) % stride != 0)
    fail("focal guidance", "visual anchor grid " + std::to_string(gh) + "x" + std::to_string(gw) +
                               " does not split into every " + std::to_string(stride) + "th token");
  std::vector<at::Tensor> rows;
  for (const at::Tensor& s : sims) {
    at::Tensor w;
    if (s.defined()) {
      if (s.dim() != 2 || s.size(0) < 1 || s.size(1) < 1)
        fail("focal guidance", "a keyword's similarity map must be [g, g], got " + shape_str(s.sizes()));
      // Area mean onto the token grid (row-major, as both the patch grids and the DiT's tokens are), then the kept ones.
      w = at::adaptive_avg_pool2d(s.to(at::kCPU, at::kFloat).unsqueeze(0).unsqueeze(0), {gh, gw}).reshape({-1});
      w = w.slice(0, 0, w.size(0), stride).clamp_min(0);
    }
    const int64_t n = gh * gw / stride;
    const double total = w.defined() ? w.sum().item<double>() : 0.0;
    rows.push_back(total > 0 ? w / total : at::full({n}, 1.0 / double(n)));
  }
  if (rows.empty()) return {};
  return at::stack(rows);
}

}  // namespace focalscope
