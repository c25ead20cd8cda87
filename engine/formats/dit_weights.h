// Wan DiT weights from any supported checkpoint layout, under Wan's official names (what WanModel::load claims).
//
//   official release shards / official-names single file: tensors as stored (F32 / BF16 / F16, zero-copy)
//   ComfyUI single file: "model.diffusion_model." (or any) prefix stripped; fp8 e4m3fn / e5m2 decoded on the CPU;
//     scaled fp8 in both spellings (legacy "scaled_fp8" marker + .scale_weight / .scale_input; current .weight_scale /
//     .input_scale with "_quantization_metadata" or .comfy_quant layer configs) -> weight = fp8 * scale in float32
//   diffusers WanTransformer3DModel (folder or file): names mapped back (wan_names.h)
//   GGUF (city96's ComfyUI-GGUF files): F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q2_K..Q6_K dequantised on load,
//     comfy.gguf.orig_shape honoured
// Dequantised tensors are float32 (one rounding per operation of the format's formula), then cast once to `dtype`
// when that is lower. Input/activation scales are validated but unused: the DiT runs its activations unquantised.
#pragma once
#include <c10/core/ScalarType.h>

#include <string>

#include "engine/core/weights.h"
#include "engine/formats/dit_probe.h"
#include "engine/formats/quantised_weight.h"

namespace focalscope::formats {

struct DitWeights {
  TensorSet set;    // official names; origin = the path given
  DitProbe probe;   // what was found, and why
  int64_t dequantised = 0;  // tensors decoded from fp8 / GGUF codes
  QuantisedWeights kept;    // with keep_quantised: block weights left as codes (not in `set`), decoded per layer
  int64_t kept_bytes() const;
  std::string kept_summary() const;  // "240 of 300 block weights kept quantised (Q4_K 180, Q8_0 60): 9.1 GB instead of ..."
};

// Throws Error with one line naming the file and tensor for any malformed content (a scale of the wrong dtype or
// shape, a scale without an fp8 weight, an unknown quantisation format, NaN codes, a GGUF size mismatch, a diffusers
// name with no Wan counterpart, ...).
// keep_quantised: the blocks' projection weights stored as Q8_0 / Q4_K (GGUF) or fp8 (ComfyUI, scaled or not) stay
// codes in DitWeights::kept (checked for NaN/Inf as on load), for WanModel to decode per layer while it runs; other
// ggml types and every other tensor are decoded on load as without it.
DitWeights load_wan_dit_weights(const std::string& path, c10::ScalarType dtype = c10::ScalarType::Float,
                                bool keep_quantised = false);

}  // namespace focalscope::formats
