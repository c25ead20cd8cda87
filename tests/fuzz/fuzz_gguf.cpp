// libFuzzer: the GGUF reader (engine/formats/gguf.h) — header, metadata key/values (strings, arrays, nested arrays),
// tensor infos (rank, ne, type, offsets against the data section, comfy.gguf.orig_shape), alignment — and the ggml
// dequantisers on every tensor it accepts (bounded: the first 1 Mi elements of each), so a tensor's declared type
// and size can never read past its bytes.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/core/error.h"
#include "engine/formats/gguf.h"
#include "engine/formats/gguf_dequant.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = focalscope::fuzz::write_input(".gguf", data, size);
  try {
    auto f = focalscope::formats::GgufFile::open(path);
    for (const auto& [k, v] : f->metadata_text()) (void)k.size(), (void)v.size();
    std::vector<float> out;
    for (const auto& t : f->tensors()) {
      const int64_t n = t.numel();
      if (n <= 0 || n > (1 << 20) || !t.data) continue;
      out.resize(static_cast<size_t>(n));
      (void)focalscope::formats::dequantise_ggml(t.type, t.data, n, out.data());
    }
  } catch (const focalscope::Error&) {
  }
  return 0;
}
