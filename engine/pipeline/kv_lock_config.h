// KV-Lock's background lock (../shared/papers/kv_lock_method_notes.md §2), torch-free: the settings, the fusion-ratio
// schedule and what each step did. The tensor half (the K/V cache and the fusion) is engine/pipeline/kv_lock.h.
//
//   K_mix = m * K_new + (1 - m) * (alpha * K_src + (1 - alpha) * K_new)     (V likewise; m = 1 on edited tokens)
//   alpha = clamp(sigma2 / tau, 0, 1) in the last kappa steps, else 0 (no lock)
// sigma2: the hallucination metric of the step before, inside the edit mask (local) or over the whole latent
// (global). Gaps the notes leave, chosen here (docs/kv_lock.md), each a parameter below: the source's noise is the
// edit run's own initial noise (shared); the source pass runs the conditional text only, with the edit prompt unless
// a source prompt is given; kappa scales with the step count as dynamic CFG's does (scaled_kappa); before the metric
// has a value alpha is 0.
#pragma once
#include <string>
#include <vector>

namespace focalscope {

struct KvLockConfig {
  // The --guidance token that set this up ("kvlock", "kvlock-kv", "kvlock-omega", ...; empty: none). Every kvlock
  // token is an editing mode: it needs a source video and a mask (focalscope edit).
  std::string variant;
  bool lock = false;         // the background K/V lock itself (kvlock, kvlock-kv, kvlock-fixed, kvlock-global)
  double alpha_fixed = -1;   // >= 0: this ratio in every scheduled step (the notes' 'fixed alpha = 0.5' ablation)
  bool local = true;         // sigma2 inside the mask (alpha and omega), else over the whole latent (kvlock-global)
  double tau = -1;           // <= 0: the model's calibrated kvlock tau, else the paper's 0.01
  int kappa = 20;            // locked steps at kappa_reference_steps (scaled_kappa for shorter runs)
  int kappa_reference_steps = 40;
  bool shared_noise = true;  // source noised with the edit run's initial noise (false: an independent draw)
  bool cache_on_cpu = false; // keep the K/V cache in host memory (moved to the device per layer when used)

  bool editing() const { return !variant.empty(); }
  void validate(const std::string& where = "kvlock") const;
};

// Steps locked in a run of `steps`: scaled_kappa(kappa, kappa_reference_steps, steps).
int locked_steps(const KvLockConfig& c, int steps);
// The fusion ratio at step `step` (0-based) of `steps`, given the metric of the step before (NaN: none yet).
double kvlock_alpha(const KvLockConfig& c, int step, int steps, double tau, double sigma2_prev);

// What one step of an edit did (GenerateResult::kvlock, exports, the CLI summary).
struct KvLockStep {
  int step = 0;
  double sigma2 = 0;     // the metric alpha read (NaN: none yet)
  double alpha = 0;      // the fusion ratio used (0: no lock this step)
  bool scheduled = false;  // inside the last kappa steps
  bool source_pass = false;  // the source was run through the model this step (alpha > 0)
};

}  // namespace focalscope
