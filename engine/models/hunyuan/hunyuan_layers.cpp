#include "engine/models/hunyuan/hunyuan_layers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/core/error.h"
#include "engine/models/common/attention.h"

namespace focalscope::hunyuan {

at::Tensor timestep_sinusoid(const at::Tensor& t, int dim, double max_period) {
  const int64_t half = dim / 2;
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(t.device());
  // Same ops as upstream: (-ln(P) * arange) / half, exp, t[:, None] * freqs, [cos | sin].
  at::Tensor freqs = at::exp(at::arange(0, half, f32) * (-std::log(max_period)) / half);
  at::Tensor args = t.reshape({-1, 1}).to(at::kFloat) * freqs.unsqueeze(0);
  at::Tensor emb = at::cat({at::cos(args), at::sin(args)}, -1);
  if (dim % 2) emb = at::cat({emb, at::zeros_like(emb.narrow(1, 0, 1))}, -1);
  return emb;
}

std::pair<at::Tensor, at::Tensor> rope_tables(const std::array<int, 3>& dims, const std::array<int64_t, 3>& grid,
                                              double theta, double rescale) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const int64_t L = grid[0] * grid[1] * grid[2];
  std::vector<at::Tensor> cs, ss;
  for (int a = 0; a < 3; ++a) {
    const int64_t d = dims[a];
    double th = theta;
    if (rescale != 1.0) th *= std::pow(rescale, double(d) / double(d - 2));
    // freqs = 1 / theta^(arange(0, d, 2)[:d/2] / d) in float32 (upstream's `1.0 / t` is reciprocal(t) * 1.0).
    at::Tensor freqs = at::reciprocal(at::pow(th, at::arange(0, d, 2, at::kLong).narrow(0, 0, d / 2).to(at::kFloat) / d));
    // Integer grid positions (upstream linspace(0, n, n+1)[:n]); angle = pos * freq in float32 per axis, then
    // spread over the row-major (f, h, w) tokens.
    at::Tensor ang = at::outer(at::arange(grid[a], f32), freqs);  // [n_a, d/2]
    std::vector<int64_t> view{1, 1, 1, d / 2};
    view[a] = grid[a];
    ang = ang.view(view).expand({grid[0], grid[1], grid[2], d / 2}).reshape({L, d / 2});
    cs.push_back(at::cos(ang).repeat_interleave(2, 1));
    ss.push_back(at::sin(ang).repeat_interleave(2, 1));
  }
  return {at::cat(cs, 1), at::cat(ss, 1)};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const at::Tensor xf = x.to(at::kFloat);
  // rotate_half: pairs (a, b) -> (-b, a).
  const at::Tensor pairs = xf.reshape({x.size(0), x.size(1), x.size(2), x.size(3) / 2, 2});
  const at::Tensor rot = at::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).flatten(3);
  const at::Tensor c = cos.to(xf.device(), at::kFloat).view({1, cos.size(0), 1, cos.size(1)});
  const at::Tensor s = sin.to(xf.device(), at::kFloat).view({1, sin.size(0), 1, sin.size(1)});
  return (xf * c + rot * s).to(x.scalar_type());
}

namespace {
// Applies f(x_part, param_part) to the first n0 tokens with `tr` and to the rest with `base`, then concatenates,
// exactly like upstream's split / process / concat (modulate_layers.py:50-54, 77-89).
template <class F>
at::Tensor per_token(const at::Tensor& x, const TokenParam& a, const TokenParam& b, F f) {
  const int64_t n0 = std::min<int64_t>(a.n0, x.size(1));
  if (!a.tr.defined() || n0 <= 0) return f(x, a.base, b.base);
  if (n0 == x.size(1)) return f(x, a.tr, b.tr);
  return at::cat({f(x.narrow(1, 0, n0), a.tr, b.tr), f(x.narrow(1, n0, x.size(1) - n0), a.base, b.base)}, 1);
}
}  // namespace

at::Tensor modulate(const at::Tensor& x, const TokenParam& shift, const TokenParam& scale) {
  return per_token(x, shift, scale, [](const at::Tensor& xs, const at::Tensor& sh, const at::Tensor& sc) {
    return xs * (1 + sc.unsqueeze(1)) + sh.unsqueeze(1);
  });
}

