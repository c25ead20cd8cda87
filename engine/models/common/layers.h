// Small building blocks shared by the DiT: parameter structs and the ops Wan uses.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace focalscope {

class WeightLoader;
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct Linear {
  at::Tensor w, b;  // [out, in], [out] (b may be undefined)
  // Inputs are cast to the weight dtype: a bf16 model runs its GEMMs in bf16, as under upstream's autocast.
  at::Tensor operator()(const at::Tensor& x) const {
    return at::linear(x.scalar_type() == w.scalar_type() ? x : x.to(w.scalar_type()), w, b);
  }
  void load(WeightLoader& L, const std::string& name, int64_t in, int64_t out, bool bias = true);
  void init(int64_t in, int64_t out, bool bias, double std, const at::TensorOptions& o = {});
  void collect(const std::string& name, NamedTensors& out) const;
};

// Several Linear layers reading the same input, packed into one [sum(out), in] weight (+ bias) so that a single
// GEMM computes all their outputs (on CPU one larger GEMM threads better than three small ones). The parts keep
// their own w/b, rebound to row slices of the packed tensors: no memory is duplicated and names, loading and
// named_parameters() are unchanged. Anyone may still assign a part a new tensor (a checkpoint load, .to()):
// `intact()` then reports false and callers fall back to the separate layers. (The parts are passed to each
// call rather than stored, so copying a model that holds a PackedLinear stays safe.)
struct PackedLinear {
  Linear packed;
  // Packs `parts` (same input width, dtype and device, all with or all without bias); a no-op when they are
  // already packed, so optimizer-held references to the parts stay valid. Returns false (and changes nothing)
  // when they cannot be packed.
  bool pack(const std::vector<Linear*>& parts);
  // True when the parts are still consecutive row slices of `packed`, in order.
  bool intact(const std::vector<const Linear*>& parts) const;
};

struct Norm {  // RMSNorm (w only) or affine LayerNorm (w, b)
  at::Tensor w, b;
  void load(WeightLoader& L, const std::string& name, int64_t n, bool bias);
  void init(int64_t n, bool bias, const at::TensorOptions& o = {});
  void collect(const std::string& name, NamedTensors& out) const;
};

// WanRMSNorm: statistics in float32 over the last dim, cast back, then scale (upstream order).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
// LayerNorm without affine parameters, computed in float32 (norm1/norm2/head norm).
at::Tensor layer_norm_noaffine(const at::Tensor& x, double eps);
at::Tensor layer_norm_affine(const at::Tensor& x, const Norm& n, double eps);

}  // namespace focalscope
