#include "engine/models/common/cpu_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

// 64-byte vector types in signatures of the (inlined) helpers trigger GCC's "ABI changed" note: irrelevant here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

// The build targets baseline x86-64 (SSE2) so the binary runs anywhere. The hot loops below are additionally
// compiled for AVX2+FMA and AVX-512 and the dynamic loader picks the widest one the CPU has (GCC function
// multi-versioning via an ifunc). The loops are plain C++ written so that the compiler vectorizes them.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define FS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FS_CLONES
#endif

namespace focalscope::cpu {
namespace {

// Reductions keep this many independent partial results, so they vectorize without -ffast-math (which would
// be needed to let the compiler reassociate a single running sum).
constexpr int kLanes = 16;

// The exp-based kernels are written with a 16-float vector type (a GCC/Clang extension): one AVX-512 register,
// two AVX2 or four SSE registers depending on the clone being compiled (the auto-vectorizer handled these loops
// poorly: 3x slower).
typedef float Vf __attribute__((vector_size(64)));
typedef int32_t Vi __attribute__((vector_size(64)));
constexpr int64_t kW = 16;  // floats per Vf

inline Vf splat(float v) { return Vf{} + v; }
inline Vf load(const float* p) {
  Vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Vf v) { std::memcpy(p, &v, sizeof v); }
// The last n < kW floats of a row (the other lanes set to `fill`), element by element: kept out of the main
// loops, where the constant-size copies above compile to single vector loads and stores.
inline Vf load_tail(const float* p, int64_t n, float fill) {
  Vf v = splat(fill);
  for (int64_t j = 0; j < n; ++j) v[j] = p[j];
  return v;
}
inline void store_tail(float* p, Vf v, int64_t n) {
  for (int64_t j = 0; j < n; ++j) p[j] = v[j];
}
// Horizontal max / sum by halving (4 shuffle steps instead of a 16-long dependency chain).
#if defined(__clang__)
#define FS_SHUFFLE(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define FS_SHUFFLE(v, ...) __builtin_shuffle(v, Vi{__VA_ARGS__})
#endif
inline Vf fold(Vf v, bool max) {
  Vf w = FS_SHUFFLE(v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  v = max ? (w > v ? w : v) : v + w;
  w = FS_SHUFFLE(v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  v = max ? (w > v ? w : v) : v + w;
  w = FS_SHUFFLE(v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  v = max ? (w > v ? w : v) : v + w;
  w = FS_SHUFFLE(v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  v = max ? (w > v ? w : v) : v + w;
  return v;
}
inline float hsum(Vf v) { return fold(v, false)[0]; }
inline float hmax(Vf v) { return fold(v, true)[0]; }

// exp(x), branch-free: x = n*ln2 + r with |r| <= ln2/2 (n rounded by adding 1.5*2^23, ln2 split in two for an
// exact reduction); exp(r) by the Cephes expf polynomial (~1 ulp); 2^n assembled in the exponent bits. The input
// is clamped to [-80, 80] so every result is a normal float: values below e^-80 (~2e-35) only ever appear as
// negligible softmax weights or GELU tails, and keeping them out of the denormal range keeps the following
// GEMMs off slow denormal paths.
inline Vf exp_approx(Vf x) {
  x = x < -80.0f ? splat(-80.0f) : x;
  x = x > 80.0f ? splat(80.0f) : x;
  const float kRound = 12582912.0f;  // 1.5 * 2^23
  const Vf t = x * 1.44269504088896341f + kRound;
  const Vi n = reinterpret_cast<Vi>(t) - reinterpret_cast<Vi>(splat(kRound));
  const Vf fn = t - kRound;
  Vf r = x - fn * 0.693359375f;
  r = r + fn * 2.12194440e-4f;
  Vf p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  return p * reinterpret_cast<Vf>((n + 127) << 23);
}

// Rows of `cols` floats, `stride` apart. With `padded`, each row may be read and written up to the next multiple
// of kW (see padded_row_stride), so a partial last vector is handled in registers; otherwise element by element
// (which costs as much as the whole rest of a 65-float row).
FS_CLONES void softmax_rows(float* x, int64_t rows, int64_t cols, int64_t stride, bool padded) {
  const Vi lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const float kInf = std::numeric_limits<float>::infinity();
  const int64_t full = cols / kW * kW, tail = cols - full;
  const Vi in_tail = lane < static_cast<int32_t>(tail);  // all-ones lanes inside the row
  auto tail_load = [&](const float* p, float fill) {
    return padded ? (in_tail ? load(p) : splat(fill)) : load_tail(p, tail, fill);
  };
  auto tail_store = [&](float* p, Vf v) {
    if (padded)
      store(p, v);  // the padding lanes hold whatever: nobody reads them
    else
      store_tail(p, v, tail);
  };
  for (int64_t row = 0; row < rows; ++row) {
    float* p = x + row * stride;
    Vf m = tail ? tail_load(p + full, -kInf) : splat(-kInf);
    for (int64_t i = 0; i < full; i += kW) {
      const Vf v = load(p + i);
      m = v > m ? v : m;
    }
    const float mx = hmax(m);
    Vf sum = {};
    for (int64_t i = 0; i < full; i += kW) {
      const Vf e = exp_approx(load(p + i) - mx);
      store(p + i, e);
      sum += e;
    }
    if (tail) {
      const Vf e = in_tail ? exp_approx(tail_load(p + full, 0) - mx) : splat(0.0f);
      tail_store(p + full, e);
      sum += e;
    }
    const float inv = 1.0f / hsum(sum);
    for (int64_t i = 0; i < full; i += kW) store(p + i, load(p + i) * inv);
    if (tail) tail_store(p + full, tail_load(p + full, 0) * inv);
  }
}

// 0.5 * v * (1 + tanh(u)) == v / (1 + exp(-2u)): one exp instead of a tanh (ATen's Sleef tanh is ~3x an exp).
inline Vf gelu_tanh(Vf v) {
  const float kBeta = 0.7978845608028654f;  // sqrt(2 / pi)
  const float kKappa = 0.044715f;
  const Vf u = kBeta * (v + kKappa * (v * v * v));
  return v / (1.0f + exp_approx(-2.0f * u));
}

FS_CLONES void gelu_tanh_span(float* x, int64_t count) {
  const int64_t full = count / kW * kW;
  for (int64_t i = 0; i < full; i += kW) store(x + i, gelu_tanh(load(x + i)));
  if (count > full) store_tail(x + full, gelu_tanh(load_tail(x + full, count - full, 0)), count - full);
}

// rows of length D: y = (x - mean) * rstd * scale + shift (shift may be null).
FS_CLONES void layer_norm_rows(const float* x, float* y, int64_t rows, int64_t D, const float* scale,
                               const float* shift, float eps) {
  for (int64_t row = 0; row < rows; ++row) {
    const float* p = x + row * D;
    float* q = y + row * D;
    float part[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= D; i += kLanes)
      for (int j = 0; j < kLanes; ++j) part[j] += p[i + j];
    float sum = 0;
    for (int j = 0; j < kLanes; ++j) sum += part[j];
    for (; i < D; ++i) sum += p[i];
    const float mean = sum / static_cast<float>(D);

    float vpart[kLanes] = {};
    i = 0;
    for (; i + kLanes <= D; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const float c = p[i + j] - mean;
        vpart[j] += c * c;
      }
    float var = 0;
    for (int j = 0; j < kLanes; ++j) var += vpart[j];
    for (; i < D; ++i) var += (p[i] - mean) * (p[i] - mean);
    const float rstd = 1.0f / std::sqrt(var / static_cast<float>(D) + eps);

    if (shift)
      for (i = 0; i < D; ++i) q[i] = (p[i] - mean) * rstd * scale[i] + shift[i];
    else
      for (i = 0; i < D; ++i) q[i] = (p[i] - mean) * rstd * scale[i];
  }
}

// One token row x[0..D) -> out[n * head_stride + (0..d)] for each head n (see rms_norm_rope_heads).
// cos/sin point at this token's [d/2] table row, or are null for no rotation.
FS_CLONES void rms_rope_rows(const float* x, int64_t x_row_stride, int64_t rows, const float* w, int64_t D,
                             int64_t d, float eps, const float* cos, const float* sin, int64_t table_stride,
                             float factor, float* out, int64_t out_row_stride, int64_t head_stride) {
  const int64_t heads = D / d, half = d / 2;
  for (int64_t row = 0; row < rows; ++row) {
    const float* p = x + row * x_row_stride;
    float part[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= D; i += kLanes)
      for (int j = 0; j < kLanes; ++j) part[j] += p[i + j] * p[i + j];
    float ss = 0;
    for (int j = 0; j < kLanes; ++j) ss += part[j];
    for (; i < D; ++i) ss += p[i] * p[i];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(D) + eps);

    float* o_row = out + row * out_row_stride;
    for (int64_t n = 0; n < heads; ++n) {
      const float* xh = p + n * d;
      const float* wh = w + n * d;
      float* o = o_row + n * head_stride;
      if (cos) {
        const float* c = cos + row * table_stride;
        const float* s = sin + row * table_stride;
        for (int64_t k = 0; k < half; ++k) {
          const float a = xh[2 * k] * inv * wh[2 * k];
          const float b = xh[2 * k + 1] * inv * wh[2 * k + 1];
          o[2 * k] = (a * c[k] - b * s[k]) * factor;
          o[2 * k + 1] = (a * s[k] + b * c[k]) * factor;
        }
      } else {
        for (int64_t k = 0; k < d; ++k) o[k] = xh[k] * inv * wh[k] * factor;
      }
    }
  }
}

// Work per parallel task, as ATen's own elementwise ops use (at::internal::GRAIN_SIZE): smaller chunks cost more
// to hand to another thread than they save.
constexpr int64_t kGrain = 32768;
int64_t grain_rows(int64_t row_len) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, row_len)); }

void check(bool ok, const char* what) { TORCH_CHECK(ok, "focalscope::cpu kernel: ", what); }

}  // namespace

bool supported(const at::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat;
}

namespace {
// A caller-provided output, checked, or a new one.
at::Tensor output(const at::Tensor& out, at::IntArrayRef sizes, const at::TensorOptions& options) {
  if (!out.defined()) return at::empty(sizes, options);
  check(supported(out) && out.is_contiguous() && out.sizes() == sizes, "out has the wrong shape or layout");
  return out;
}
}  // namespace

at::Tensor layer_norm_scale_shift(const at::Tensor& x_in, const at::Tensor& scale, const at::Tensor& shift, double eps,
                                  const at::Tensor& out) {
  // (A probe listener may hand back a strided residual stream: copy it then.)
  const at::Tensor x = x_in.contiguous();
  check(supported(x) && x.dim() == 3, "layer_norm_scale_shift: x must be float [B, L, D]");
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2);
  // Scale/shift as [B or 1, D] with unit stride on D; a batch of 1 is shared by every row.
  auto rows_of = [&](const at::Tensor& t) {
    check(supported(t) && t.numel() % D == 0 && (t.numel() / D == 1 || t.numel() / D == B), "layer_norm_scale_shift: bad scale/shift");
    return t.reshape({-1, D}).contiguous();
  };
  const at::Tensor s = rows_of(scale);
  const at::Tensor h = shift.defined() ? rows_of(shift) : at::Tensor();
  at::Tensor y = output(out, x.sizes(), x.options());
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b) {
    const float* sp = s.data_ptr<float>() + (s.size(0) == 1 ? 0 : b * D);
    const float* hp = h.defined() ? h.data_ptr<float>() + (h.size(0) == 1 ? 0 : b * D) : nullptr;
    at::parallel_for(0, L, grain_rows(D), [&](int64_t l0, int64_t l1) {
      layer_norm_rows(xp + (b * L + l0) * D, yp + (b * L + l0) * D, l1 - l0, D, sp, hp, static_cast<float>(eps));
    });
  }
  return y;
}

