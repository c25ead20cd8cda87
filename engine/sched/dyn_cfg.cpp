#include "engine/sched/dyn_cfg.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"

namespace focalscope {

const char* omega_reading_name(OmegaReading r) { return r == OmegaReading::Literal ? "literal" : "raise"; }

OmegaReading parse_omega_reading(const std::string& name) {
  if (name == "literal") return OmegaReading::Literal;
  if (name == "raise") return OmegaReading::RaiseOnly;
  fail("--omega-reading", "'" + name + "' is not literal or raise");
}

void DynCfgConfig::validate(const std::string& where) const {
  if (!enabled) return;
  if (!sstar && !omega) fail(where, "neither s* nor the omega schedule is on: dynamic CFG would be plain CFG");
  if (!std::isfinite(b) || b < 1) fail(where + ": b", "must be >= 1 (the clamp's upper end; 1 disables raising)");
  if (kappa < 0) fail(where + ": kappa", "must be >= 0");
  if (kappa_reference_steps < 1) fail(where + ": kappa_reference_steps", "must be >= 1");
  if (!std::isfinite(omega0) || !std::isfinite(tau)) fail(where, "omega0 and tau must be finite");
}

int scaled_kappa(int kappa, int reference_steps, int steps) {
  if (steps >= reference_steps) return std::min(kappa, steps);
  return std::min(steps, static_cast<int>(std::ceil(double(kappa) * steps / double(reference_steps))));
}

int scheduled_steps(const DynCfgConfig& c, int steps) { return scaled_kappa(c.kappa, c.kappa_reference_steps, steps); }

double dyncfg_omega(const DynCfgConfig& c, int step, int steps, double omega0, double tau, double sigma2_prev) {
  if (!c.omega || step < steps - scheduled_steps(c, steps) || !std::isfinite(sigma2_prev) || !(tau > 0)) return omega0;
  const double lo = c.reading == OmegaReading::Literal ? 0.0 : 1.0;
  return omega0 * std::clamp(sigma2_prev / tau, lo, c.b);
}

}  // namespace focalscope
