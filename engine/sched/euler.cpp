// FlowEuler: first-order flow-matching Euler on the UniPC schedule (not part of upstream Wan).
// The DiT predicts the velocity v = eps - x0 of x_sigma = (1 - sigma) x0 + sigma eps, so
//   x_{i+1} = x_i + (sigma_{i+1} - sigma_i) * v_i,
// which is exact for a constant velocity field; the last step (sigma -> 0) returns x_i - sigma_i v_i = x0_pred.
#include <ATen/ATen.h>

#include "engine/sched/scheduler.h"

namespace focalscope {

FlowEuler::FlowEuler(int num_train_timesteps) : FlowScheduler(num_train_timesteps) {
  // Same sigma range as FlowUniPC: the first shift-1 training sigma 1 - 1/N in float32, down to 0.
  sigma_max_ = static_cast<double>(static_cast<float>(1.0 - 1.0 / num_train_timesteps));
  sigma_min_ = 0.0;
}

void FlowEuler::build_schedule(int steps, double shift) {
  auto s = numpy_linspace(sigma_max_, sigma_min_, steps + 1);
  s.pop_back();
  for (double& v : s) v = shift_sigma(v, shift);
  store_schedule(s);
}

at::Tensor FlowEuler::step_impl(const at::Tensor& model_output, const at::Tensor& sample) {
  const int i = step_index_;
  at::Tensor dt = sigma(i + 1) - sigma(i);
  info_ = StepInfo{sample - sigma(i) * model_output, sample, 1};
  return sample + dt * model_output;
}

}  // namespace focalscope
