// FlowUniPC: ARCHITECTURE.md section 10 (Wan's FlowUniPCMultistepScheduler, bh2, order 2, predict_x0).
// The scalar coefficients are 0-d float32 tensors combined in the upstream order so that rounding matches.
#include <ATen/ATen.h>

#include <algorithm>

#include "engine/core/error.h"
#include "engine/sched/scheduler.h"

namespace focalscope {

namespace {
constexpr int kSolverOrder = 2;

// Shift-1 training sigmas: 1 - reverse(linspace(1, 1/N, N)) computed in float64, stored as float32
// (the shift-1 formula s*x/(1+0*x) leaves them unchanged).
std::vector<float> unipc_train_sigmas(int n) {
  auto alphas = numpy_linspace(1.0, 1.0 / n, n);
  std::vector<float> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<float>(1.0 - alphas[static_cast<size_t>(n - 1 - i)]);
  return out;
}
}  // namespace

FlowUniPC::FlowUniPC(int num_train_timesteps) : FlowScheduler(num_train_timesteps) {
  train_sigmas_ = unipc_train_sigmas(num_train_timesteps);
  sigma_max_ = static_cast<double>(train_sigmas_.front());  // 0.999 as float32 (0.99900001287...)
  sigma_min_ = static_cast<double>(train_sigmas_.back());   // 0
}

void FlowUniPC::build_schedule(int steps, double shift) {
  auto s = numpy_linspace(sigma_max_, sigma_min_, steps + 1);
  s.pop_back();
  for (double& v : s) v = shift_sigma(v, shift);
  store_schedule(s);
}

void FlowUniPC::reset_state() {
  m_prev_ = at::Tensor();
  m_last_ = at::Tensor();
  last_sample_ = at::Tensor();
  this_order_ = 0;
  lower_order_nums_ = 0;
}

// lambda = log(alpha) - log(sigma) with alpha = 1 - sigma (+inf at sigma 0).
at::Tensor FlowUniPC::lambda(int i) const {
  at::Tensor s = sigma(i);
  at::Tensor a = 1 - s;
  return at::log(a) - at::log(s);
}

// UniP (bh2) from step i = step_index_ to i+1, starting at x; m_last_ = x0_i, m_prev_ = x0_{i-1}.
at::Tensor FlowUniPC::predictor(const at::Tensor& x, int order) const {
  const int i = step_index_;
  at::Tensor sigma_t = sigma(i + 1), sigma_s0 = sigma(i);
  at::Tensor alpha_t = 1 - sigma_t;
  at::Tensor lambda_t = lambda(i + 1), lambda_s0 = lambda(i);
  at::Tensor h = lambda_t - lambda_s0;
  at::Tensor hh = -h;
  at::Tensor h_phi_1 = at::expm1(hh);
  at::Tensor B_h = at::expm1(hh);
  at::Tensor x_t = (sigma_t / sigma_s0) * x - (alpha_t * h_phi_1) * m_last_;
  if (order == 2) {
    at::Tensor rk = (lambda(i - 1) - lambda_s0) / h;
    at::Tensor D1 = (m_prev_ - m_last_) / rk;
    at::Tensor pred_res = 0.5 * D1;  // order 2 uses the fixed rho_p = 0.5
    x_t = x_t - (alpha_t * B_h) * pred_res;
  }
  return x_t;
}

// UniC (bh2) at step i = step_index_: refines `sample` (reached from last_sample at step i-1) using the fresh
// x0_now; order = the predictor order of step i-1. m_last_ = x0_{i-1}, m_prev_ = x0_{i-2}.
at::Tensor FlowUniPC::corrector(const at::Tensor& x0_now, const at::Tensor& last_sample, const at::Tensor& sample,
                                int order) const {
  (void)sample;  // the corrected sample is rebuilt from last_sample (upstream's this_sample is unused too)
  const int i = step_index_;
  at::Tensor sigma_t = sigma(i), sigma_s0 = sigma(i - 1);
  at::Tensor alpha_t = 1 - sigma_t;
  at::Tensor lambda_t = lambda(i), lambda_s0 = lambda(i - 1);
  at::Tensor h = lambda_t - lambda_s0;

  at::Tensor D1;
  std::vector<at::Tensor> rks;
  if (order == 2) {
    at::Tensor rk = (lambda(i - 2) - lambda_s0) / h;
    rks.push_back(rk);
    D1 = (m_prev_ - m_last_) / rk;
  }
  rks.push_back(at::scalar_tensor(1.0, at::kFloat));
  at::Tensor rk_vec = at::stack(rks);

  at::Tensor hh = -h;
  at::Tensor h_phi_1 = at::expm1(hh);
  at::Tensor h_phi_k = h_phi_1 / hh - 1;
  int64_t factorial = 1;
  at::Tensor B_h = at::expm1(hh);
  std::vector<at::Tensor> R, b;
  for (int k = 1; k <= order; ++k) {
    R.push_back(at::pow(rk_vec, k - 1));
    b.push_back(h_phi_k * factorial / B_h);
    factorial *= k + 1;
    h_phi_k = h_phi_k / hh - 1.0 / static_cast<double>(factorial);
  }
  at::Tensor rhos_c;
  if (order == 1)
    rhos_c = at::full({1}, 0.5, at::kFloat);
  else
    rhos_c = at::linalg_solve(at::stack(R), at::stack(b));

  at::Tensor x_t_ = (sigma_t / sigma_s0) * last_sample - (alpha_t * h_phi_1) * m_last_;
  at::Tensor D1_t = x0_now - m_last_;
  at::Tensor res = rhos_c[-1] * D1_t;
  if (order == 2) res = rhos_c[0] * D1 + res;
  return x_t_ - (alpha_t * B_h) * res;
}

at::Tensor FlowUniPC::step_impl(const at::Tensor& model_output, const at::Tensor& sample_in) {
  const int i = step_index_;
  at::Tensor sample = sample_in;
  // Data prediction from the uncorrected sample.
  at::Tensor x0 = sample - sigma(i) * model_output;
  if (i > 0 && last_sample_.defined()) sample = corrector(x0, last_sample_, sample, this_order_);
  m_prev_ = m_last_;
  m_last_ = x0;
  // lower_order_final: order min(2, steps left), warm-up min(., steps done + 1).
  int order = std::min(kSolverOrder, num_steps() - i);
  order = std::min(order, lower_order_nums_ + 1);
  this_order_ = order;
  last_sample_ = sample;
  at::Tensor out = predictor(sample, order);
  if (lower_order_nums_ < kSolverOrder) ++lower_order_nums_;
  info_ = StepInfo{x0, sample, order};
  return out;
}

}  // namespace focalscope
