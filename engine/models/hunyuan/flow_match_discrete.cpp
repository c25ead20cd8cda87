#include "engine/models/hunyuan/flow_match_discrete.h"

#include <cmath>
#include <string>

#include "engine/core/error.h"
#include "engine/core/weights.h"

namespace focalscope {

FlowMatchDiscrete::FlowMatchDiscrete(double shift, bool reverse, int num_train_timesteps)
    : shift_(shift), reverse_(reverse), num_train_timesteps_(num_train_timesteps) {
  if (!std::isfinite(shift) || shift <= 0.0) fail("FlowMatchDiscrete scheduler", "flow shift must be a positive finite number, got " + std::to_string(shift));
  if (num_train_timesteps <= 0) fail("FlowMatchDiscrete scheduler", "num_train_timesteps must be positive");
}

void FlowMatchDiscrete::set_timesteps(int steps) {
  if (steps <= 0) fail("FlowMatchDiscrete scheduler", "number of sampling steps must be positive, got " + std::to_string(steps));
  // torch.linspace(1, 0, n+1) in float32 (at::linspace is the same kernel), then sd3_time_shift with the Python
  // float shift applied as a float32 scalar: (shift * s) / (1 + (shift - 1) * s).
  at::Tensor s = at::linspace(1, 0, steps + 1, at::TensorOptions().dtype(at::kFloat));
  s = (shift_ * s) / (1 + (shift_ - 1) * s);
  if (!reverse_) s = 1 - s;
  sigmas_ = s;
  timesteps_ = (s.narrow(0, 0, steps) * num_train_timesteps_).to(at::kFloat);
  step_index_ = 0;
}

at::Tensor FlowMatchDiscrete::step(const at::Tensor& model_output, const at::Tensor& sample) {
  const char* where = "FlowMatchDiscrete scheduler";
  if (!sigmas_.defined()) fail(where, "step() called before set_timesteps()");
  if (step_index_ >= num_steps()) fail(where, "step() called after the last of " + std::to_string(num_steps()) + " steps");
  if (model_output.sizes() != sample.sizes())
    fail(where, "model output has shape " + shape_str(model_output.sizes()) + " but the sample has shape " + shape_str(sample.sizes()));
  const at::Tensor dt = (sigmas_[step_index_ + 1] - sigmas_[step_index_]).to(sample.device());  // 0-d float32
  ++step_index_;
  return sample.to(at::kFloat) + model_output.to(sample.device(), at::kFloat) * dt;
}

}  // namespace focalscope
