// libFuzzer: the safetensors reader (header JSON, offsets, coverage, dtype x shape) and every tensor it hands out.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = focalscope::fuzz::write_input(".safetensors", data, size);
  try {
    auto f = focalscope::SafetensorsFile::open(path);
    for (const auto& e : f->entries()) {
      at::Tensor t = f->tensor(e);
      if (t.numel() > 0 && t.numel() < (1 << 20)) (void)t.to(at::kDouble).sum();
    }
  } catch (const focalscope::Error&) {
  }
  return 0;
}
