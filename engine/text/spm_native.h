// A native SentencePiece encoder: reproduces libsentencepiece 0.1.97's SentencePieceProcessor::Encode for UNIGRAM
// models, bit for bit (ids, pieces, surfaces, byte offsets into the original text).
//
// Why it exists: libsentencepiece has to be dlopen()ed with RTLD_DEEPBIND (tokenizer.cpp explains the protobuf
// clash), and AddressSanitizer / ThreadSanitizer abort any process that does that. Sanitized builds therefore encode
// with this instead (WanTokenizer picks it, see tokenizer.h); tests/test_tokenizer.cpp compares both on thousands of
// strings. Torch-free and independent of the library.
//
// What it reproduces (upstream src/normalizer.cc, unigram_model.cc EncodeOptimized, sentencepiece_processor.cc
// PopulateSentencePieceText, model_interface.cc InitializePieces):
//   * normaliser: user-defined symbols matched first (longest), then the precompiled_charsmap (a darts-clone double
//     array + NUL-terminated replacement strings, longest prefix), else one UTF-8 character, malformed UTF-8 -> U+FFFD
//     consuming one byte; remove_extra_whitespaces (leading, repeated, trailing), add_dummy_prefix (or suffix with
//     treat_whitespace_as_suffix), escape_whitespaces (' ' -> U+2581); a normalised-to-original byte map;
//   * unigram Viterbi over UTF-8 positions: piece scores, USER_DEFINED = length * max_score - 0.1, UNUSED skipped,
//     unknown = one character scored min_score - 10, upstream's float/double arithmetic and tie-breaking;
//   * output: consecutive unknowns merged into one piece, or byte_fallback into <0xXX> pieces.
// Anything else (BPE / WORD / CHAR models, pieces holding NUL bytes) is refused when the model is loaded.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace focalscope {

// One piece of an encoding, as SentencePieceText reports it: begin/end are byte offsets in the text given to encode()
// (not the normalised text); surface is that span of it (empty for control pieces and for all but the last byte piece
// of a byte-fallback character).
struct SpmPiece {
  std::string piece, surface;
  uint32_t id = 0, begin = 0, end = 0;
  bool operator==(const SpmPiece& o) const {
    return id == o.id && begin == o.begin && end == o.end && piece == o.piece && surface == o.surface;
  }
};

class SpmNative {
 public:
  // `model` is the bytes of a SentencePiece model file. Throws Error "<where>: ..." when the model is malformed, fails
  // the checks libsentencepiece makes when loading (or its self-test samples), or is of a kind not supported here.
  SpmNative(std::string_view model, const std::string& where);
  ~SpmNative();
  SpmNative(SpmNative&&) noexcept;
  SpmNative& operator=(SpmNative&&) noexcept;

  int piece_size() const;
  const std::string& id_to_piece(int id) const;  // id must be in [0, piece_size())
  bool is_control(int id) const;
  bool is_unknown(int id) const;

  // Any bytes (malformed UTF-8 included); never throws for a loaded model.
  std::vector<SpmPiece> encode(std::string_view text) const;
  // The normaliser alone: the normalised text and, per normalised byte plus one past the end, the original byte
  // offset it came from (empty text -> both empty, as upstream).
  std::string normalize(std::string_view text, std::vector<size_t>* norm_to_orig) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace focalscope
