// Text response of each layer: how much changing the text changes what the layer's text cross-attention adds to
// the residual stream, measured inside the run on the run's own visual state:
//
//   R_l = mean_a  mean_u || W_o ( attn(q_u, K_p, V_p) - attn(q_u, K_a, V_a) ) ||  /  mean_u || x_u ||
//
// q_u: the layer's cross-attention query of token u (from x_norm, conditional row); K_p, V_p: the prompt's text keys
// and values in layer l; K_a, V_a: those of an alternative text a (`analyze` uses the prompt with a keyword swapped
// for a word of its class the image does not show, "red" -> "orange", else the empty prompt); x: the residual
// stream entering the cross-attention. The image half of the cross-attention and the output bias cancel in the
// difference. R_l is the first-order, local version of the causal ablation `focalscope ablate` runs (one layer's
// text replaced, the rest of the run unchanged): a layer that answers its words weakly barely moves the stream when
// they change (docs/validation.md). Per captured (step, layer) and alternative: one text attention and one
// [tokens, dim] x [dim, dim] GEMM, batched over the alternatives.
// Read-only: the run's output is bit-identical with and without it.
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "engine/capture/capture_layout.h"
#include "engine/models/probe.h"
#include "engine/models/wan/wan_model.h"

namespace focalscope {

class TextResponseProbe : public ProbeListener {
 public:
  // prompt / alternatives: precompute_text_cross of the run's prompt and of the texts it is compared with (batch 1
  // each; R is the mean over them). Records the steps and layers of `layout` (the same selection as the similarity
  // capture it runs beside).
  // num_heads: the model's cross-attention heads (WanConfig::num_heads).
  TextResponseProbe(CrossContext prompt, std::vector<CrossContext> alternatives, const CaptureLayout& layout,
                    int num_heads);

  // Token grids larger than this are measured on an evenly strided subset of this many tokens (a mean over tokens).
  static constexpr int64_t kMaxTokens = 4096;

  // Forces the plain ATen path that other dtypes and devices take (tests); float32 CPU runs the fused kernels.
  bool reference_path = false;

  bool wants(const ForwardInfo& info, int layer) const override;
  void on_cross_attn_values(BlockProbe& p) override;

  // R per [step slot][layer slot]; NaN where not recorded (e.g. a cancelled run).
  const std::vector<std::vector<double>>& values() const { return response_; }
  // Per layer slot, the mean over the given step slots (empty = every step slot); an Error names a missing value.
  std::vector<double> layer_means(const std::vector<int>& step_slots = {}) const;

 private:
  std::vector<at::Tensor> keys_, values_kv_;  // per model layer: [1 + alternatives, heads, text rows, head dim] float32
  CaptureLayout layout_;
  std::vector<std::vector<double>> response_;  // [step slot][layer slot]
};

}  // namespace focalscope
