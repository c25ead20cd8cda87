// libFuzzer: the .pth reader: zip directory (sizes, offsets, duplicates, zip64, method, CRC) and the restricted
// unpickler (opcode subset, allowed globals only, depth / memo / object limits), then the tensors it builds.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>

#include "engine/core/error.h"
#include "engine/core/pth.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = focalscope::fuzz::write_input(".pth", data, size);
  try {
    focalscope::TensorSet s = focalscope::load_pth(path);
    for (const auto& n : s.names()) {
      const at::Tensor& t = s.get(n);
      if (t.numel() > 0 && t.numel() < (1 << 20)) (void)t.contiguous().to(at::kDouble).sum();
    }
  } catch (const focalscope::Error&) {
  }
  return 0;
}
