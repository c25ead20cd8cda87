#include "engine/formats/safetensors_decode.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/core/weights.h"
#include "engine/formats/fp8.h"

namespace focalscope::formats {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

struct Stored {
  const TensorEntry* e = nullptr;
  const SafetensorsFile* f = nullptr;
  std::string stored_name;  // as in the file (for messages)
  std::string where() const { return f->path() + ": tensor '" + stored_name + "'"; }
};

// Per-layer quantisation facts (a "layer" is a weight's name without ".weight").
struct Layer {
  std::optional<Stored> weight_scale, scale_weight, input_scale, scale_input;
  std::optional<std::string> format;  // "float8_e4m3fn" / "float8_e5m2" / other (rejected)
  std::string format_source;          // where the format came from, for messages
};

std::optional<Fp8Kind> fp8_of_dtype(DType d) {
  if (d == DType::F8_E4M3) return Fp8Kind::E4M3FN;
  if (d == DType::F8_E5M2) return Fp8Kind::E5M2;
  return std::nullopt;
}

std::optional<Fp8Kind> fp8_of_format(const std::string& f) {
  if (f == "float8_e4m3fn") return Fp8Kind::E4M3FN;
  if (f == "float8_e5m2") return Fp8Kind::E5M2;
  return std::nullopt;
}

// A per-tensor scale: ComfyUI stores them as float32 scalars (0-dim, sometimes [1]). Anything else is refused
// rather than guessed at (a per-channel or block scale would need another formula).
float read_scale(const Stored& s, const char* what) {
  if (s.e->dtype != DType::F32)
    fail(s.where(), std::string(what) + " has dtype " + dtype_name(s.e->dtype) + ", expected F32 (a float32 per-tensor scale)");
  if (s.e->numel() != 1 || s.e->shape.size() > 1)
    fail(s.where(), std::string(what) + " has shape " + shape_str(s.e->shape) + ", expected a scalar ([] or [1]): only per-tensor scales are defined for ComfyUI fp8");
  const float v = s.f->tensor(*s.e).contiguous().data_ptr<float>()[0];
  if (!std::isfinite(v)) fail(s.where(), std::string(what) + " is not finite (" + std::to_string(v) + ")");
  return v;
}

// {"format": "..."} or the bare format string (both spellings appear in the wild).
std::string layer_format(const nlohmann::json& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("format") && v["format"].is_string()) return v["format"].get<std::string>();
  fail(where, "layer quantisation config is neither {\"format\": \"...\"} nor a format string");
}

// The stored fp8 codes (uint8, contiguous), refused when one of them is NaN/Inf.
at::Tensor checked_fp8_codes(const Stored& s, Fp8Kind kind) {
  at::Tensor raw = s.f->tensor(*s.e).contiguous();
  const auto* codes = raw.data_ptr<uint8_t>();
  const std::size_t n = static_cast<std::size_t>(raw.numel());
  if (std::size_t bad = first_non_finite_fp8(codes, n, kind); bad < n)
    fail(s.where(), std::string(fp8_kind_name(kind)) + " code 0x" + [&] {
      char b[8];
      std::snprintf(b, sizeof b, "%02x", codes[bad]);
      return std::string(b);
    }() + " at element " + std::to_string(bad) + " is NaN/Inf");
  return raw;
}

at::Tensor dequantise_fp8_tensor(const Stored& s, Fp8Kind kind, float scale) {
  const at::Tensor raw = checked_fp8_codes(s, kind);
  at::Tensor out = at::empty(s.e->shape, at::TensorOptions().dtype(at::kFloat));
  dequantise_fp8(raw.data_ptr<uint8_t>(), static_cast<std::size_t>(raw.numel()), kind, scale, out.data_ptr<float>());
  return out;
}

QuantisedWeight kept_fp8(const Stored& s, Fp8Kind kind, float scale, bool scaled) {
  QuantisedWeight q;
  q.format = QuantisedWeight::Format::Fp8;
  q.codes = checked_fp8_codes(s, kind).reshape({-1});
  q.fp8_values = fp8_value_table(kind);
  q.scale = scale;
  q.shape = s.e->shape;
  q.label = std::string(fp8_kind_name(kind)) + (scaled ? " scaled" : "");
  return q;
}

}  // namespace

