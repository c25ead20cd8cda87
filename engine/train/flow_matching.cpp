#include "engine/train/flow_matching.h"

#include <algorithm>
#include <cmath>

namespace focalscope::train {

namespace {
// Standard normal from the world's bit-exact generator (Box-Muller), so sigma draws do not depend on libstdc++.
double normal(shapes::SplitMix64& rng) {
  const double u1 = std::max(rng.uniform(), 1e-12), u2 = rng.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}
}  // namespace

double draw_sigma(shapes::SplitMix64& rng, double shift, double uniform_share) {
  const double u = rng.chance(uniform_share) ? rng.uniform() : 1.0 / (1.0 + std::exp(-normal(rng)));
  const double sigma = shift * u / (1.0 + (shift - 1.0) * u);
  return std::clamp(sigma, 1e-4, 1.0);
}

std::pair<at::Tensor, double> weighted_flow_loss(const at::Tensor& v, const at::Tensor& target, const at::Tensor& change,
                                                 const FlowLossWeights& fw) {
  const at::Tensor w = 1.0 + fw.change_weight * at::tanh(change / fw.change_scale);
  const at::Tensor se = (v - target).pow(2);
  return {(w * se).mean() / w.mean(), se.mean().item<double>()};
}

}  // namespace focalscope::train
