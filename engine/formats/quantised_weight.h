// A DiT weight kept in its checkpoint's quantised form in (device) memory and decoded only while its layer runs
// (issue 27 items 4-5: a 14B model in Q4_K or fp8 then holds ~9 / ~16 GB of DiT weights instead of 33 GB in bf16).
//
// The decoder is written in tensor ops, so it runs where the codes live (CPU, or CUDA where libtorch 1.13 has no
// float8 type either): the same formula as the on-load decoders (gguf_dequant.h, fp8.h) — float32, one rounding per
// operation in ggml's order — then one cast to the run dtype. tests/test_weight_formats checks the two bit for bit.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/formats/fp8.h"

namespace focalscope::formats {

struct QuantisedWeight {
  enum class Format { Q8_0, Q4_K, Fp8 };
  Format format = Format::Q8_0;
  at::Tensor codes;              // uint8 [bytes]: the blocks / fp8 codes as stored in the file
  at::Tensor fp8_values;         // Fp8: float32 [256], the value of every code (fp8.h's exact decoder)
  float scale = 1.0f;            // Fp8: ComfyUI's per-tensor weight scale (1 when unscaled)
  std::vector<int64_t> shape;    // torch shape of the decoded weight
  std::string label;             // "Q4_K", "float8_e4m3fn", "float8_e4m3fn scaled"
  std::string where;             // "<file>: tensor '<name>'" (for messages)

  int64_t bytes() const { return codes.defined() ? codes.numel() : 0; }
  int64_t numel() const;
  // The decoded weight on the codes' device: float32 by the format's formula, then cast once to `dtype`.
  at::Tensor dequantise(c10::ScalarType dtype) const;
  QuantisedWeight to(c10::Device device) const;
};

// The float32 value of every fp8 code of `kind` ([256], fp8.h's exact decoder): QuantisedWeight::fp8_values.
at::Tensor fp8_value_table(Fp8Kind kind);

// Random codes of `format` for a weight of `shape`, made on `device` (benchmarks: no 14B file is needed to time the
// kept-quantised path). Scales are fixed so the decoded weights have a std of roughly `std`; fp8 codes avoid NaN/Inf.
QuantisedWeight random_quantised(QuantisedWeight::Format format, const std::vector<int64_t>& shape, c10::Device device,
                                 double std = 0.02);
// "q8_0" / "q4_k" / "fp8" (case-insensitive) -> format; throws Error naming `flag` otherwise.
QuantisedWeight::Format quantised_format_from_flag(const std::string& value, const std::string& flag);

// Official Wan DiT name -> weight kept quantised (the blocks' Linear weights; everything else is decoded on load).
using QuantisedWeights = std::map<std::string, QuantisedWeight>;

// True for the tensors a run may keep quantised: the attention / FFN projection weights of the transformer blocks
// ("blocks.N.self_attn.q.weight", ...), ~99% of a 14B DiT's parameters.
bool keepable_dit_weight(const std::string& official_name);

}  // namespace focalscope::formats
