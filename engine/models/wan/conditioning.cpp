#include "engine/models/wan/conditioning.h"

namespace focalscope {

at::Tensor i2v_mask(int64_t lat_f, int64_t lat_h, int64_t lat_w) {
  // Upstream: ones [1, 1+4(lat_f-1), h, w] with pixel frames 1.. zeroed, frame 0 repeated 4x in front, then
  // viewed as [lat_f, 4, h, w] and transposed. The result is simply "latent frame 0 = 1".
  at::Tensor m = at::zeros({4, lat_f, lat_h, lat_w});
  m.select(1, 0).fill_(1.0);
  return m;
}

}  // namespace focalscope