at::Tensor rms_norm_rope_heads(const at::Tensor& x, const at::Tensor& w, double eps, int64_t heads,
                               const at::Tensor& cos, const at::Tensor& sin, double factor, const at::Tensor& out_in) {
  check(supported(x) && x.dim() == 3 && x.stride(2) == 1, "rms_norm_rope_heads: x must be float [B, L, D] with unit stride on D");
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), d = D / heads;
  check(heads > 0 && D % heads == 0 && d % 2 == 0, "rms_norm_rope_heads: D must split into heads of even size");
  const at::Tensor wc = w.contiguous();
  check(supported(wc) && wc.numel() == D, "rms_norm_rope_heads: w must have D floats");
  at::Tensor c, s;
  if (cos.defined()) {
    c = cos.contiguous();
    s = sin.contiguous();
    check(supported(c) && supported(s) && c.dim() == 2 && c.size(0) == L && c.size(1) == d / 2 && s.sizes() == c.sizes(),
          "rms_norm_rope_heads: cos/sin must be float [L, d/2]");
  }
  at::Tensor out = output(out_in, {B, heads, L, d}, x.options());
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b) {
    at::parallel_for(0, L, grain_rows(D), [&](int64_t l0, int64_t l1) {
      rms_rope_rows(xp + b * x.stride(0) + l0 * x.stride(1), x.stride(1), l1 - l0, wc.data_ptr<float>(), D, d,
                    static_cast<float>(eps), c.defined() ? c.data_ptr<float>() + l0 * (d / 2) : nullptr,
                    s.defined() ? s.data_ptr<float>() + l0 * (d / 2) : nullptr, d / 2, static_cast<float>(factor),
                    op + (b * heads * L + l0) * d, d, L * d);
    });
  }
  return out;
}

