// Flow-matching samplers for the Wan2.1 DiT (velocity prediction, sigma = noise level, x_sigma = (1-sigma) x0 + sigma eps).
//
//   auto s = make_scheduler("unipc");            // "unipc" (Wan default) | "dpm++" | "euler"
//   s->set_timesteps(40, 3.0);                   // I2V 480P defaults
//   for (int64_t t : s->timesteps()) {            // copy: step() does not change the schedule
//     at::Tensor v = cfg_combine(uncond(latent, t), cond(latent, t), 5.0);
//     latent = s->step(v, t, latent);
//   }
//
// Schedules (ARCHITECTURE.md section 10):
// * FlowUniPC and FlowEuler: the UniPC schedule. Training sigmas (shift 1) are built in float32, sigma_max =
//   their first entry (0.999 in float32), sigma_min = 0; set_timesteps(n, s) takes float64 numpy-style
//   linspace(sigma_max, sigma_min, n+1)[:n], applies the shift s*sigma/(1+(s-1)*sigma) in float64, truncates
//   sigma*num_train_timesteps to int64 for the timesteps and stores sigmas (+ a final 0) as float32.
// * FlowDPMSolverPP: upstream get_sampling_sigmas: the same shift on linspace(1, 0, n+1)[:n] (starts at exactly 1.0).
// All per-step scalar math is float32 ATen scalars, mirroring the upstream operation order, so results match
// the reference bit-for-bit (or to the last ulp on another CPU).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/fixture.h"

namespace focalscope {

// What the last step() computed (for tests, previews and analysis).
struct StepInfo {
  at::Tensor x0_pred;           // data prediction sample - sigma_i * model_output (from the uncorrected sample)
  at::Tensor corrected_sample;  // sample the predictor started from (after the UniC corrector; else the input)
  int order = 0;                // predictor order used at this step
};

class FlowScheduler {
 public:
  explicit FlowScheduler(int num_train_timesteps);
  virtual ~FlowScheduler() = default;
  FlowScheduler(const FlowScheduler&) = delete;
  FlowScheduler& operator=(const FlowScheduler&) = delete;

  virtual std::string name() const = 0;

  // Builds the schedule; throws Error when steps <= 0 or shift is not a positive finite number. Resets the state.
  void set_timesteps(int steps, double shift);
  const std::vector<int64_t>& timesteps() const { return timesteps_; }  // steps entries, handed to the model
  const std::vector<float>& sigmas() const { return sigmas_; }          // steps + 1 entries, last is 0
  int num_steps() const { return static_cast<int>(timesteps_.size()); }
  int step_index() const { return step_index_; }  // steps already taken
  bool done() const { return !timesteps_.empty() && step_index_ == num_steps(); }
  int num_train_timesteps() const { return num_train_timesteps_; }

  // One sampler step from sigmas()[step_index()] to sigmas()[step_index()+1]. model_output is the velocity the
  // model predicted at timesteps()[step_index()] for `sample`; same shape as sample (converted to its dtype).
  // Throws Error before set_timesteps, after the last step, or on a shape mismatch.
  at::Tensor step(const at::Tensor& model_output, const at::Tensor& sample);
  // Same, checking that `timestep` is the one due now (upstream call order: step(noise_pred, t, latent)).
  at::Tensor step(const at::Tensor& model_output, int64_t timestep, const at::Tensor& sample);
  const StepInfo& last_step() const { return info_; }

  // Forgets the solver history and rewinds to step 0 of the current schedule.
  void reset();

 protected:
  // Fills sigmas_ (n+1 float32, last 0) and timesteps_ for n steps with shift s (arguments already validated).
  virtual void build_schedule(int steps, double shift) = 0;
  // Called with step_index_ = i; returns the next sample and fills info_.
  virtual at::Tensor step_impl(const at::Tensor& model_output, const at::Tensor& sample) = 0;
  virtual void reset_state() = 0;

  at::Tensor sigma(int i) const;  // 0-d float32 tensor sigmas_[i]
  // sigmas (float64, without the final 0) -> sigmas_ (float32, + final 0) and truncated int64 timesteps.
  void store_schedule(const std::vector<double>& sigmas);

