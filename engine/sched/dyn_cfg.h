// KV-Lock's dynamic classifier-free guidance (../shared/papers/kv_lock_method_notes.md §3), torch-free: the settings,
// the step schedule and what each step did. The tensor half is cfg_zero_star_combine (engine/sched/scheduler.h).
//
//   v = (1 - w) * s * v_uncond + w * v_cond                     (CFG-Zero*'s form of guidance with weight w)
//   s = s* = <v_cond, v_uncond> / (|v_uncond|^2 + 1e-8)         per batch item, over the whole latent (`sstar`)
//   w = w0 * clamp(sigma2 / tau, 0, b)    in the last kappa steps (`omega`, the literal reading), else w0
//     = w0 * clamp(sigma2 / tau, 1, b)    (the raise-only reading: w never falls below w0)
// sigma2: the hallucination metric (engine/pipeline/hallucination.h) of the step before (the current step's x̂0 is
// what the model is about to predict), local when the run has a mask. With s = 1 and w = w0 this is plain CFG.
// Gaps the notes leave, chosen here (docs/kv_lock.md): w0 = the run's CFG scale; kappa = 20 at 40 steps (Wan2.1
// I2V's default step count), scaled to ceil(20 * steps / 40) for runs with fewer steps; before the metric has a value
// (step 0 / 1) w = w0.
#pragma once
#include <string>
#include <vector>

namespace focalscope {

enum class OmegaReading { Literal, RaiseOnly };
const char* omega_reading_name(OmegaReading r);             // "literal" | "raise"
OmegaReading parse_omega_reading(const std::string& name);  // Error naming --omega-reading otherwise

struct DynCfgConfig {
  bool enabled = false;
  bool sstar = true;    // CFG-Zero*'s optimized scale on the unconditional prediction (every step)
  bool omega = true;    // the sigma2-scheduled guidance weight (last kappa steps)
  OmegaReading reading = OmegaReading::Literal;
  double omega0 = -1;   // <= 0: the run's CFG scale
  double tau = -1;      // <= 0: the model's calibrated kvlock tau, else the paper's 0.01
  double b = 2;         // upper clamp of sigma2 / tau
  int kappa = 20;       // scheduled steps at kappa_reference_steps
  int kappa_reference_steps = 40;
  // Refuses settings that mean nothing (b < 1 with the raise reading, negative values, neither part on), naming
  // `where` and the key.
  void validate(const std::string& where = "dynamic CFG") const;
};

// KV-Lock's "last kappa steps" in a run of `steps` steps: kappa when steps >= the reference, else
// ceil(kappa * steps / reference) (the same fraction of the run). Shared by dynamic CFG and the background lock.
int scaled_kappa(int kappa, int reference_steps, int steps);
// Steps scheduled in a run of `steps` steps: scaled_kappa(c.kappa, c.kappa_reference_steps, steps).
int scheduled_steps(const DynCfgConfig& c, int steps);
// The guidance weight at step `step` (0-based) of `steps`, given the metric of the step before (NaN: none yet).
double dyncfg_omega(const DynCfgConfig& c, int step, int steps, double omega0, double tau, double sigma2_prev);

// What one step did (GenerateResult::dyncfg, exports, the CLI summary).
struct DynCfgStep {
  int step = 0;
  double sigma2 = 0;  // the metric it read (NaN: none yet)
  double omega = 0;   // the guidance weight used
  double sstar = 1;   // the unconditional prediction's scale used (1 without s*)
  bool scheduled = false;  // inside the last kappa steps
};

}  // namespace focalscope
