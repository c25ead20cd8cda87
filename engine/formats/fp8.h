// fp8 decoders (torch-free). libtorch 1.13 has no float8 type, so ComfyUI's fp8 checkpoints (safetensors dtypes
// F8_E4M3 / F8_E5M2) arrive as raw bytes and are decoded here, bit by bit, to float32.
//
// Formats (OCP 8-bit floating point spec; torch.float8_e4m3fn / torch.float8_e5m2):
//   e4m3fn: s eeee mmm, bias 7,  no infinities, S.1111.111 is NaN, max 448,  subnormals m/8 * 2^-6
//   e5m2:   s eeeee mm, bias 15, IEEE-like: e=31 m=0 is Inf, e=31 m!=0 is NaN, max 57344, subnormals m/4 * 2^-14
// Every fp8 value is exactly representable in float32, so decoding is exact; the only rounding of a scaled weight
// is the one float32 multiplication by its scale (dequantise_fp8).
#pragma once
#include <cstddef>
#include <cstdint>

namespace focalscope::formats {

enum class Fp8Kind { E4M3FN, E5M2 };

const char* fp8_kind_name(Fp8Kind k);  // "float8_e4m3fn" / "float8_e5m2" (ComfyUI's format strings)
float fp8_to_float(uint8_t code, Fp8Kind kind);
// out[i] = decode(in[i]) * scale, in float32 (one rounding per element; none when scale is 1).
void dequantise_fp8(const uint8_t* in, std::size_t n, Fp8Kind kind, float scale, float* out);
// Index of the first NaN/Inf code in in[0..n), or n when every code is finite.
std::size_t first_non_finite_fp8(const uint8_t* in, std::size_t n, Fp8Kind kind);
// Half a step of the format relative to the value (2^-(mantissa bits + 1)): the worst relative rounding error of a
// normal number stored in it — e4m3: 1/16, e5m2: 1/8. The parity bounds in docs/real_weights.md derive from it.
double fp8_half_step(Fp8Kind kind);

}  // namespace focalscope::formats
