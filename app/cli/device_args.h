// --device and --dtype flags shared by the commands that can run a module on an accelerator.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace focalscope::cli {

// "cpu", "cuda" or "cuda:N"; fails (naming the flag) for anything else, and for cuda when this libtorch was built
// without CUDA or sees no GPU.
c10::Device parse_device_flag(const std::string& value, const char* flag = "--device");
// "f32" | "bf16" | "f16" (also float32/bfloat16/float16).
c10::ScalarType parse_dtype_flag(const std::string& value, const char* flag = "--dtype");
const char* dtype_flag_name(c10::ScalarType t);  // "f32", "bf16", "f16"

}  // namespace focalscope::cli
