// libFuzzer: the byte-level BPE tokenizer of HunyuanVideo-I2V's Llama-3 text encoder (engine/models/hunyuan/text/
// bpe_tokenizer.h): the first input byte picks the part under test —
//   even: the input is a tokenizer.json (model.vocab / merges, added_tokens, pre_tokenizer regexes compiled by
//         libpcre2, normalizer) and, when it loads, a fixed text is encoded and decoded with it;
//   odd:  the input is a prompt (arbitrary bytes, invalid UTF-8 included) encoded with a small valid tokenizer.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

#include "engine/core/error.h"
#include "engine/models/hunyuan/text/bpe_tokenizer.h"
#include "tests/fuzz/fuzz_common.h"

namespace {
const char* kSmallTokenizer = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120a": 4, "c": 5},
  "merges": ["a b", "\u0120 a"]},
  "added_tokens": [{"id": 6, "content": "<|begin_of_text|>", "special": true}],
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}})";

const focalscope::HfBpeTokenizer& small() {
  static const std::unique_ptr<focalscope::HfBpeTokenizer> t = [] {
    const std::string& p = focalscope::fuzz::input_file(".small.json");
    std::ofstream(p) << kSmallTokenizer;
    return std::make_unique<focalscope::HfBpeTokenizer>(focalscope::HfBpeTokenizer::from_file(p));
  }();
  return *t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    if (data[0] % 2 == 0) {
      const std::string& path = focalscope::fuzz::write_input(".json", data + 1, size - 1);
      const auto tok = focalscope::HfBpeTokenizer::from_file(path);
      (void)tok.decode(tok.encode("A red ball rolls, 12 times!\n\nthen stops."));
    } else {
      const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
      (void)small().decode(small().encode(text));
    }
  } catch (const focalscope::Error&) {
  }
  return 0;
}