int64_t padded_row_stride(int64_t cols) { return (cols + kW - 1) / kW * kW; }

void softmax_lastdim_(const at::Tensor& x, bool pad_is_scratch) {
  check(supported(x) && x.dim() >= 2 && x.stride(-1) == 1, "softmax_lastdim_: x must be float with unit stride on the last dim");
  const int64_t cols = x.size(-1), stride = x.stride(-2);
  // The leading dims must collapse to rows `stride` apart (contiguous, or a column slice of a contiguous tensor).
  int64_t rows = 1;
  for (int64_t i = x.dim() - 2; i >= 0; --i) {
    check(x.size(i) == 1 || x.stride(i) == rows * stride, "softmax_lastdim_: rows must be evenly spaced");
    rows *= x.size(i);
  }
  if (rows == 0 || cols == 0) return;
  // Whole-vector tails only where the caller declared the padding free and every row (the last one included)
  // really has room up to the next multiple of kW.
  const int64_t span = padded_row_stride(cols);
  const bool padded = pad_is_scratch && stride >= span &&
                      (x.storage_offset() + (rows - 1) * stride + span) * int64_t(sizeof(float)) <=
                          static_cast<int64_t>(x.storage().nbytes());
  float* p = x.data_ptr<float>();
  at::parallel_for(0, rows, grain_rows(cols), [&](int64_t r0, int64_t r1) {
    softmax_rows(p + r0 * stride, r1 - r0, cols, stride, padded);
  });
}

void gelu_tanh_(const at::Tensor& x) {
  check(supported(x) && x.is_contiguous(), "gelu_tanh_: x must be contiguous float");
  float* p = x.data_ptr<float>();
  at::parallel_for(0, x.numel(), kGrain, [&](int64_t i0, int64_t i1) { gelu_tanh_span(p + i0, i1 - i0); });
}

}  // namespace focalscope::cpu
