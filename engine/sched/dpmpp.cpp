// FlowDPMSolverPP: Wan's FlowDPMSolverMultistepScheduler with its defaults (solver_order 2, dpmsolver++,
// midpoint, lower_order_final, final sigma 0), scheduled as `--sample_solver dpm++` does it
// (get_sampling_sigmas -> retrieve_timesteps; the constructor's shift 1 leaves those sigmas unchanged).
//
// With alpha = 1 - sigma, lambda = log(alpha) - log(sigma), h = lambda_{i+1} - lambda_i and the data prediction
// D = x - sigma_i * v:
//   first order (first step, last step):  x' = (sigma_{i+1}/sigma_i) x - alpha_{i+1} (e^{-h} - 1) D_i
//   second order (midpoint):              r0 = (lambda_i - lambda_{i-1}) / h, D1 = (D_i - D_{i-1}) / r0,
//                                          x' = (sigma_{i+1}/sigma_i) x - alpha_{i+1} (e^{-h} - 1) (D_i + D1 / 2)
// Scalars are 0-d float32 tensors combined in the upstream order.
#include <ATen/ATen.h>

#include "engine/sched/scheduler.h"

namespace focalscope {

FlowDPMSolverPP::FlowDPMSolverPP(int num_train_timesteps) : FlowScheduler(num_train_timesteps) {}

void FlowDPMSolverPP::build_schedule(int steps, double shift) {
  auto s = numpy_linspace(1.0, 0.0, steps + 1);
  s.pop_back();
  for (double& v : s) v = shift_sigma(v, shift);
  store_schedule(s);
}

void FlowDPMSolverPP::reset_state() {
  m_prev_ = at::Tensor();
  m_last_ = at::Tensor();
  lower_order_nums_ = 0;
}

at::Tensor FlowDPMSolverPP::step_impl(const at::Tensor& model_output, const at::Tensor& sample) {
  const int i = step_index_;
  const bool last = i == num_steps() - 1;  // final sigma 0 => always first order at the end
  at::Tensor x0 = sample - sigma(i) * model_output;
  m_prev_ = m_last_;
  m_last_ = x0;

  auto lam = [&](const at::Tensor& s) { return at::log(1 - s) - at::log(s); };
  at::Tensor sigma_t = sigma(i + 1), sigma_s0 = sigma(i);
  at::Tensor alpha_t = 1 - sigma_t;
  at::Tensor lambda_t = lam(sigma_t), lambda_s0 = lam(sigma_s0);
  at::Tensor h = lambda_t - lambda_s0;
  at::Tensor coef = alpha_t * (at::exp(-h) - 1.0);

  at::Tensor out;
  int order;
  if (lower_order_nums_ < 1 || last) {
    order = 1;
    out = (sigma_t / sigma_s0) * sample - coef * x0;
  } else {
    order = 2;
    at::Tensor lambda_s1 = lam(sigma(i - 1));
    at::Tensor h_0 = lambda_s0 - lambda_s1;
    at::Tensor r0 = h_0 / h;
    at::Tensor D1 = (at::reciprocal(r0) * 1.0) * (m_last_ - m_prev_);
    out = (sigma_t / sigma_s0) * sample - coef * m_last_ - (0.5 * coef) * D1;
  }
  if (lower_order_nums_ < 2) ++lower_order_nums_;
  info_ = StepInfo{x0, sample, order};
  return out;
}

}  // namespace focalscope
