#include "engine/dit/layers.h"

#include "engine/core/weights.h"

namespace focalscope {

void Linear::load(WeightLoader& L, const std::string& name, int64_t in, int64_t out, bool bias) {
  w = L.take(name + ".weight", {out, in});
  if (bias) b = L.take(name + ".bias", {out});
}

void Linear::init(int64_t in, int64_t out, bool bias, double std) {
  w = at::randn({out, in}) * std;
  if (bias) b = at::zeros({out});
}

void Linear::collect(const std::string& name, NamedTensors& out) const {
  out.emplace_back(name + ".weight", w);
  if (b.defined()) out.emplace_back(name + ".bias", b);
}

void Norm::load(WeightLoader& L, const std::string& name, int64_t n, bool bias) {
  w = L.take(name + ".weight", {n});
  if (bias) b = L.take(name + ".bias", {n});
}

void Norm::init(int64_t n, bool bias) {
  w = at::ones({n});
  if (bias) b = at::zeros({n});
}

void Norm::collect(const std::string& name, NamedTensors& out) const {
  out.emplace_back(name + ".weight", w);
  if (b.defined()) out.emplace_back(name + ".bias", b);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return y.to(x.scalar_type()) * w;
}

at::Tensor layer_norm_noaffine(const at::Tensor& x, double eps) {
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, {}, {}, eps);
}

at::Tensor layer_norm_affine(const at::Tensor& x, const Norm& n, double eps) {
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, n.w, n.b, eps);
}

}  // namespace focalscope
