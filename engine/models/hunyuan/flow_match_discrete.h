// HunyuanVideo's FlowMatchDiscreteScheduler (hyvideo/diffusion/schedulers/scheduling_flow_match_discrete.py) with
// the Euler solver, the only one the release uses. Spec: ARCHITECTURE.md §8.
//
// Unlike Wan's schedulers (engine/sched) the timesteps are float (sigma * 1000, not rounded) and the schedule
// starts at exactly sigma 1. Everything is float32 ATen arithmetic in upstream's operation order, so sigmas,
// timesteps and every step match upstream bit for bit.
#pragma once
#include <ATen/ATen.h>

namespace focalscope {

class FlowMatchDiscrete {
 public:
  // `reverse` is upstream's flow_reverse (every release script passes it: sigmas run 1 -> 0).
  FlowMatchDiscrete(double shift, bool reverse, int num_train_timesteps = 1000);

  // sigma = shift*s / (1 + (shift-1)*s) on s = linspace(1, 0, steps+1) (1 - that when not reversed);
  // timesteps = sigma[:-1] * num_train_timesteps. Resets the step index. Throws Error for steps <= 0.
  void set_timesteps(int steps);
  const at::Tensor& sigmas() const { return sigmas_; }        // [steps + 1] float32
  const at::Tensor& timesteps() const { return timesteps_; }  // [steps] float32
  int num_steps() const { return static_cast<int>(timesteps_.numel()); }
  int step_index() const { return step_index_; }

  // Euler: sample + model_output * (sigma[i+1] - sigma[i]) in float32, i = step_index(); advances the index.
  at::Tensor step(const at::Tensor& model_output, const at::Tensor& sample);

 private:
  double shift_;
  bool reverse_;
  int num_train_timesteps_;
  at::Tensor sigmas_, timesteps_;
  int step_index_ = 0;
};

}  // namespace focalscope
