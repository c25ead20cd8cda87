// The two binary formats inside a SentencePiece model file, shared by everything in engine/text that reads one:
//
//   * a bounded protobuf wire-format reader (ModelProto, and the SentencePieceText libsentencepiece returns);
//   * the darts-clone double-array unit layout (darts.h, DoubleArrayUnit) of the normaliser's precompiled_charsmap.
//
// Header-only and torch-free: the structural checker (spm_model_check.cpp) is fuzzed as a lone source file.
// Every read is bounds-checked and throws WireError; callers turn that into their own message.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace focalscope::spm_format {

struct WireError {
  std::string what;
};

// Protobuf wire-format reader over a byte span (wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
class Wire {
 public:
  explicit Wire(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}
  bool done() const { return p_ >= end_; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) throw WireError{"truncated varint"};
      const auto b = static_cast<unsigned char>(*p_++);
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    throw WireError{"varint longer than 10 bytes"};
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > static_cast<uint64_t>(end_ - p_)) throw WireError{"a field's length runs past the end of its message"};
    std::string_view s(p_, static_cast<std::size_t>(n));
    p_ += n;
    return s;
  }
  uint32_t fixed32() {
    if (end_ - p_ < 4) throw WireError{"truncated fixed32"};
    uint32_t v;
    std::memcpy(&v, p_, 4);
    p_ += 4;
    return v;
  }
  float float32() {
    const uint32_t u = fixed32();
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: advance(8); break;
      case 2: bytes(); break;
      case 5: advance(4); break;
      default: throw WireError{"unsupported protobuf wire type " + std::to_string(wire_type)};
    }
  }

 private:
  void advance(std::size_t n) {
    if (n > static_cast<std::size_t>(end_ - p_)) throw WireError{"truncated field"};
    p_ += n;
  }
  const char* p_;
  const char* end_;
};

// One field key: number and wire type.
struct Key {
  int field;
  int type;
};
inline Key read_key(Wire& w) {
  const uint64_t k = w.varint();
  return Key{static_cast<int>(k >> 3), static_cast<int>(k & 7)};
}

// darts-clone DoubleArrayUnit accessors (darts.h). A node's children sit at (node ^ offset ^ byte); a child matches
// when its label equals the byte (a leaf unit's label has the MSB set, so it never matches); has_leaf marks that the
// key ending at this node has a value, stored in the unit at (child ^ offset).
inline bool dc_has_leaf(uint32_t u) { return ((u >> 8) & 1) == 1; }
inline uint32_t dc_value(uint32_t u) { return u & ((1U << 31) - 1); }
inline uint32_t dc_label(uint32_t u) { return u & ((1U << 31) | 0xFF); }
inline uint32_t dc_offset(uint32_t u) { return (u >> 10) << ((u & (1U << 9)) >> 6); }

}  // namespace focalscope::spm_format
