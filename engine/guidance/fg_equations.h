// The equations of Focal Guidance as small pure tensor functions (unit-tested on hand-worked values in
// tests/test_guidance.cpp); FocalGuidance composes them inside the DiT's probe points.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace focalscope::fg {

// Eq. 6: S[m, n] = sign * cos(words[m], patches[n]). words [W, C], patches [N, C] -> [W, N].
at::Tensor word_patch_similarity(const at::Tensor& words, const at::Tensor& patches, int sign);
// Anchor: sum_n w[n] v[n] with w = max(S, 0) / sum(max(S, 0)) (uniform when no similarity is positive).
// s [N], tokens [N, D] -> [D].
at::Tensor visual_anchor(const at::Tensor& s, const at::Tensor& tokens);
// Region weights w_k on a grid (Eq. 9): s [g, g] resized to [h, w] (bilinear), min-max normalised to [0, 1],
// zero where <= tau_region.
at::Tensor region_weights(const at::Tensor& s, int64_t h, int64_t w, double tau_region);
// Eq. 8: text_v [B, T, D]; rows of batch `batch_rows` and text rows `keyword_rows[k]` get += lambda * vvis[k].
at::Tensor fuse_text_values(const at::Tensor& text_v, const std::vector<int64_t>& batch_rows,
                            const std::vector<std::vector<int64_t>>& keyword_rows, const at::Tensor& vvis, double lambda);
// Eq. 9 / Eq. 13 share one form: x [B, L, D] (rows `batch_rows`), tokens [0, weights.size(1)) get
// += lambda * sum_k weights[k, u] * vvis[k]. weights [K, U] with U <= L.
at::Tensor inject_weighted(const at::Tensor& x, const std::vector<int64_t>& batch_rows, const at::Tensor& weights,
                           const at::Tensor& vvis, double lambda);
// Eq. 10: A[k, u] = cos(vk[k], z[u]). vk [K, D], z [L, D] -> [K, L].
at::Tensor keyword_cosine(const at::Tensor& vk, const at::Tensor& z);
// Eq. 12: keep values > tau (others 0).
at::Tensor threshold_cache(const at::Tensor& a, double tau);

}  // namespace focalscope::fg
