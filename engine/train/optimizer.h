// AdamW (decoupled weight decay, Loshchilov & Hutter) and an exponential moving average of the weights,
// written in plain ATen over a model's named_parameters() so that their state can be checkpointed by name.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

#include "engine/core/weights.h"
#include "engine/core/fixture.h"  // NamedTensors

namespace focalscope::train {

class AdamW {
 public:
  struct Options {
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double weight_decay = 0.01;  // applied to matrices only (dim >= 2): not to norms, biases or modulation vectors
    double clip_norm = 1.0;      // global gradient-norm clip; <= 0 disables
  };
  // Sets requires_grad on every parameter.
  AdamW(NamedTensors params, Options opt);

  // Clips, updates every parameter that has a gradient with learning rate lr, zeroes the gradients.
  // Returns the gradient norm before clipping.
  double step(double lr);
  void zero_grad();

  // Optimizer state as named tensors "adam.m.<param>", "adam.v.<param>" (for checkpoints).
  void append_state(NamedTensors& out) const;
  // Restores it; throws Error naming `set.origin` when a state tensor is missing or misshaped.
  void load_state(const TensorSet& set, int64_t t);
  int64_t t() const { return t_; }
  const NamedTensors& params() const { return params_; }

 private:
  NamedTensors params_, m_, v_;
  Options opt_;
  int64_t t_ = 0;
};

// Shadow weights w_ema = d * w_ema + (1 - d) * w, with the usual warm-up d = min(decay, (1 + n) / (10 + n)).
class Ema {
 public:
  Ema() = default;
  Ema(const NamedTensors& params, double decay);
  void update(const NamedTensors& params, int64_t n);
  void append_state(NamedTensors& out) const;            // "ema.<param>"
  void load_state(const TensorSet& set);
  const NamedTensors& shadow() const { return shadow_; }  // same names and order as the parameters
  bool empty() const { return shadow_.empty(); }

 private:
  NamedTensors shadow_;
  double decay_ = 0.999;
};

// Copies set[prefix + name] into every tensor of dst (in place, no autograd); throws Error naming the missing one.
void copy_named(const NamedTensors& dst, const TensorSet& set, const std::string& prefix);

}  // namespace focalscope::train
