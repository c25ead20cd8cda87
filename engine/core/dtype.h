// Element types of tensor files (safetensors names) and their mapping to ATen.
#pragma once
#include <c10/core/ScalarType.h>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace focalscope {

// F8_E4M3 / F8_E5M2 (safetensors' fp8 names, ComfyUI's fp8 checkpoints): libtorch 1.13 has no float8 type, so their
// bytes are handed out as uint8 tensors and decoded by engine/formats/fp8.h; keep them last so U8 maps back from kByte.
enum class DType : unsigned char { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2 };

const char* dtype_name(DType d);                            // "F32", "BF16", ...
std::size_t dtype_size(DType d);                            // bytes per element
std::optional<DType> parse_dtype(std::string_view name);    // nullopt for unknown names
c10::ScalarType to_scalar_type(DType d);
std::optional<DType> from_scalar_type(c10::ScalarType t);   // nullopt for types safetensors cannot hold

}  // namespace focalscope
