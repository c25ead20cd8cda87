// libFuzzer: CLIP's BPE tokenizer (HunyuanVideo-I2V's text_encoder_2, engine/models/hunyuan/text/bpe_tokenizer.h
// ClipBpeTokenizer) from its folder files. The input is vocab.json, a NUL byte, then merges.txt (no NUL: the input is
// the vocabulary and merges.txt is the tiny fixture's); when it loads, a fixed text with punctuation, digits and
// non-ASCII letters is encoded, padded (encode_batch) and decoded.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/core/error.h"
#include "engine/models/hunyuan/text/bpe_tokenizer.h"

namespace {
const std::string& folder() {
  static const std::string d = [] {
    const char* t = std::getenv("FUZZ_TMPDIR");
    std::string dir = std::string(t ? t : "/tmp") + "/focalscope_fuzz_clip_" + std::to_string(::getpid());
    ::mkdir(dir.c_str(), 0700);
    return dir;
  }();
  return d;
}
const char* kMerges = "#version: 0.2\na </w>\nr e\nre d</w>\nb a\nba ll</w>\n";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  std::ofstream(folder() + "/vocab.json", std::ios::binary | std::ios::trunc) << in.substr(0, nul);
  std::ofstream(folder() + "/merges.txt", std::ios::binary | std::ios::trunc)
      << (nul == std::string::npos ? std::string(kMerges) : in.substr(nul + 1));
  try {
    const auto tok = focalscope::ClipBpeTokenizer::from_folder(folder());
    const std::string text = "A red ball, 12 times -- caf\xc3\xa9 na\xc3\xafve!  Then it stops.";
    (void)tok.decode(tok.encode(text));
    (void)tok.encode_batch({text, ""}, 77);
  } catch (const focalscope::Error&) {
  }
  return 0;
}
