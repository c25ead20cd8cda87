#include "engine/train/optimizer.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"

namespace focalscope::train {

AdamW::AdamW(NamedTensors params, Options opt) : params_(std::move(params)), opt_(opt) {
  at::NoGradGuard ng;
  for (auto& [name, p] : params_) {
    if (!p.is_floating_point()) fail("optimizer", "parameter '" + name + "' is not floating point");
    p.requires_grad_(true);
    m_.emplace_back(name, at::zeros_like(p));
    v_.emplace_back(name, at::zeros_like(p));
  }
}

void AdamW::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

double AdamW::step(double lr) {
  at::NoGradGuard ng;
  std::vector<at::Tensor> norms;
  for (auto& [name, p] : params_)
    if (p.grad().defined()) norms.push_back(p.grad().pow(2).sum());
  const double gnorm = norms.empty() ? 0.0 : std::sqrt(at::stack(norms).sum().item<double>());
  double scale = 1.0;
  if (opt_.clip_norm > 0 && gnorm > opt_.clip_norm) scale = opt_.clip_norm / (gnorm + 1e-6);
  if (!std::isfinite(gnorm)) {  // a poisoned batch: skip the update rather than destroy the weights
    zero_grad();
    return gnorm;
  }
  ++t_;
  const double bc1 = 1.0 - std::pow(opt_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(opt_.beta2, static_cast<double>(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    if (!p.grad().defined()) continue;
    at::Tensor g = p.grad();
    if (scale != 1.0) g = g * scale;
    at::Tensor& m = m_[i].second;
    at::Tensor& v = v_[i].second;
    m.mul_(opt_.beta1).add_(g, 1.0 - opt_.beta1);
    v.mul_(opt_.beta2).addcmul_(g, g, 1.0 - opt_.beta2);
    if (opt_.weight_decay > 0 && p.dim() >= 2) p.mul_(1.0 - lr * opt_.weight_decay);
    at::Tensor denom = (v / bc2).sqrt_().add_(opt_.eps);
    p.addcdiv_(m, denom, -lr / bc1);
  }
  zero_grad();
  return gnorm;
}

void AdamW::append_state(NamedTensors& out) const {
  for (const auto& [name, t] : m_) out.emplace_back("adam.m." + name, t);
  for (const auto& [name, t] : v_) out.emplace_back("adam.v." + name, t);
}

void AdamW::load_state(const TensorSet& set, int64_t t) {
  copy_named(m_, set, "adam.m.");
  copy_named(v_, set, "adam.v.");
  t_ = t;
}

Ema::Ema(const NamedTensors& params, double decay) : decay_(decay) {
  for (const auto& [name, p] : params) shadow_.emplace_back(name, p.detach().clone());
}

void Ema::update(const NamedTensors& params, int64_t n) {
  at::NoGradGuard ng;
  const double d = std::min(decay_, (1.0 + static_cast<double>(n)) / (10.0 + static_cast<double>(n)));
  for (size_t i = 0; i < shadow_.size(); ++i) shadow_[i].second.mul_(d).add_(params[i].second.detach(), 1.0 - d);
}

void Ema::append_state(NamedTensors& out) const {
  for (const auto& [name, t] : shadow_) out.emplace_back("ema." + name, t);
}

void Ema::load_state(const TensorSet& set) { copy_named(shadow_, set, "ema."); }

void copy_named(const NamedTensors& dst, const TensorSet& set, const std::string& prefix) {
  at::NoGradGuard ng;
  for (const auto& [name, t] : dst) {
    const std::string key = prefix + name;
    if (!set.has(key)) fail(set.origin, "checkpoint has no tensor '" + key + "'");
    const at::Tensor& src = set.get(key);
    if (src.sizes() != t.sizes())
      fail(set.origin, "checkpoint tensor '" + key + "' has shape " + shape_str(src.sizes()) + ", expected " + shape_str(t.sizes()));
    at::Tensor(t).copy_(src);
  }
}

}  // namespace focalscope::train
