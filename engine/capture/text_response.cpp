#include "engine/capture/text_response.h"

#include <cmath>
#include <limits>

#include "engine/core/error.h"
#include "engine/models/common/attention.h"
#include "engine/models/common/cpu_kernels.h"
#include "engine/models/common/layers.h"

namespace focalscope {

TextResponseProbe::TextResponseProbe(CrossContext prompt, std::vector<CrossContext> alternatives, const CaptureLayout& layout,
                                     int num_heads)
    : layout_(layout) {
  if (num_heads < 1) fail("text response", "num_heads must be positive");
  if (alternatives.empty()) fail("text response", "no alternative text to compare the prompt with");
  for (const auto& a : alternatives)
    if (a.layers.size() != prompt.layers.size()) fail("text response", "prompt and alternative contexts differ in layers");
  for (int l : layout_.layers)
    if (l < 0 || l >= static_cast<int>(prompt.layers.size()))
      fail("text response", "layer " + std::to_string(l) + " is outside the model");
  // Per captured layer, the prompt's and every alternative's text keys / values as one float32 batch (row 0 = the
  // prompt), so a step costs one batched attention and one GEMM however many alternatives there are.
  c10::InferenceMode guard;
  keys_.resize(prompt.layers.size());
  values_kv_.resize(prompt.layers.size());
  for (int l : layout_.layers) {
    std::vector<at::Tensor> ks{prompt.layers[l].k[0]}, vs{prompt.layers[l].v[0]};
    for (const auto& a : alternatives) ks.push_back(a.layers[l].k[0]), vs.push_back(a.layers[l].v[0]);
    const int64_t B = static_cast<int64_t>(ks.size()), S = ks[0].size(0), D = ks[0].size(1);
    const int64_t N = num_heads, hd = D / num_heads;
    // Heads-first [1 + A, N, S, hd]: the layout the batched matmuls read without copies.
    keys_[l] = at::stack(ks).to(at::kFloat).view({B, S, N, hd}).transpose(1, 2).contiguous();
    values_kv_[l] = at::stack(vs).to(at::kFloat).view({B, S, N, hd}).transpose(1, 2).contiguous();
  }
  response_.assign(layout_.steps.size(),
                 std::vector<double>(layout_.layers.size(), std::numeric_limits<double>::quiet_NaN()));
}

bool TextResponseProbe::wants(const ForwardInfo& info, int layer) const {
  bool cond = false;
  for (PassRole r : info.roles) cond = cond || r == PassRole::Cond;
  return cond && layout_.step_slot(info.step) >= 0 && layout_.layer_slot(layer) >= 0;
}

void TextResponseProbe::on_cross_attn_values(BlockProbe& p) {
  int64_t row = -1;
  for (size_t i = 0; i < p.info.roles.size(); ++i)
    if (p.info.roles[i] == PassRole::Cond) row = static_cast<int64_t>(i);
  if (row < 0) return;
  c10::InferenceMode guard;
  const TextCrossAttention* ca = p.view.text_cross_attention();
  if (!ca)  // MMDiT: the text is read by the joint attention; swapping it moves every stream, not one term
    fail("text response", "layer " + std::to_string(p.layer) + " has no separate text cross-attention (joint attention): "
                          "the text response is defined for cross-attention models only");
  const int64_t N = ca->heads, hd = ca->head_dim;
  const at::Tensor& K = keys_[static_cast<size_t>(p.layer)];
  const at::Tensor& V = values_kv_[static_cast<size_t>(p.layer)];
  const int64_t B = K.size(0);
  at::Tensor xn = p.x_norm.select(0, row).unsqueeze(0);  // [1, L, dim]
  at::Tensor x = p.x.select(0, row);
  // The statistic is a mean over tokens: on large grids (Wan 480p: 32 760 tokens) an evenly strided subset of at most
  // kMaxTokens estimates it at a fraction of the cost (the full grid would cost one cross-attention projection per
  // alternative).
  if (xn.size(1) > kMaxTokens) {
    const int64_t stride = (xn.size(1) + kMaxTokens - 1) / kMaxTokens;
    xn = xn.slice(1, 0, xn.size(1), stride);
    x = x.slice(0, 0, x.size(0), stride);
  }
  const int64_t L = xn.size(1);
  at::Tensor att;  // [1 + A, L, dim]: the text attention with the prompt (row 0) and with each alternative
  const at::Tensor cq = (*ca->q)(xn);
  if (!reference_path && cpu::supported(cq)) {
    // The model's own inference kernels (engine/models/common/cpu_kernels.h): these tensors are small (tens of text rows), so
    // a chain of ATen ops would cost more in dispatch than in arithmetic.
    const at::Tensor q = cpu::rms_norm_rope_heads(cq, ca->norm_q->w, ca->eps, N, {}, {}, 1.0 / std::sqrt(double(hd)));
    att = at::empty({B, L, N * hd}, q.options());
    attention_into(q.expand({B, N, L, hd}), K, V, att.view({B, L, N, hd}).permute({0, 2, 1, 3}), /*accumulate=*/false);
  } else {
    // Other dtypes / devices: queries as the model makes them, float32 for the comparison.
    const at::Tensor q = (rms_norm(cq, ca->norm_q->w, ca->eps).to(at::kFloat) * (1.0 / std::sqrt(double(hd))))
                             .view({L, N, hd})
                             .transpose(0, 1);  // [N, L, hd]
    const at::Tensor probs = at::softmax(at::matmul(q.unsqueeze(0), K.transpose(-1, -2)), -1);  // [1 + A, N, L, S]
    att = at::matmul(probs, V).transpose(1, 2).reshape({B, L, N * hd});
  }
  const at::Tensor diff = att.narrow(0, 1, B - 1) - att.narrow(0, 0, 1);                // alternatives minus prompt
  const at::Tensor moved = at::linear(diff, ca->o->w.to(at::kFloat));                    // W_o only: the bias cancels
  const at::Tensor both = at::stack({moved.norm(2, {-1}).mean(), x.to(at::kFloat).norm(2, {-1}).mean()});
  const auto v = both.accessor<float, 1>();
  response_[static_cast<size_t>(layout_.step_slot(p.info.step))][static_cast<size_t>(layout_.layer_slot(p.layer))] =
      v[1] > 0 ? double(v[0]) / double(v[1]) : 0.0;
}

std::vector<double> TextResponseProbe::layer_means(const std::vector<int>& step_slots) const {
  std::vector<int> slots = step_slots;
  if (slots.empty())
    for (size_t s = 0; s < response_.size(); ++s) slots.push_back(static_cast<int>(s));
  std::vector<double> out(layout_.layers.size(), 0.0);
  for (size_t l = 0; l < out.size(); ++l) {
    for (int s : slots) {
      if (s < 0 || s >= static_cast<int>(response_.size())) fail("text response", "step slot out of range");
      const double v = response_[static_cast<size_t>(s)][l];
      if (!std::isfinite(v))
        fail("text response", "no value for step " + std::to_string(layout_.steps[static_cast<size_t>(s)]) +
                                  ", layer " + std::to_string(layout_.layers[l]));
      out[l] += v;
    }
    out[l] /= static_cast<double>(slots.size());
  }
  return out;
}

}  // namespace focalscope
