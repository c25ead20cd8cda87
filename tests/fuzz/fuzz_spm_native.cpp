// libFuzzer: the native SentencePiece encoder (engine/text/spm_native.cpp) on hostile model files — model loading
// (the structural check, the library's load-time checks, the self-test samples) and, for a model it accepts, encoding
// a few fixed texts (malformed UTF-8 and whitespace runs included) with every offset checked against the text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/core/error.h"
#include "engine/text/spm_native.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const focalscope::SpmNative spm(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.model");
    static const std::string texts[] = {"", "  a red  ball\trolls ", "\xef\xbc\xa1\xe2\x91\xa0 \xff\xc3", "x\xcc\x81y z"};
    for (const auto& t : texts)
      for (const auto& p : spm.encode(t))
        if (p.begin > p.end || p.end > t.size() || static_cast<int>(p.id) >= spm.piece_size()) std::abort();
  } catch (const focalscope::Error&) {
  }
  return 0;
}
