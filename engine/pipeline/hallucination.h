// The hallucination metric of KV-Lock (arXiv 2603.09657; ../shared/papers/kv_lock_method_notes.md §1), for every run:
// how much the model's clean-latent prediction x̂0 still moves over the last W steps.
//
//   per step k: x̂0(k) = x_k - sigma_k * v_k (the scheduler's data prediction, StepInfo::x0_pred);
//   var(k)     = per-element unbiased variance of x̂0(i), i = k-W+1 .. k      [C, F, H, W]
//   sigma2(k)  = mean of var(k) over every element (global) or over the elements inside a latent-grid mask (local);
//   map(k)     = var(k) averaged over channels: [F, H, W] over the latent grid ("where the model is still undecided").
// Gaps the notes leave, chosen here (docs/kv_lock.md): the per-element variance becomes one number by the MEAN over
// elements; before W steps exist the window is the steps so far (at least 2; step 0 has no value, NaN). Trajectories
// inside the data support settle late in denoising; hallucinated ones keep fluctuating (after Aithal et al. 2024).
// Cost: one pass over W copies of the latent per step (plain loops), nothing through the model.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/pipeline/hallucination_trace.h"

namespace focalscope {

class HallucinationTracker {
 public:
  // window >= 2. mask: optional [F, H, W] (or [1, F, H, W]) latent-grid mask, nonzero = inside; it must not be
  // empty. Errors name the parameter.
  explicit HallucinationTracker(int window, const at::Tensor& mask = {});
  // x0: the step's data prediction [C, F, H, W] (any float dtype / device). Steps must come in order.
  void add(const at::Tensor& x0);
  const HallucinationTrace& trace() const { return trace_; }

 private:
  std::deque<std::vector<float>> recent_;  // the last W predictions, float32 [C * F * H * W]
  std::vector<uint8_t> mask_;              // [F * H * W] 1 = inside; empty without a mask
  int64_t mask_count_ = 0;
  HallucinationTrace trace_;
};

}  // namespace focalscope
