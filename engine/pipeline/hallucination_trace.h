// The result of KV-Lock's hallucination metric for one run (engine/pipeline/hallucination.h computes it), as plain
// numbers: torch-free, so the app, exports and the CLI read it without ATen.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace focalscope {

// The paper's threshold, stated on its own (Wan2.1) latent scale; a calibrated model stores its own (manifest
// "kvlock" -> "tau", ModelBundle::calibrated_kvlock_tau).
inline constexpr double kPaperHallucinationTau = 0.01;

// The metric of one run, torch-free (plain numbers for the CLI, exports and the app).
struct HallucinationTrace {
  int window = 0;                       // W (0: the metric was off for this run)
  std::array<int64_t, 3> grid{};        // latent grid (F, H, W) of the maps
  std::vector<int> window_used;         // per step: how many steps the variance used (1 at step 0: no value)
  std::vector<double> global;           // per step: sigma2 over the whole latent (NaN at step 0)
  std::vector<double> local;            // per step: sigma2 inside the mask (empty without a mask)
  std::vector<std::vector<float>> maps; // per step: F*H*W channel-mean variance, row-major (f, h, w); empty at step 0
  int steps() const { return static_cast<int>(global.size()); }
  bool has_local() const { return !local.empty(); }
  // The curve the schedules read: local when a mask was given, else global.
  const std::vector<double>& curve() const { return has_local() ? local : global; }
};

// The trace as CSV (step,window,sigma2_global[,sigma2_local]) and as JSON (the same plus the per-step maps).
std::string hallucination_csv(const HallucinationTrace& t);
std::string hallucination_json(const HallucinationTrace& t, double tau);
// One line for the CLI: final and largest sigma2 and how many steps exceed tau.
std::string hallucination_summary(const HallucinationTrace& t, double tau);

}  // namespace focalscope