  int num_train_timesteps_;
  std::vector<int64_t> timesteps_;
  std::vector<float> sigmas_;
  int step_index_ = 0;
  StepInfo info_;
};

// Wan's FlowUniPCMultistepScheduler: UniPC bh2, solver order 2 with lower_order_final, predict_x0, corrector
// on every step after the first, final sigma 0.
class FlowUniPC : public FlowScheduler {
 public:
  explicit FlowUniPC(int num_train_timesteps = 1000);
  std::string name() const override { return "unipc"; }
  // The shift-1 training sigmas built at construction (float32, num_train_timesteps entries, 0.999 ... 0).
  const std::vector<float>& train_sigmas() const { return train_sigmas_; }

 protected:
  void build_schedule(int steps, double shift) override;
  at::Tensor step_impl(const at::Tensor& model_output, const at::Tensor& sample) override;
  void reset_state() override;

 private:
  at::Tensor lambda(int i) const;
  at::Tensor predictor(const at::Tensor& x, int order) const;
  at::Tensor corrector(const at::Tensor& x0_now, const at::Tensor& last_sample, const at::Tensor& sample, int order) const;

  std::vector<float> train_sigmas_;
  double sigma_max_ = 1.0, sigma_min_ = 0.0;
  at::Tensor m_prev_, m_last_;  // x0 of the step before last and of the last step (model_outputs[-2], [-1])
  at::Tensor last_sample_;
  int this_order_ = 0;
  int lower_order_nums_ = 0;
};

// Wan's FlowDPMSolverMultistepScheduler as `--sample_solver dpm++` drives it: DPM-Solver++ (data prediction),
// 2nd-order multistep midpoint, first order on the first and the last step, final sigma 0.
class FlowDPMSolverPP : public FlowScheduler {
 public:
  explicit FlowDPMSolverPP(int num_train_timesteps = 1000);
  std::string name() const override { return "dpm++"; }

 protected:
  void build_schedule(int steps, double shift) override;
  at::Tensor step_impl(const at::Tensor& model_output, const at::Tensor& sample) override;
  void reset_state() override;

 private:
  at::Tensor m_prev_, m_last_;
  int lower_order_nums_ = 0;
};

// Plain flow-matching Euler (not in upstream Wan): x_{i+1} = x_i + (sigma_{i+1} - sigma_i) * v_i on the UniPC
// schedule (sigma_max 0.999, same shift and integer timesteps). The last step (to sigma 0) lands on x0_pred.
class FlowEuler : public FlowScheduler {
 public:
  explicit FlowEuler(int num_train_timesteps = 1000);
  std::string name() const override { return "euler"; }

 protected:
  void build_schedule(int steps, double shift) override;
  at::Tensor step_impl(const at::Tensor& model_output, const at::Tensor& sample) override;
  void reset_state() override {}

 private:
  double sigma_max_ = 1.0, sigma_min_ = 0.0;
};

// "unipc" | "dpm++" (alias "dpmpp") | "euler"; unknown name or num_train_timesteps <= 0 -> Error.
std::unique_ptr<FlowScheduler> make_scheduler(const std::string& name, int num_train_timesteps = 1000);

// Classifier-free guidance: uncond + scale * (cond - uncond).
at::Tensor cfg_combine(const at::Tensor& uncond, const at::Tensor& cond, double scale);
// CFG-Zero*'s form (engine/sched/dyn_cfg.h): (1 - omega) * s * uncond + omega * cond, s = <cond, uncond> /
// (|uncond|^2 + 1e-8) over the whole tensor when `sstar`, else 1. *sstar_out receives s.
at::Tensor cfg_zero_star_combine(const at::Tensor& uncond, const at::Tensor& cond, double omega, bool sstar,
                                 double* sstar_out = nullptr);

// Schedule helpers (float64, as numpy computes them).
std::vector<double> numpy_linspace(double start, double stop, int64_t num);
double shift_sigma(double sigma, double shift);  // shift*sigma / (1 + (shift-1)*sigma)

// Fixture runner for unipc_flow/: every case of config.json "cases" replays the stored <case>_model_output from
// latent0 and reproduces <case>_timesteps, _sigmas, _latent_after_step (+ _init_sigmas, _x0_pred,
// _corrected_sample, _this_order where io.safetensors records them).
FixtureResult run_scheduler_fixture(const Fixture& fx);

}  // namespace focalscope
