#include "engine/sched/scheduler.h"

#include <ATen/ATen.h>

#include <cmath>

#include "engine/core/error.h"
#include "engine/core/limits.h"

namespace focalscope {

std::vector<double> numpy_linspace(double start, double stop, int64_t num) {
  // numpy.linspace(endpoint=True): y[i] = i*step + start (or (i/div)*delta + start when step underflows to 0),
  // last entry forced to stop. (at::linspace fills its second half from the end, which rounds differently.)
  std::vector<double> y(static_cast<size_t>(std::max<int64_t>(num, 0)));
  if (num <= 0) return y;
  if (num == 1) {
    y[0] = start;
    return y;
  }
  const double div = static_cast<double>(num - 1);
  const double delta = stop - start;
  const double step = delta / div;
  for (int64_t i = 0; i < num; ++i) {
    const double fi = static_cast<double>(i);
    double v = step == 0.0 ? (fi / div) * delta : fi * step;
    y[static_cast<size_t>(i)] = v + start;
  }
  y.back() = stop;
  return y;
}

double shift_sigma(double sigma, double shift) { return shift * sigma / (1.0 + (shift - 1.0) * sigma); }

// ---- FlowScheduler ----------------------------------------------------------------
FlowScheduler::FlowScheduler(int num_train_timesteps) : num_train_timesteps_(num_train_timesteps) {
  if (num_train_timesteps <= 0)
    fail("scheduler", "num_train_timesteps must be positive, got " + std::to_string(num_train_timesteps));
}

void FlowScheduler::set_timesteps(int steps, double shift) {
  const std::string where = name() + " scheduler";
  if (steps <= 0 || steps > limits::kMaxSteps)
    fail(where, "number of sampling steps must be in [1, " + std::to_string(limits::kMaxSteps) + "], got " + std::to_string(steps));
  if (!std::isfinite(shift) || shift <= 0.0)
    fail(where, "shift must be a positive finite number, got " + std::to_string(shift));
  build_schedule(steps, shift);
  reset();
}

void FlowScheduler::store_schedule(const std::vector<double>& sigmas) {
  timesteps_.clear();
  sigmas_.clear();
  for (double s : sigmas) {
    // numpy float64 -> torch int64: truncation toward zero.
    timesteps_.push_back(static_cast<int64_t>(s * static_cast<double>(num_train_timesteps_)));
    sigmas_.push_back(static_cast<float>(s));
  }
  sigmas_.push_back(0.0f);  // final_sigmas_type "zero"
}

at::Tensor FlowScheduler::sigma(int i) const { return at::scalar_tensor(sigmas_.at(static_cast<size_t>(i)), at::kFloat); }

void FlowScheduler::reset() {
  step_index_ = 0;
  info_ = StepInfo{};
  reset_state();
}

at::Tensor FlowScheduler::step(const at::Tensor& model_output, const at::Tensor& sample) {
  const std::string where = name() + " scheduler";
  if (timesteps_.empty()) fail(where, "step() called before set_timesteps()");
  if (step_index_ >= num_steps())
    fail(where, "step() called after the last of " + std::to_string(num_steps()) + " steps (call reset() to start over)");
  if (!sample.defined() || !model_output.defined()) fail(where, "step() got an undefined tensor");
  if (!at::isFloatingType(sample.scalar_type())) fail(where, "sample must be a floating-point tensor");
  if (model_output.sizes() != sample.sizes())
    fail(where, "model output has shape " + shape_str(model_output.sizes()) + " but the sample has shape " +
                    shape_str(sample.sizes()));
  at::Tensor mo = model_output.to(sample.device(), sample.scalar_type());
  at::Tensor out = step_impl(mo, sample);
  ++step_index_;
  return out;
}

at::Tensor FlowScheduler::step(const at::Tensor& model_output, int64_t timestep, const at::Tensor& sample) {
  if (!timesteps_.empty() && step_index_ < num_steps() && timesteps_[static_cast<size_t>(step_index_)] != timestep)
    fail(name() + " scheduler", "step " + std::to_string(step_index_) + " expects timestep " +
                                    std::to_string(timesteps_[static_cast<size_t>(step_index_)]) + ", got " +
                                    std::to_string(timestep));
  return step(model_output, sample);
}

// ---- factory / CFG -----------------------------------------------------------------
std::unique_ptr<FlowScheduler> make_scheduler(const std::string& name, int num_train_timesteps) {
  if (num_train_timesteps < 1 || num_train_timesteps > limits::kMaxTrainTimesteps)
    fail("scheduler", "num_train_timesteps must be in [1, " + std::to_string(limits::kMaxTrainTimesteps) + "], got " +
                          std::to_string(num_train_timesteps));
  if (name == "unipc") return std::make_unique<FlowUniPC>(num_train_timesteps);
  if (name == "dpm++" || name == "dpmpp") return std::make_unique<FlowDPMSolverPP>(num_train_timesteps);
  if (name == "euler") return std::make_unique<FlowEuler>(num_train_timesteps);
  fail("scheduler", "unknown sample solver '" + name + "' (expected unipc, dpm++ or euler)");
}

at::Tensor cfg_combine(const at::Tensor& uncond, const at::Tensor& cond, double scale) {
  if (!uncond.defined() || !cond.defined()) fail("cfg_combine", "undefined tensor");
  if (uncond.sizes() != cond.sizes())
    fail("cfg_combine", "unconditional output has shape " + shape_str(uncond.sizes()) +
                            " but the conditional one has shape " + shape_str(cond.sizes()));
  if (!std::isfinite(scale)) fail("cfg_combine", "guide scale must be finite");
  return uncond + scale * (cond - uncond);
}

at::Tensor cfg_zero_star_combine(const at::Tensor& uncond, const at::Tensor& cond, double omega, bool sstar,
                                 double* sstar_out) {
  if (!uncond.defined() || !cond.defined() || uncond.sizes() != cond.sizes())
    fail("cfg_zero_star_combine", "conditional and unconditional outputs must have the same shape");
  if (!std::isfinite(omega)) fail("cfg_zero_star_combine", "omega must be finite");
  double s = 1.0;
  if (sstar) {
    const at::Tensor u = uncond.to(at::kDouble), c = cond.to(at::kDouble);
    s = (u * c).sum().item<double>() / (u.pow(2).sum().item<double>() + 1e-8);
  }
  if (sstar_out) *sstar_out = s;
  return (1.0 - omega) * s * uncond + omega * cond;
}

}  // namespace focalscope
