#include "engine/formats/gguf_dequant.h"

#include <cmath>
#include <cstring>

#include "engine/formats/gguf.h"

// Rounding: each formula below rounds once per operation in ggml's order ((d * sc) * q - (dmin * m)). The project
// builds for baseline x86-64 (no -march), so the compiler cannot fuse them into FMAs; a build that enables FMA would
// need -ffp-contract=off here to stay bit-exact with ggml (tests/test_weight_formats checks the decoded values).

namespace focalscope::formats {
namespace {

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
float f16(const uint8_t* p) { return fp16_bits_to_float(u16(p)); }

// Q4_0: 32 weights = d * (q - 8), q the 4-bit codes; low nibbles are weights 0..15, high nibbles 16..31.
void q4_0(const uint8_t* b, float* y) {
  const float d = f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}
// Q4_1: d * q + m.
void q4_1(const uint8_t* b, float* y) {
  const float d = f16(b), m = f16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}
// Q5_0: 5-bit codes, the fifth bit of weight j in bit j of the 32-bit qh; d * (q - 16).
void q5_0(const uint8_t* b, float* y) {
  const float d = f16(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
    y[j] = static_cast<float>(((qs[j] & 0x0F) | h0) - 16) * d;
    y[j + 16] = static_cast<float>(((qs[j] >> 4) | h1) - 16) * d;
  }
}
// Q5_1: d * q + m with 5-bit q.
void q5_1(const uint8_t* b, float* y) {
  const float d = f16(b), m = f16(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
    y[j] = static_cast<float>((qs[j] & 0x0F) | h0) * d + m;
    y[j + 16] = static_cast<float>((qs[j] >> 4) | h1) * d + m;
  }
}
// Q8_0: d * q with signed 8-bit q.
void q8_0(const uint8_t* b, float* y) {
  const float d = f16(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// Q2_K: 16 groups of 16; group scale/min are 4-bit codes in scales[] (low / high nibble) times d / dmin;
// weight = (d * sc) * q - (dmin * m), q the 2-bit code.
void q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* q = b + 16;
  const float d = f16(b + 80), mn = f16(b + 82);
  int is = 0;
  for (int n = 0; n < 256; n += 128) {
    int shift = 0;
    for (int j = 0; j < 4; ++j) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = scales[is++];
        const float dl = d * static_cast<float>(sc & 0xF), ml = mn * static_cast<float>(sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
      }
      shift += 2;
    }
    q += 32;
  }
}
// Q3_K: 16 groups of 16; 6-bit signed group scales (minus 32) packed in 12 bytes; 3-bit codes = 2 low bits in qs,
// high bit in hmask (a set bit means no -4 offset): weight = (d * (sc - 32)) * (q - 4 * !h).
void q3_k(const uint8_t* b, float* y) {
  const uint8_t* hm = b;
  const uint8_t* q = b + 32;
  const uint8_t* s = b + 96;
  const float d_all = f16(b + 108);
  // Unpack the 16 six-bit scales: low 4 bits from bytes 0..7 (low nibble: groups 0..7, high nibble: 8..15),
  // high 2 bits from bytes 8..11 (byte 8 + j%4, bits 2*(j/4)).
  int8_t sc[16];
  for (int j = 0; j < 16; ++j) {
    const int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    sc[j] = static_cast<int8_t>((lo | (hi << 4)) - 32);
  }
  int is = 0;
  uint8_t m = 1;
  for (int n = 0; n < 256; n += 128) {
    int shift = 0;
    for (int j = 0; j < 4; ++j) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d_all * static_cast<float>(sc[is++]);
        for (int l = 0; l < 16; ++l) {
          const int k = l + 16 * half;
          const int v = ((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4);
          *y++ = dl * static_cast<float>(v);
        }
      }
      shift += 2;
      m = static_cast<uint8_t>(m << 1);
    }
    q += 32;
  }
}
// The 6-bit scale and min of group j of a Q4_K / Q5_K super-block (ggml's get_scale_min_k4).
void scale_min_k4(int j, const uint8_t* q, uint8_t& d, uint8_t& m) {
  if (j < 4) {
    d = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}
// Q4_K: 8 groups of 32; weight = (d * sc) * q - (dmin * m), 4-bit q (low nibbles first 32, high nibbles next 32).
void q4_k(const uint8_t* b, float* y) {
  const float d = f16(b), mn = f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  int is = 0;
  for (int j = 0; j < 256; j += 64) {
    uint8_t sc, m;
    scale_min_k4(is, scales, sc, m);
    const float d1 = d * sc, m1 = mn * m;
    scale_min_k4(is + 1, scales, sc, m);
    const float d2 = d * sc, m2 = mn * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}
// Q5_K: Q4_K plus a fifth bit per weight from qh (bit pair per 64 weights).
void q5_k(const uint8_t* b, float* y) {
  const float d = f16(b), mn = f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 256; j += 64) {
    uint8_t sc, m;
    scale_min_k4(is, scales, sc, m);
    const float d1 = d * sc, m1 = mn * m;
    scale_min_k4(is + 1, scales, sc, m);
    const float d2 = d * sc, m2 = mn * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    ql += 32;
    is += 2;
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}
// Q6_K: 16 groups of 16 with signed 8-bit scales; 6-bit codes (4 low bits in ql, 2 high bits in qh) minus 32;
// weight = (d * sc) * q.
void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16(b + 208);
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace

float fp16_bits_to_float(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 0x1F, m = h & 0x3FF;
  float v;
  if (e == 0) v = std::ldexp(static_cast<float>(m), -24);  // subnormal: m * 2^-24
  else if (e == 31) v = m ? std::nanf("") : INFINITY;
  else v = std::ldexp(static_cast<float>(m | 0x400), e - 25);  // (1024 + m) * 2^(e-15-10)
  return s ? -v : v;
}

float bf16_bits_to_float(uint16_t b) {
  const uint32_t w = static_cast<uint32_t>(b) << 16;  // bfloat16 is the top half of a float32
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}

bool dequantise_ggml(uint32_t type, const uint8_t* in, int64_t n, float* out) {
  int64_t be = 0, bb = 0;
  if (!ggml_block_layout(type, be, bb) || n % be != 0) return false;
  const int64_t blocks = n / be;
  void (*fn)(const uint8_t*, float*) = nullptr;
  switch (type) {
    case GGML_F32: std::memcpy(out, in, static_cast<std::size_t>(n) * 4); return true;
    case GGML_F16: for (int64_t i = 0; i < n; ++i) out[i] = fp16_bits_to_float(u16(in + 2 * i)); return true;
    case GGML_BF16: for (int64_t i = 0; i < n; ++i) out[i] = bf16_bits_to_float(u16(in + 2 * i)); return true;
    case GGML_Q4_0: fn = q4_0; break;
    case GGML_Q4_1: fn = q4_1; break;
    case GGML_Q5_0: fn = q5_0; break;
    case GGML_Q5_1: fn = q5_1; break;
    case GGML_Q8_0: fn = q8_0; break;
    case GGML_Q2_K: fn = q2_k; break;
    case GGML_Q3_K: fn = q3_k; break;
    case GGML_Q4_K: fn = q4_k; break;
    case GGML_Q5_K: fn = q5_k; break;
    case GGML_Q6_K: fn = q6_k; break;
    default: return false;
  }
  for (int64_t i = 0; i < blocks; ++i) fn(in + i * bb, out + i * be);
  return true;
}

}  // namespace focalscope::formats
