#include "engine/dit/attention.h"

#include <torch/version.h>

#include <cmath>

namespace focalscope {

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t B = q.size(0), L = q.size(1), N = q.size(2), d = q.size(3), S = k.size(1);
  at::Tensor qt = q.transpose(1, 2);  // [B, N, L, d]
  at::Tensor kt = k.transpose(1, 2);
  at::Tensor vt = v.transpose(1, 2);
#if TORCH_VERSION_MAJOR >= 2
  at::Tensor o = at::scaled_dot_product_attention(qt, kt, vt);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  qt = (qt * scale).contiguous();
  at::Tensor kT = kt.transpose(-1, -2).contiguous();  // [B, N, d, S]
  vt = vt.contiguous();
  // Keep each chunk's score block near 8 MB so it stays in cache between the two GEMMs and softmax.
  const int64_t budget = (8LL << 20) / 4;
  int64_t chunk = std::max<int64_t>(64, budget / std::max<int64_t>(1, B * N * S));
  at::Tensor o;
  if (chunk >= L) {
    at::Tensor s = at::matmul(qt, kT);
    s = at::softmax(s, -1);
    o = at::matmul(s, vt);
  } else {
    o = at::empty({B, N, L, d}, qt.options());
    for (int64_t i = 0; i < L; i += chunk) {
      const int64_t n = std::min(chunk, L - i);
      at::Tensor s = at::matmul(qt.narrow(2, i, n), kT);
      s = at::softmax(s, -1);
      o.narrow(2, i, n).copy_(at::matmul(s, vt));
    }
  }
#endif
  return o.transpose(1, 2).reshape({B, L, N * d});
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const auto sizes = x.sizes().vec();
  at::Tensor xf = x.to(at::kFloat).reshape({sizes[0], sizes[1], sizes[2], sizes[3] / 2, 2});
  at::Tensor a = xf.select(-1, 0), b = xf.select(-1, 1);
  at::Tensor c = cos.view({1, cos.size(0), 1, cos.size(1)});
  at::Tensor s = sin.view({1, sin.size(0), 1, sin.size(1)});
  at::Tensor out = at::stack({a * c - b * s, a * s + b * c}, -1);
  return out.reshape(sizes).to(x.scalar_type());
}

}  // namespace focalscope