at::Tensor apply_gate(const at::Tensor& x, const TokenParam& gate) {
  return per_token(x, gate, gate, [](const at::Tensor& xs, const at::Tensor& g, const at::Tensor&) { return xs * g.unsqueeze(1); });
}

at::Tensor refiner_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
  const int64_t B = q.size(0), L = q.size(1), N = q.size(2), d = q.size(3);
  const at::Tensor qt = q.to(at::kFloat).transpose(1, 2), kt = k.to(at::kFloat).transpose(1, 2), vt = v.to(at::kFloat).transpose(1, 2);
  at::Tensor s = at::matmul(qt, kt.transpose(-1, -2)) / std::sqrt(double(d));  // [B, N, L, L]
  if (mask.defined()) {
    const at::Tensor m = mask.to(s.device()).to(at::kBool);                       // [B, L]
    at::Tensor allowed = m.view({B, 1, L}) & m.view({B, L, 1});                  // [B, Lq, Lk]
    allowed.select(2, 0).fill_(true);                                            // key 0 always visible
    s = s.masked_fill(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  }
  return at::matmul(at::softmax(s, -1), vt).transpose(1, 2).reshape({B, L, N * d});
}

at::Tensor joint_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const std::vector<int64_t>& valid, int64_t image_tokens,
                           const std::vector<std::pair<int64_t, int64_t>>* hidden) {
  const int64_t B = q.size(0), S = q.size(1);
  if (hidden && static_cast<int64_t>(hidden->size()) != B) fail("joint attention", "one hidden text range per sample is needed");
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t cut = std::min(S, image_tokens + valid.at(static_cast<size_t>(b)));
    auto row = [&](const at::Tensor& t, int64_t s0, int64_t n) { return t.narrow(0, b, 1).narrow(1, s0, n); };
    std::vector<at::Tensor> segs;
    // The hidden text rows, clipped to the sample's valid text; past them the segment is the plain one.
    int64_t h0 = 0, h1 = 0;
    if (hidden) {
      h0 = image_tokens + std::clamp<int64_t>((*hidden)[static_cast<size_t>(b)].first, 0, cut - image_tokens);
      h1 = image_tokens + std::clamp<int64_t>((*hidden)[static_cast<size_t>(b)].second, 0, cut - image_tokens);
    }
    if (h1 > h0) {
      // Image queries over the keys of [0, h0) and [h1, cut); text queries over the whole valid segment.
      auto keys = [&](const at::Tensor& t) { return at::cat({row(t, 0, h0), row(t, h1, cut - h1)}, 1); };
      segs.push_back(attention(row(q, 0, image_tokens), keys(k), keys(v)));
      if (cut > image_tokens) segs.push_back(attention(row(q, image_tokens, cut - image_tokens), row(k, 0, cut), row(v, 0, cut)));
      if (S > cut) segs.push_back(attention(row(q, cut, S - cut), row(k, cut, S - cut), row(v, cut, S - cut)));
    } else {
      for (auto [s0, s1] : {std::pair<int64_t, int64_t>{0, cut}, {cut, S}}) {
        if (s1 <= s0) continue;  // an unpadded sample has an empty padding segment
        segs.push_back(attention(row(q, s0, s1 - s0), row(k, s0, s1 - s0), row(v, s0, s1 - s0)));
      }
    }
    rows.push_back(segs.size() == 1 ? segs[0] : at::cat(segs, 1));
  }
  return B == 1 ? rows[0] : at::cat(rows, 0);
}

at::Tensor cu_seqlens(const std::vector<int64_t>& valid, int64_t image_tokens, int64_t text_len) {
  const int64_t S = image_tokens + text_len;
  std::vector<int64_t> cu{0};
  for (size_t b = 0; b < valid.size(); ++b) {
    cu.push_back(int64_t(b) * S + valid[b] + image_tokens);
    cu.push_back(int64_t(b + 1) * S);
  }
  return at::tensor(cu, at::TensorOptions().dtype(at::kLong));
}

}  // namespace focalscope::hunyuan
