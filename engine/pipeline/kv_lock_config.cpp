#include "engine/pipeline/kv_lock_config.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/sched/dyn_cfg.h"

namespace focalscope {

void KvLockConfig::validate(const std::string& where) const {
  if (!editing()) return;
  if (!std::isfinite(alpha_fixed) || alpha_fixed > 1) fail(where + ": alpha_fixed", "must be in [0, 1] (or < 0 for the schedule)");
  if (!std::isfinite(tau)) fail(where + ": tau", "must be finite");
  if (kappa < 0) fail(where + ": kappa", "must be >= 0");
  if (kappa_reference_steps < 1) fail(where + ": kappa_reference_steps", "must be >= 1");
}

int locked_steps(const KvLockConfig& c, int steps) { return scaled_kappa(c.kappa, c.kappa_reference_steps, steps); }

double kvlock_alpha(const KvLockConfig& c, int step, int steps, double tau, double sigma2_prev) {
  if (!c.lock || step < steps - locked_steps(c, steps)) return 0;
  if (c.alpha_fixed >= 0) return c.alpha_fixed;
  if (!std::isfinite(sigma2_prev) || !(tau > 0)) return 0;
  return std::clamp(sigma2_prev / tau, 0.0, 1.0);
}

}  // namespace focalscope
