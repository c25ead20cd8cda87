// Decoding of the tensors of ComfyUI-style safetensors files, whatever the model: lossless storage (F32 / BF16 / F16)
// handed over as stored (zero-copy), fp8 e4m3fn / e5m2 decoded to float32, scaled fp8 in both of ComfyUI's spellings
// (legacy "scaled_fp8" marker + X.scale_weight / X.scale_input; current X.weight_scale / X.input_scale with the layer
// format in "_quantization_metadata" or X.comfy_quant) -> weight = float32(fp8) * scale, one float32 rounding. The
// side tensors (scales, markers, comfy_quant) are consumed; activation scales are validated and unused.
//
// Used by every component loader (DiT, umT5, CLIP vision, VAE, LoRA files): ComfyUI ships the DiT and umT5 in fp8
// ("umt5_xxl_fp8_e4m3fn_scaled"), with the same conventions (comfy/utils.py convert_old_quants, comfy/ops.py).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/formats/quantised_weight.h"

namespace focalscope {
class SafetensorsFile;
}

namespace focalscope::formats {

struct DecodedTensor {
  std::string name;         // as stored, with `prefix` removed
  std::string stored_name;  // as stored (for messages)
  std::string file;
  at::Tensor t;             // as stored (lossless), or float32 decoded from fp8 and cast to `dtype`
  bool dequantised = false;
  std::optional<QuantisedWeight> kept;  // set instead of `t` for an fp8 tensor the caller asked to keep as codes
  std::string where() const { return file + ": tensor '" + stored_name + "'"; }
};

// Every tensor of `files` whose name starts with `prefix` (others: another component of a full checkpoint, skipped).
// Throws Error with one line naming the file and tensor on malformed content (a scale of the wrong dtype or shape,
// a scale without an fp8 weight, an unknown format, NaN codes, a U8 tensor without a format, a name stored twice).
// `keep(name)`: fp8 tensors for which it returns true come back as codes (DecodedTensor::kept, validated the same way)
// instead of decoded.
std::vector<DecodedTensor> decode_safetensors(const std::vector<std::shared_ptr<SafetensorsFile>>& files,
                                              const std::string& prefix, c10::ScalarType dtype,
                                              const std::function<bool(const std::string&)>& keep = {});

}  // namespace focalscope::formats
