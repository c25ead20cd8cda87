// The flow-matching objective shared by the DiT stage and the weak-layer fine-tune:
//   x_sigma = (1 - sigma) x0 + sigma eps,  target v = eps - x0,  model timestep t = 1000 sigma,
// sigma drawn from a mix of U(0,1) and logit-normal(0,1), then shifted like the inference schedule; the loss is
// weighted toward latent cells that change relative to the reference frame (see dit_stage.h).
#pragma once
#include <ATen/ATen.h>

#include "engine/shapes/shapes_rng.h"

namespace focalscope::train {

struct FlowLossWeights {
  double change_weight = 4.0;  // w = 1 + change_weight * tanh(change / change_scale) per latent cell
  double change_scale = 0.1;
};

// One sigma in (1e-4, 1]: U(0,1) with probability uniform_share, else logit-normal(0,1); then shifted.
double draw_sigma(shapes::SplitMix64& rng, double shift, double uniform_share);

// Weighted MSE of the velocity: mean(w * (v - target)^2) / mean(w); change: [B, 1, F', h, w] (broadcast over
// channels). Returns (loss, plain MSE) — the MSE detached, for logging.
std::pair<at::Tensor, double> weighted_flow_loss(const at::Tensor& v, const at::Tensor& target, const at::Tensor& change,
                                                 const FlowLossWeights& w);

}  // namespace focalscope::train
