#include "engine/guidance/fg_equations.h"

namespace focalscope::fg {

namespace {
at::Tensor unit_rows(const at::Tensor& x) { return x / at::linalg_vector_norm(x, 2, {-1}, true).clamp_min(1e-12); }
at::Tensor row_index(const std::vector<int64_t>& rows, const at::Tensor& like) {
  return at::tensor(rows, at::TensorOptions().dtype(at::kLong)).to(like.device());
}
}  // namespace

at::Tensor word_patch_similarity(const at::Tensor& words, const at::Tensor& patches, int sign) {
  return static_cast<double>(sign) * at::matmul(unit_rows(words.to(at::kFloat)), unit_rows(patches.to(at::kFloat)).t());
}

at::Tensor visual_anchor(const at::Tensor& s, const at::Tensor& tokens) {
  at::Tensor w = s.to(at::kFloat).clamp_min(0);
  const double total = w.sum().item<double>();
  w = total > 0 ? w / total : at::full_like(w, 1.0 / double(w.numel()));
  return at::matmul(w.to(tokens.device()), tokens.to(at::kFloat));
}

at::Tensor region_weights(const at::Tensor& s, int64_t h, int64_t w, double tau_region) {
  at::Tensor g = s.to(at::kFloat).dim() == 2 ? s.to(at::kFloat) : s.to(at::kFloat).view({1, -1});
  at::Tensor up = (g.size(0) == h && g.size(1) == w)
                      ? g
                      : at::upsample_bilinear2d(g.view({1, 1, g.size(0), g.size(1)}), {h, w}, false)[0][0];
  const double lo = up.min().item<double>(), hi = up.max().item<double>();
  at::Tensor n = hi > lo ? (up - lo) / (hi - lo) : at::ones_like(up);
  return n * (n > tau_region).to(at::kFloat);
}

at::Tensor fuse_text_values(const at::Tensor& text_v, const std::vector<int64_t>& batch_rows,
                            const std::vector<std::vector<int64_t>>& keyword_rows, const at::Tensor& vvis, double lambda) {
  if (batch_rows.empty() || lambda == 0) return text_v;
  at::Tensor delta = at::zeros({text_v.size(1), text_v.size(2)}, text_v.options().dtype(at::kFloat));
  at::Tensor vv = vvis.to(delta.device(), at::kFloat);
  for (size_t k = 0; k < keyword_rows.size(); ++k)
    for (int64_t r : keyword_rows[k])
      if (r >= 0 && r < delta.size(0)) delta[r].add_(vv[static_cast<int64_t>(k)], lambda);
  at::Tensor out = text_v.to(at::kFloat).clone();
  const int64_t n = static_cast<int64_t>(batch_rows.size());
  out.index_add_(0, row_index(batch_rows, out), delta.unsqueeze(0).expand({n, delta.size(0), delta.size(1)}).contiguous());
  return out.to(text_v.scalar_type());
}

at::Tensor inject_weighted(const at::Tensor& x, const std::vector<int64_t>& batch_rows, const at::Tensor& weights,
                           const at::Tensor& vvis, double lambda) {
  if (batch_rows.empty() || lambda == 0) return x;
  const int64_t L = x.size(1), D = x.size(2), U = weights.size(1);
  at::Tensor delta = at::zeros({L, D}, x.options().dtype(at::kFloat));
  delta.narrow(0, 0, std::min(U, L)).add_(at::matmul(weights.to(delta.device(), at::kFloat).t(), vvis.to(delta.device(), at::kFloat)).narrow(0, 0, std::min(U, L)), lambda);
  at::Tensor out = x.to(at::kFloat).clone();
  const int64_t n = static_cast<int64_t>(batch_rows.size());
  out.index_add_(0, row_index(batch_rows, out), delta.unsqueeze(0).expand({n, L, D}).contiguous());
  return out.to(x.scalar_type());
}

at::Tensor keyword_cosine(const at::Tensor& vk, const at::Tensor& z) {
  return at::matmul(unit_rows(vk.to(at::kFloat)), unit_rows(z.to(at::kFloat)).t());
}

at::Tensor threshold_cache(const at::Tensor& a, double tau) { return a * (a > tau).to(a.scalar_type()); }

}  // namespace focalscope::fg
