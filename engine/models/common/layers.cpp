#include "engine/models/common/layers.h"

#include "engine/core/weights.h"

namespace focalscope {

void Linear::load(WeightLoader& L, const std::string& name, int64_t in, int64_t out, bool bias) {
  w = L.take(name + ".weight", {out, in});
  if (bias) b = L.take(name + ".bias", {out});
}

void Linear::init(int64_t in, int64_t out, bool bias, double std, const at::TensorOptions& o) {
  w = at::randn({out, in}, o) * std;
  if (bias) b = at::zeros({out}, o);
}

void Linear::collect(const std::string& name, NamedTensors& out) const {
  out.emplace_back(name + ".weight", w);
  if (b.defined()) out.emplace_back(name + ".bias", b);
}

namespace {
// True when `part` is the row slice [row0, row0 + part.size(0)) of the contiguous `whole`.
bool is_row_slice(const at::Tensor& part, const at::Tensor& whole, int64_t row0) {
  if (!part.defined() || !whole.defined()) return part.defined() == whole.defined();
  if (part.dtype() != whole.dtype() || part.device() != whole.device() || !part.is_contiguous()) return false;
  if (part.dim() != whole.dim() || part.sizes().slice(1) != whole.sizes().slice(1)) return false;
  const int64_t row = whole.numel() / std::max<int64_t>(1, whole.size(0));
  return part.data_ptr() == static_cast<const char*>(whole.data_ptr()) + row0 * row * whole.element_size();
}
}  // namespace

bool PackedLinear::intact(const std::vector<const Linear*>& parts) const {
  if (parts.empty() || !packed.w.defined()) return false;
  int64_t row0 = 0;
  for (const Linear* l : parts) {
    if (!is_row_slice(l->w, packed.w, row0) || !is_row_slice(l->b, packed.b, row0)) return false;
    row0 += l->w.size(0);
  }
  return row0 == packed.w.size(0);
}

bool PackedLinear::pack(const std::vector<Linear*>& ps) {
  if (ps.empty()) return false;
  if (intact(std::vector<const Linear*>(ps.begin(), ps.end()))) return true;
  std::vector<at::Tensor> ws, bs;
  for (Linear* l : ps) {
    const Linear& f = *ps.front();
    if (!l->w.defined() || l->w.dim() != 2 || l->w.size(1) != f.w.size(1) || l->w.dtype() != f.w.dtype() ||
        l->w.device() != f.w.device() || l->b.defined() != f.b.defined())
      return false;
    ws.push_back(l->w);
    if (l->b.defined()) bs.push_back(l->b);
  }
  {
    // at::cat copies; the parts' old tensors are released once nothing else holds them (memory-neutral). No
    // autograd history: the packed tensors are storage, the parts (views made below) are the parameters.
    at::NoGradGuard no_grad;
    packed.w = at::cat(ws, 0);
    packed.b = bs.empty() ? at::Tensor() : at::cat(bs, 0);
  }
  int64_t row0 = 0;
  for (Linear* l : ps) {
    const int64_t n = l->w.size(0);
    l->w = packed.w.narrow(0, row0, n);
    if (packed.b.defined()) l->b = packed.b.narrow(0, row0, n);
    row0 += n;
  }
  return true;
}

void Norm::load(WeightLoader& L, const std::string& name, int64_t n, bool bias) {
  w = L.take(name + ".weight", {n});
  if (bias) b = L.take(name + ".bias", {n});
}

void Norm::init(int64_t n, bool bias, const at::TensorOptions& o) {
  w = at::ones({n}, o);
  if (bias) b = at::zeros({n}, o);
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
