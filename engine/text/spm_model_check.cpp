#include "engine/text/spm_model_check.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/core/limits.h"
#include "engine/text/spm_format.h"

namespace focalscope {
namespace {

using spm_format::Wire;
using Bad = spm_format::WireError;  // the wire reader's errors and this checker's own findings alike
using spm_format::dc_has_leaf;
using spm_format::dc_label;
using spm_format::dc_offset;
using spm_format::dc_value;

// precompiled_charsmap = u32 trie_size | trie (trie_size bytes of u32 units) | NUL-terminated normalised strings.
// A lookup starts at unit 0 and, per input byte c, reads unit (base ^ c); a leaf's value indexes the strings.
void check_charsmap(std::string_view blob, const char* which) {
  const std::string w = std::string(which) + ".precompiled_charsmap";
  if (blob.size() > limits::kTokenizerMaxCharsmapBytes)
    throw Bad{w + " of " + std::to_string(blob.size()) + " bytes exceeds the limit of " + std::to_string(limits::kTokenizerMaxCharsmapBytes)};
  if (blob.size() <= 4) throw Bad{w + " is too short"};
  uint32_t trie_size;
  std::memcpy(&trie_size, blob.data(), 4);
  if (uint64_t(trie_size) + 4 > blob.size()) throw Bad{w + ": trie size " + std::to_string(trie_size) + " runs past the blob"};
  const std::size_t n = trie_size / 4;
  std::vector<uint32_t> units(n);
  if (n) std::memcpy(units.data(), blob.data() + 4, n * 4);
  const std::string_view strings = blob.substr(4 + trie_size);
  const std::size_t last_nul = strings.rfind('\0');
  auto base_ok = [&](uint64_t base) { return (base | 0xFF) < n; };  // every byte value c keeps base ^ c inside
  if (n == 0) throw Bad{w + ": empty trie"};
  const uint64_t root = dc_offset(units[0]);
  if (!base_ok(root)) throw Bad{w + ": trie root points outside the trie (garbage normaliser data)"};
  std::vector<uint8_t> seen(n, 0);
  std::vector<uint32_t> todo{static_cast<uint32_t>(root)};
  seen[root] = 1;
  while (!todo.empty()) {
    const uint32_t base = todo.back();
    todo.pop_back();
    for (uint32_t c = 0; c < 256; ++c) {
      const uint32_t pos = base ^ c;
      const uint32_t u = units[pos];
      if (dc_label(u) != c) continue;
      const uint64_t next = pos ^ dc_offset(u);
      if (!base_ok(next)) throw Bad{w + ": trie node " + std::to_string(pos) + " points outside the trie (garbage normaliser data)"};
      if (dc_has_leaf(u)) {
        const uint32_t v = dc_value(units[next]);
        if (last_nul == std::string_view::npos || v > last_nul)
          throw Bad{w + ": trie value " + std::to_string(v) + " points outside the normalised strings (garbage normaliser data)"};
      }
      if (!seen[next]) {
        seen[next] = 1;
        todo.push_back(static_cast<uint32_t>(next));
      }
    }
  }
}

void check_normalizer(std::string_view msg, const char* which) {
  Wire w(msg);
  while (!w.done()) {
    const uint64_t key = w.varint();
    const int field = static_cast<int>(key >> 3), type = static_cast<int>(key & 7);
    if (field == 2) {
      if (type != 2) throw Bad{std::string(which) + ".precompiled_charsmap has the wrong wire type"};
      const std::string_view blob = w.bytes();
      if (!blob.empty()) check_charsmap(blob, which);
    } else {
      w.skip(type);
    }
  }
}

void check_trainer(std::string_view msg) {
  Wire w(msg);
  while (!w.done()) {
    const uint64_t key = w.varint();
    const int field = static_cast<int>(key >> 3), type = static_cast<int>(key & 7);
    if (field == 3 && type == 0) {  // model_type: UNIGRAM=1, BPE=2, WORD=3, CHAR=4
      const uint64_t t = w.varint();
      if (t < 1 || t > 4) throw Bad{"trainer_spec.model_type " + std::to_string(t) + " is not unigram, bpe, word or char"};
    } else {
      w.skip(type);
    }
  }
}

void check_piece(std::string_view msg, uint64_t index) {
  Wire w(msg);
  while (!w.done()) {
    const uint64_t key = w.varint();
    const int field = static_cast<int>(key >> 3), type = static_cast<int>(key & 7);
    if (field == 3 && type == 0) {  // type: NORMAL=1 .. BYTE=6
      const uint64_t t = w.varint();
      if (t < 1 || t > 6) throw Bad{"piece " + std::to_string(index) + " has the unknown type " + std::to_string(t)};
    } else if (field == 2 && type == 5) {
      w.fixed32();
    } else {
      w.skip(type);
    }
  }
}

}  // namespace

std::string check_sentencepiece_model(std::string_view bytes) {
  if (bytes.empty()) return "empty file";
  if (bytes.size() > limits::kTokenizerModelMaxBytes)
    return "file of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " + std::to_string(limits::kTokenizerModelMaxBytes);
  try {
    Wire w(bytes);
    uint64_t pieces = 0;
    bool normalizer = false;
    while (!w.done()) {
      const uint64_t key = w.varint();
      const int field = static_cast<int>(key >> 3), type = static_cast<int>(key & 7);
      if (field >= 1 && field <= 5 && type != 2) throw Bad{"field " + std::to_string(field) + " has the wrong wire type (not a SentencePiece model)"};
      if (field == 1) check_piece(w.bytes(), pieces++);
      else if (field == 2) check_trainer(w.bytes());
      else if (field == 3) check_normalizer(w.bytes(), "normalizer_spec"), normalizer = true;
      else if (field == 5) check_normalizer(w.bytes(), "denormalizer_spec");
      else w.skip(type);
    }
    if (pieces == 0) throw Bad{"no pieces (not a SentencePiece model)"};
    (void)normalizer;
  } catch (const Bad& b) {
    return b.what;
  }
  return "";
}

}  // namespace focalscope
