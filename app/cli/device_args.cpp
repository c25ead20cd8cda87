#include "app/cli/device_args.h"

#include <ATen/Context.h>

#include "engine/core/error.h"

namespace focalscope::cli {

c10::Device parse_device_flag(const std::string& value, const char* flag) {
  if (value == "cpu") return c10::Device(c10::kCPU);
  if (value == "cuda" || value.rfind("cuda:", 0) == 0) {
    if (!at::hasCUDA())
      fail(flag, "'" + value + "': this build's libtorch has no CUDA or sees no GPU (build against a CUDA libtorch, "
                 "see docs/real_weights.md)");
    int index = 0;
    if (value.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(value.substr(5), &used);
        if (used != value.size() - 5 || index < 0) throw std::invalid_argument("index");
      } catch (const std::exception&) {
        fail(flag, "'" + value + "' is not cuda:N");
      }
    }
    // f32 must mean IEEE float32 on the GPU too: cuDNN's convolutions default to TF32 on Ampere and later (the
    // first H200 run measured the VAE fixture's worst relative error at 8.6e-3 and the DiT's at 4.3e-4 in f32,
    // against a 1e-4 bar). bf16 / f16 runs are unaffected; the tiny models here are launch-bound, not GEMM-bound.
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  fail(flag, "'" + value + "' is not cpu, cuda or cuda:N");
}

c10::ScalarType parse_dtype_flag(const std::string& value, const char* flag) {
  if (value == "f32" || value == "float32" || value == "fp32") return c10::ScalarType::Float;
  if (value == "bf16" || value == "bfloat16") return c10::ScalarType::BFloat16;
  if (value == "f16" || value == "float16" || value == "fp16") return c10::ScalarType::Half;
  fail(flag, "'" + value + "' is not f32, bf16 or f16");
}

const char* dtype_flag_name(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float: return "f32";
    case c10::ScalarType::BFloat16: return "bf16";
    case c10::ScalarType::Half: return "f16";
    default: return "?";
  }
}

}  // namespace focalscope::cli
