#include "engine/formats/quantised_weight.h"

#include <ATen/ATen.h>

#include <cctype>
#include <regex>

#include "engine/core/error.h"

namespace focalscope::formats {
namespace {

// Two little-endian bytes at column `col` of every block -> float32 [blocks, 1] (IEEE binary16, exact).
at::Tensor fp16_column(const at::Tensor& blocks, int64_t col) {
  return blocks.narrow(1, col, 2).contiguous().view(at::kHalf).to(at::kFloat);
}

// Q8_0 (ggml-common.h block_q8_0: fp16 d, int8 qs[32]): w = q * d.
at::Tensor q8_0(const at::Tensor& codes) {
  const at::Tensor b = codes.view({-1, 34});
  const at::Tensor q = b.narrow(1, 2, 32).contiguous().view(at::kChar).to(at::kFloat);
  return (q * fp16_column(b, 0)).reshape({-1});
}

// Q4_K (block_q4_K: fp16 d, fp16 dmin, 12 bytes of 6-bit scales / mins, 128 bytes of 4-bit codes; 256 weights in
// 8 groups of 32): w = (d * sc) * q - (dmin * m), with ggml's get_scale_min_k4 packing — groups 0-3 take the low
// 6 bits of bytes 0-3 (scale) and 4-7 (min); groups 4-7 take the nibbles of bytes 8-11 plus the top 2 bits of bytes
// 0-3 (scale) and 4-7 (min). Each 32-byte run of codes holds group 2c in its low nibbles, 2c+1 in its high ones.
at::Tensor q4_k(const at::Tensor& codes) {
  const at::Tensor b = codes.view({-1, 144});
  const int64_t n = b.size(0);
  const at::Tensor d = fp16_column(b, 0), dmin = fp16_column(b, 2);
  const at::Tensor s = b.narrow(1, 4, 12).to(at::kInt);
  const at::Tensor s0 = s.narrow(1, 0, 4), s4 = s.narrow(1, 4, 4), s8 = s.narrow(1, 8, 4);
  const at::Tensor sc = at::cat({s0.bitwise_and(63), s8.bitwise_and(15).bitwise_or(s0.__rshift__(6).__lshift__(4))}, 1);
  const at::Tensor mn = at::cat({s4.bitwise_and(63), s8.__rshift__(4).bitwise_or(s4.__rshift__(6).__lshift__(4))}, 1);
  const at::Tensor dsc = (d * sc.to(at::kFloat)).unsqueeze(2);   // [n, 8, 1]
  const at::Tensor dm = (dmin * mn.to(at::kFloat)).unsqueeze(2);
  const at::Tensor qs = b.narrow(1, 16, 128).to(at::kInt).view({n, 4, 1, 32});
  const at::Tensor q = at::cat({qs.bitwise_and(15), qs.__rshift__(4)}, 2).view({n, 8, 32}).to(at::kFloat);
  return (dsc * q - dm).reshape({-1});
}

}  // namespace

int64_t QuantisedWeight::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

at::Tensor QuantisedWeight::dequantise(c10::ScalarType dtype) const {
  at::Tensor w;
  switch (format) {
    case Format::Q8_0: w = q8_0(codes); break;
    case Format::Q4_K: w = q4_k(codes); break;
    case Format::Fp8:
      w = fp8_values.index_select(0, codes.to(at::kLong));
      if (scale != 1.0f) w = w * scale;  // one float32 rounding, as dequantise_fp8
      break;
  }
  if (w.numel() != numel()) fail(where, label + " weight decodes to " + std::to_string(w.numel()) + " values, expected " + std::to_string(numel()));
  w = w.view(shape);
  return dtype == at::kFloat ? w : w.to(dtype);
}

QuantisedWeight QuantisedWeight::to(c10::Device device) const {
  QuantisedWeight q = *this;
  q.codes = codes.to(device);
  if (fp8_values.defined()) q.fp8_values = fp8_values.to(device);
  return q;
}

namespace {
// The two little-endian bytes of `value` as binary16, written into column `col` of every block.
void set_fp16_column(const at::Tensor& blocks, int64_t col, double value) {
  const at::Tensor h = at::scalar_tensor(value, at::TensorOptions().dtype(at::kHalf)).reshape({1}).view(at::kByte);
  blocks.narrow(1, col, 2).copy_(h.to(blocks.device()).unsqueeze(0).expand({blocks.size(0), 2}));
}
}  // namespace

at::Tensor fp8_value_table(Fp8Kind kind) {
  at::Tensor t = at::empty({256}, at::TensorOptions().dtype(at::kFloat));
  for (int c = 0; c < 256; ++c) t.data_ptr<float>()[c] = fp8_to_float(static_cast<uint8_t>(c), kind);
  return t;
}

QuantisedWeight random_quantised(QuantisedWeight::Format format, const std::vector<int64_t>& shape, c10::Device device, double std) {
  QuantisedWeight q;
  q.format = format;
  q.shape = shape;
  const int64_t n = q.numel();
  const auto bytes = at::TensorOptions().dtype(at::kByte).device(device);
  switch (format) {
    case QuantisedWeight::Format::Q8_0: {  // q uniform in [-128, 127]: std ~74 d
      if (n % 32) fail("random Q8_0 weight", "element count " + std::to_string(n) + " is not a multiple of 32");
      q.codes = at::randint(0, 256, {n / 32 * 34}, bytes);
      set_fp16_column(q.codes.view({-1, 34}), 0, std / 74);
      q.label = "Q8_0";
      break;
    }
    case QuantisedWeight::Format::Q4_K: {  // sc, m uniform 6-bit, q uniform 4-bit: (d sc) q - dmin m
      if (n % 256) fail("random Q4_K weight", "element count " + std::to_string(n) + " is not a multiple of 256");
      q.codes = at::randint(0, 256, {n / 256 * 144}, bytes);
      set_fp16_column(q.codes.view({-1, 144}), 0, std / 170);
      set_fp16_column(q.codes.view({-1, 144}), 2, std / 45);
      q.label = "Q4_K";
      break;
    }
    case QuantisedWeight::Format::Fp8: {  // e4m3fn codes with bit 6 clear (exponent <= 7: no NaN, |v| < 2)
      q.codes = at::randint(0, 256, {n}, bytes).bitwise_and(0xBF);
      q.fp8_values = fp8_value_table(Fp8Kind::E4M3FN).to(device);
      q.scale = static_cast<float>(std / 0.5);
      q.label = "float8_e4m3fn scaled";
      break;
    }
  }
  q.where = "random " + q.label + " weight";
  return q;
}

QuantisedWeight::Format quantised_format_from_flag(const std::string& value, const std::string& flag) {
  std::string v;
  for (char c : value) v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v == "q8_0") return QuantisedWeight::Format::Q8_0;
  if (v == "q4_k") return QuantisedWeight::Format::Q4_K;
  if (v == "fp8") return QuantisedWeight::Format::Fp8;
  fail(flag, "'" + value + "' is not a kept format: q8_0, q4_k or fp8");
}

bool keepable_dit_weight(const std::string& name) {
  static const std::regex re(R"(blocks\.\d+\.(self_attn\.[qkvo]|cross_attn\.(q|k|v|o|k_img|v_img)|ffn\.[02])\.weight)");
  return std::regex_match(name, re);
}

}  // namespace focalscope::formats