std::vector<DecodedTensor> decode_safetensors(const std::vector<std::shared_ptr<SafetensorsFile>>& files,
                                              const std::string& prefix, c10::ScalarType dtype,
                                              const std::function<bool(const std::string&)>& keep) {
  std::map<std::string, Stored> items;  // name (prefix stripped) -> stored tensor
  std::map<std::string, Layer> layers;  // official layer name -> quantisation facts
  std::optional<Fp8Kind> legacy_kind;   // from the "scaled_fp8" marker
  std::string marker_where;
  const nlohmann::json* meta_layers = nullptr;
  nlohmann::json meta;
  std::string meta_where;

  for (const auto& f : files) {
    if (auto it = f->metadata().find("_quantization_metadata"); it != f->metadata().end()) {
      meta_where = f->path() + ": __metadata__ '_quantization_metadata'";
      try {
        meta = nlohmann::json::parse(it->second);
      } catch (const std::exception& e) {
        fail(meta_where, std::string("is not valid JSON (") + e.what() + ")");
      }
      if (!meta.is_object() || !meta.contains("layers") || !meta["layers"].is_object())
        fail(meta_where, "has no \"layers\" object");
      meta_layers = &meta["layers"];
    }
    for (const auto& e : f->entries()) {
      if (!starts_with(e.name, prefix)) continue;  // another component of a full checkpoint
      Stored s{&e, f.get(), e.name};
      std::string n = e.name.substr(prefix.size());
      if (n == "scaled_fp8") {
        // ComfyUI's convert_old_quants: the marker's dtype names the fp8 format (float32 meaning e4m3fn).
        legacy_kind = e.dtype == DType::F8_E5M2 ? Fp8Kind::E5M2 : Fp8Kind::E4M3FN;
        marker_where = s.where();
        continue;
      }
      struct Side { const char* suffix; std::optional<Stored> Layer::*slot; };
      static const Side sides[] = {{".weight_scale", &Layer::weight_scale}, {".scale_weight", &Layer::scale_weight},
                                   {".input_scale", &Layer::input_scale},   {".scale_input", &Layer::scale_input}};
      bool side = false;
      for (const auto& sd : sides)
        if (ends_with(n, sd.suffix)) {
          layers[n.substr(0, n.size() - std::strlen(sd.suffix))].*(sd.slot) = s;
          side = true;
        }
      if (side) continue;
      if (ends_with(n, ".comfy_quant")) {
        // Per-layer config written by ComfyUI's state_dict(): the UTF-8 bytes of a JSON object, as a U8 tensor.
        if (e.dtype != DType::U8 || e.shape.size() != 1) fail(s.where(), "comfy_quant must be a 1-D U8 tensor of JSON bytes");
        at::Tensor b = f->tensor(e).contiguous();
        const std::string text(reinterpret_cast<const char*>(b.data_ptr<uint8_t>()), static_cast<std::size_t>(b.numel()));
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(text);
        } catch (const std::exception& ex) {
          fail(s.where(), std::string("comfy_quant is not valid JSON (") + ex.what() + ")");
        }
        Layer& L = layers[n.substr(0, n.size() - 12)];
        L.format = layer_format(j, s.where());
        L.format_source = s.where();
        continue;
      }
      if (items.count(n)) fail(s.where(), "is stored twice ('" + n + "' is also in " + items[n].where() + ")");
      items[n] = s;
    }
  }
  if (meta_layers) {
    for (auto it = meta_layers->begin(); it != meta_layers->end(); ++it) {
      std::string name = it.key();
      if (!prefix.empty() && starts_with(name, prefix)) name = name.substr(prefix.size());
      Layer& L = layers[name];
      const std::string f = layer_format(it.value(), meta_where + " layer '" + it.key() + "'");
      if (L.format && *L.format != f) fail(meta_where, "layer '" + it.key() + "' is " + f + " here but " + *L.format + " in " + L.format_source);
      L.format = f;
      L.format_source = meta_where;
    }
  }

  for (auto& [name, L] : layers) {
    const auto wit = items.find(name + ".weight");
    const Stored* any = L.weight_scale ? &*L.weight_scale : L.scale_weight ? &*L.scale_weight : L.input_scale ? &*L.input_scale
                        : L.scale_input ? &*L.scale_input : nullptr;
    if (wit == items.end()) {
      if (any) fail(any->where(), "is a scale for layer '" + name + "', which has no weight in this file");
      fail(L.format_source, "quantisation config for layer '" + name + "', which has no weight in this file");
    }
    const Stored& ws = wit->second;
    if (L.weight_scale && L.scale_weight)
      fail(L.scale_weight->where(), "layer has both .scale_weight (legacy) and .weight_scale (current): which one applies is undefined");
    if (L.input_scale) (void)read_scale(*L.input_scale, "input_scale");  // validated, unused (activations stay unquantised)
    if (L.scale_input) (void)read_scale(*L.scale_input, "scale_input");
    if (L.scale_weight && !legacy_kind && !L.format)
      L.format = "float8_e4m3fn", L.format_source = L.scale_weight->where() + " (no format stated: ComfyUI assumes float8_e4m3fn)";
    if (L.scale_weight && legacy_kind && !L.format) L.format = fp8_kind_name(*legacy_kind), L.format_source = marker_where;
    if (L.format && !fp8_of_format(*L.format))
      fail(ws.where(), "quantisation format '" + *L.format + "' (from " + L.format_source + ") is not supported; supported: float8_e4m3fn, float8_e5m2");
    const Stored* scale = L.weight_scale ? &*L.weight_scale : L.scale_weight ? &*L.scale_weight : nullptr;
    if (scale && !fp8_of_dtype(ws.e->dtype) && ws.e->dtype != DType::U8)
      fail(scale->where(), "is a weight scale, but the weight '" + ws.stored_name + "' is stored as " + dtype_name(ws.e->dtype) + ", not fp8");
    if (L.format && !fp8_of_dtype(ws.e->dtype) && ws.e->dtype != DType::U8)
      fail(ws.where(), "is listed as " + *L.format + " (" + L.format_source + ") but stored as " + dtype_name(ws.e->dtype));
    if (L.format && !scale) fail(ws.where(), "is listed as scaled " + *L.format + " (" + L.format_source + ") but has no weight_scale");
  }

  std::vector<DecodedTensor> out;
  for (const auto& [name, s] : items) {
    const std::string layer = ends_with(name, ".weight") ? name.substr(0, name.size() - 7) : std::string();
    const Layer* L = nullptr;
    if (auto it = layers.find(layer); !layer.empty() && it != layers.end()) L = &it->second;
    std::optional<Fp8Kind> kind = fp8_of_dtype(s.e->dtype);
    if (L && L->format) {
      const Fp8Kind declared = *fp8_of_format(*L->format);
      if (kind && *kind != declared)
        fail(s.where(), std::string("is stored as ") + dtype_name(s.e->dtype) + " but listed as " + *L->format + " (" + L->format_source + ")");
      kind = declared;  // U8 storage: ComfyUI views the bytes as the declared fp8 type
    }
    if (!kind) {
      if (s.e->dtype == DType::U8) fail(s.where(), "is a U8 tensor without a quantisation format (no .comfy_quant or _quantization_metadata entry)");
      out.push_back({name, s.stored_name, s.f->path(), s.f->tensor(*s.e), false, std::nullopt});  // lossless: as stored; WeightLoader::take casts
      continue;
    }
    float scale = 1.0f;
    if (L && L->weight_scale) scale = read_scale(*L->weight_scale, "weight_scale");
    else if (L && L->scale_weight) scale = read_scale(*L->scale_weight, "scale_weight");
    if (keep && keep(name)) {
      const bool scaled = L && (L->weight_scale || L->scale_weight);
      out.push_back({name, s.stored_name, s.f->path(), at::Tensor(), true, kept_fp8(s, *kind, scale, scaled)});
      continue;
    }
    at::Tensor t = dequantise_fp8_tensor(s, *kind, scale);
    if (dtype != at::kFloat) t = t.to(dtype);
    out.push_back({name, s.stored_name, s.f->path(), t, true, std::nullopt});
  }
  return out;
}

}  // namespace focalscope::formats
