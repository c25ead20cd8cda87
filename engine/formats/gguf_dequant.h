// Dequantisation of ggml block formats to float32 (torch-free), following the reference dequantisers of ggml
// (ggml-quants.c dequantize_row_*; block structs in ggml-common.h): every value is computed in float32 from the
// block's fp16 scale(s) and its integer code, one rounding per operation, in the reference's order of operations.
#pragma once
#include <cstdint>

namespace focalscope::formats {

// Decodes `n` elements (a multiple of the type's block size) of ggml type `type` from `in` into `out`.
// Returns false for a type it does not know. F32 / F16 / BF16 are decoded exactly.
bool dequantise_ggml(uint32_t type, const uint8_t* in, int64_t n, float* out);

float fp16_bits_to_float(uint16_t h);   // IEEE binary16, exact
float bf16_bits_to_float(uint16_t b);   // bfloat16, exact

}  // namespace focalscope::formats
