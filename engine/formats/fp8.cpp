#include "engine/formats/fp8.h"

#include <array>
#include <cmath>
#include <limits>

namespace focalscope::formats {
namespace {

// Decodes one code from its fields; `bias`, `mbits` describe the format, `e4m3fn` its special-value rule.
float decode(uint8_t code, int ebits, int mbits, int bias, bool e4m3fn) {
  const bool neg = code & 0x80;
  const int e = (code >> mbits) & ((1 << ebits) - 1);
  const int m = code & ((1 << mbits) - 1);
  const int emax = (1 << ebits) - 1;
  float v;
  if (e4m3fn && e == emax && m == (1 << mbits) - 1) {
    v = std::numeric_limits<float>::quiet_NaN();  // e4m3fn spends only S.1111.111 on NaN: no infinities
  } else if (!e4m3fn && e == emax) {
    v = m == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<float>(m), 1 - bias - mbits);  // subnormal: m * 2^(1-bias) / 2^mbits
  } else {
    v = std::ldexp(static_cast<float>((1 << mbits) + m), e - bias - mbits);  // (1 + m/2^mbits) * 2^(e-bias)
  }
  return neg ? -v : v;
}

// 256-entry tables, built once: decoding a 14B checkpoint is then one lookup per weight.
const std::array<float, 256>& table(Fp8Kind k) {
  static const auto make = [](Fp8Kind kind) {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c)
      t[c] = kind == Fp8Kind::E4M3FN ? decode(static_cast<uint8_t>(c), 4, 3, 7, true)
                                     : decode(static_cast<uint8_t>(c), 5, 2, 15, false);
    return t;
  };
  static const std::array<float, 256> e4m3 = make(Fp8Kind::E4M3FN), e5m2 = make(Fp8Kind::E5M2);
  return k == Fp8Kind::E4M3FN ? e4m3 : e5m2;
}

}  // namespace

const char* fp8_kind_name(Fp8Kind k) { return k == Fp8Kind::E4M3FN ? "float8_e4m3fn" : "float8_e5m2"; }

float fp8_to_float(uint8_t code, Fp8Kind kind) { return table(kind)[code]; }

void dequantise_fp8(const uint8_t* in, std::size_t n, Fp8Kind kind, float scale, float* out) {
  const auto& t = table(kind);
  if (scale == 1.0f) {
    for (std::size_t i = 0; i < n; ++i) out[i] = t[in[i]];
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = t[in[i]] * scale;
  }
}

std::size_t first_non_finite_fp8(const uint8_t* in, std::size_t n, Fp8Kind kind) {
  const auto& t = table(kind);
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(t[in[i]])) return i;
  return n;
}

double fp8_half_step(Fp8Kind kind) { return kind == Fp8Kind::E4M3FN ? 1.0 / 16 : 1.0 / 8; }

}  // namespace focalscope::formats
