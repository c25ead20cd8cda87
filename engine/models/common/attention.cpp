#include "engine/models/common/attention.h"

#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#include <cmath>

#include "engine/models/common/cpu_kernels.h"

namespace focalscope {

namespace {
// Score-block budget of attention_into, in floats (8 MB): big enough for whole heads at the embedded model's
// size, small enough to stay in L2/L3 between the two GEMMs and the softmax at 14B sizes.
constexpr int64_t kScoreBudget = (8LL << 20) / 4;

// Per-thread scratch for the score block, kept between calls (and forwards) up to twice the budget. Allocated
// as a normal tensor even under InferenceMode: an inference tensor could not be written by a later no-grad
// forward that runs outside InferenceMode, while a normal one may be written in both.
at::Tensor score_workspace(int64_t n) {
  thread_local at::Tensor ws;
  c10::InferenceMode normal_tensor(/*enabled=*/false);
  if (n > 2 * kScoreBudget) return at::empty({n}, at::TensorOptions().dtype(at::kFloat));
  if (!ws.defined() || ws.numel() < n) ws = at::empty({n}, at::TensorOptions().dtype(at::kFloat));
  return ws;
}
}  // namespace

void attention_into(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& out, bool accumulate) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && out.dim() == 4, "attention_into: 4-D [B, N, len, d] views expected");
  const int64_t B = q.size(0), N = q.size(1), L = q.size(2), S = k.size(2);
  TORCH_CHECK(k.size(0) == B && k.size(1) == N && k.size(3) == q.size(3) && v.sizes() == k.sizes() && out.sizes() == q.sizes(),
              "attention_into: q ", q.sizes(), ", k ", k.sizes(), ", v ", v.sizes(), ", out ", out.sizes(), " do not match");
  // Tile: all heads and all queries of a batch row when the block fits, else fewer queries (>= 64 rows keeps
  // the GEMMs efficient), then fewer heads.
  int64_t hn = N, qn = L;
  if (hn * qn * S > kScoreBudget) qn = std::min<int64_t>(L, std::max<int64_t>(64, kScoreBudget / (hn * S)));
  if (hn * qn * S > kScoreBudget) hn = std::max<int64_t>(1, kScoreBudget / (qn * S));
  // Score rows are padded to a multiple of the softmax kernel's vector width (65 image keys -> 80 floats).
  const int64_t Sp = cpu::padded_row_stride(S);
  at::Tensor ws = score_workspace(hn * qn * Sp);
  for (int64_t b = 0; b < B; ++b) {
    const at::Tensor qb = q.select(0, b), kbT = k.select(0, b).transpose(1, 2), vb = v.select(0, b), ob = out.select(0, b);
    for (int64_t n0 = 0; n0 < N; n0 += hn) {
      const int64_t hc = std::min(hn, N - n0);
      for (int64_t l0 = 0; l0 < L; l0 += qn) {
        const int64_t lc = std::min(qn, L - l0);
        at::Tensor s = ws.narrow(0, 0, hc * lc * Sp).view({hc, lc, Sp}).narrow(2, 0, S);
        at::bmm_out(s, qb.narrow(0, n0, hc).narrow(1, l0, lc), kbT.narrow(0, n0, hc));
        cpu::softmax_lastdim_(s, /*pad_is_scratch=*/true);
        at::Tensor o = ob.narrow(0, n0, hc).narrow(1, l0, lc);
        if (accumulate)
          o.baddbmm_(s, vb.narrow(0, n0, hc));
        else
          at::bmm_out(o, s, vb.narrow(0, n0, hc));
      }
    }
  }
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t B = q.size(0), L = q.size(1), N = q.size(2), d = q.size(3), S = k.size(1);
  // Mixed precision: q/k leave RMSNorm (float32 statistics, float32 weight) in float32 while v comes straight from
  // a bf16 GEMM; upstream's attention casts all three to the half dtype, so it runs in v's dtype here too.
  const c10::ScalarType ct = v.scalar_type();
  at::Tensor qt = q.to(ct).transpose(1, 2);  // [B, N, L, d]
  at::Tensor kt = k.to(ct).transpose(1, 2);
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
