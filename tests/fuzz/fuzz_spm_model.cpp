// libFuzzer: the SentencePiece model check (engine/text/spm_model_check.cpp) that guards libsentencepiece.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/text/spm_model_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)focalscope::check_sentencepiece_model(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
