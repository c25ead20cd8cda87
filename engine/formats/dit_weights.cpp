#include "engine/formats/dit_weights.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
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

std::string official_name(const std::string& stored, bool diffusers) {
  if (!diffusers) return stored;
  auto m = diffusers_to_wan_name(stored);
  return m ? *m : std::string();
}

DitWeights load_safetensors_dit(const CheckpointFiles& cf, DitWeights w, c10::ScalarType dtype, bool keep_quantised) {
  const bool diffusers = w.probe.naming == "diffusers";
  std::map<std::string, std::string> taken;  // official name -> where it came from
  std::function<bool(const std::string&)> keep;
  if (keep_quantised) keep = [&](const std::string& n) { return keepable_dit_weight(official_name(n, diffusers)); };
  for (auto& d : decode_safetensors(cf.safetensors, w.probe.prefix, dtype, keep)) {
    std::string n = d.name;
    if (diffusers) {
      auto m = diffusers_to_wan_name(n);
      if (!m) fail(d.where(), "diffusers name with no Wan2.1 DiT counterpart (not a WanTransformer3DModel tensor of this variant)");
      n = *m;
    }
    if (auto it = taken.find(n); it != taken.end()) fail(d.where(), "maps to '" + n + "', which " + it->second + " already holds");
    taken[n] = d.where();
    if (d.kept) {
      d.kept->where = d.where();
      w.kept.emplace(n, std::move(*d.kept));
      continue;
    }
    w.set.add(n, d.t, d.file);
    if (d.dequantised) ++w.dequantised;
  }
  return w;
}

// Q8_0 / Q4_K codes of one tensor, copied out of the mapping (the file may be closed while the model lives).
QuantisedWeight kept_ggml(const GgufTensor& t, const std::string& where) {
  QuantisedWeight q;
  q.format = t.type == GGML_Q8_0 ? QuantisedWeight::Format::Q8_0 : QuantisedWeight::Format::Q4_K;
  q.codes = at::empty({static_cast<int64_t>(t.nbytes)}, at::TensorOptions().dtype(at::kByte));
  std::memcpy(q.codes.data_ptr<uint8_t>(), t.data, t.nbytes);
  q.shape = t.shape;
  q.label = ggml_type_name(t.type);
  q.where = where;
  return q;
}

DitWeights load_gguf_dit(const CheckpointFiles& cf, DitWeights w, c10::ScalarType dtype, bool keep_quantised) {
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
    if (keep_quantised && (t.type == GGML_Q8_0 || t.type == GGML_Q4_K) && keepable_dit_weight(n)) {
      QuantisedWeight q = kept_ggml(t, where);
      // The same check as on load, on a transient decode (the codes alone cannot show a NaN / Inf scale).
      if (!at::isfinite(q.dequantise(at::kFloat)).all().item<bool>()) fail(where, ggml_type_name(t.type) + " data decodes to NaN/Inf");
      w.kept.emplace(n, std::move(q));
      continue;
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

int64_t DitWeights::kept_bytes() const {
  int64_t n = 0;
  for (const auto& [name, q] : kept) n += q.bytes();
  return n;
}

std::string DitWeights::kept_summary() const {
  std::map<std::string, int> per_format;
  int64_t elems = 0;
  for (const auto& [name, q] : kept) {
    ++per_format[q.label];
    elems += q.numel();
  }
  std::string formats;
  for (const auto& [f, n] : per_format) formats += (formats.empty() ? "" : ", ") + f + " " + std::to_string(n);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%zu block weights kept quantised (%s): %.3g MB of codes instead of %.3g MB in bf16 / %.3g MB in float32",
                kept.size(), formats.c_str(), double(kept_bytes()) / 1e6, double(elems) * 2 / 1e6, double(elems) * 4 / 1e6);
  return buf;
}

DitWeights load_wan_dit_weights(const std::string& path, c10::ScalarType dtype, bool keep_quantised) {
  CheckpointFiles cf = find_checkpoint_files(path);
  DitWeights w;
  w.probe = probe_checkpoint(cf, path);
  w.set.origin = path;
  if (cf.container == "gguf") return load_gguf_dit(cf, std::move(w), dtype, keep_quantised);
  return load_safetensors_dit(cf, std::move(w), dtype, keep_quantised);
}

}  // namespace focalscope::formats
