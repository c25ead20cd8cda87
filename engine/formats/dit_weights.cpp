#include "engine/formats/dit_weights.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/formats/checkpoint_files.h"
#include "engine/formats/fp8.h"
#include "engine/formats/gguf.h"
#include "engine/formats/gguf_dequant.h"
#include "engine/formats/safetensors_decode.h"
#include "engine/formats/wan_names.h"

namespace focalscope::formats {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

DitWeights load_safetensors_dit(const CheckpointFiles& cf, DitWeights w, c10::ScalarType dtype) {
  const bool diffusers = w.probe.naming == "diffusers";
  std::map<std::string, std::string> taken;  // official name -> where it came from
  for (auto& d : decode_safetensors(cf.safetensors, w.probe.prefix, dtype)) {
    std::string n = d.name;
    if (diffusers) {
      auto m = diffusers_to_wan_name(n);
      if (!m) fail(d.where(), "diffusers name with no Wan2.1 DiT counterpart (not a WanTransformer3DModel tensor of this variant)");
      n = *m;
    }
    if (auto it = taken.find(n); it != taken.end()) fail(d.where(), "maps to '" + n + "', which " + it->second + " already holds");
    taken[n] = d.where();
    w.set.add(n, d.t, d.file);
    if (d.dequantised) ++w.dequantised;
  }
  return w;
}

DitWeights load_gguf_dit(const CheckpointFiles& cf, DitWeights w, c10::ScalarType dtype) {
  const auto& g = *cf.gguf;
  for (const auto& t : g.tensors()) {
    if (!starts_with(t.name, w.probe.prefix)) continue;
    std::string n = t.name.substr(w.probe.prefix.size());
    const std::string where = g.path() + ": tensor '" + t.name + "'";
    if (w.probe.naming == "diffusers") {
      auto m = diffusers_to_wan_name(n);
      if (!m) fail(where, "diffusers name with no Wan2.1 DiT counterpart");
      n = *m;
    }
    at::Tensor out = at::empty(t.shape, at::TensorOptions().dtype(at::kFloat));
    if (!dequantise_ggml(t.type, t.data, t.numel(), out.data_ptr<float>()))
      fail(where, "cannot dequantise ggml type " + ggml_type_name(t.type));
    if (!at::isfinite(out).all().item<bool>()) fail(where, ggml_type_name(t.type) + " data decodes to NaN/Inf");
    if (dtype != at::kFloat) out = out.to(dtype);
    w.set.add(n, out, g.path());
    if (t.type != GGML_F32) ++w.dequantised;
  }
  return w;
}

}  // namespace

DitWeights load_wan_dit_weights(const std::string& path, c10::ScalarType dtype) {
  CheckpointFiles cf = find_checkpoint_files(path);
  DitWeights w;
  w.probe = probe_checkpoint(cf, path);
  w.set.origin = path;
  if (cf.container == "gguf") return load_gguf_dit(cf, std::move(w), dtype);
  return load_safetensors_dit(cf, std::move(w), dtype);
}

}  // namespace focalscope::formats
