// The Wan text tokenizer: umT5's SentencePiece model (`<ckpt>/google/umt5-xxl/spiece.model`) called the
// way Wan's `HuggingfaceTokenizer(name, seq_len=512, clean='whitespace')` calls the HF T5 tokenizer:
//
//   1. clean 'whitespace': ftfy.fix_text, html.unescape twice, strip, collapse whitespace runs, strip;
//   2. SentencePiece pieces, no BOS, then EOS (id 1);
//   3. truncation keeps room for EOS: at most seq_len-1 pieces + EOS;
//   4. right padding with the pad id 0 to seq_len; mask 1 on pieces and EOS, 0 on padding.
//
// libsentencepiece is loaded at run time in an isolated symbol scope (see tokenizer.cpp): Debian's build bundles
// protobuf 3.14 and crashes any process that also loads libtorch's libprotobuf 3.21 if linked normally.
// Do not link libsentencepiece into a torch binary, and do not include <sentencepiece_processor.h> elsewhere.
// The library is found as libsentencepiece.so.0 / .so, or at $FOCALSCOPE_SENTENCEPIECE_LIB.
//
// SentencePiece backends. AddressSanitizer / ThreadSanitizer abort any process that dlopen()s with RTLD_DEEPBIND, so
// there is a second, native encoder (engine/text/spm_native.h) that reproduces libsentencepiece 0.1.97 exactly for
// UNIGRAM models (ids, pieces, surfaces, offsets; tests/test_tokenizer.cpp compares the two). Which one a tokenizer
// uses (SpmBackend::kAuto, the default):
//   * FOCALSCOPE_SPM=native  -> native;  FOCALSCOPE_SPM=library -> the library (any other value is an error);
//   * unset: native when a sanitizer runtime is in the process (__asan_init or __tsan_init resolves), else the library.
// A model the native encoder does not support (BPE / WORD / CHAR) is refused by it with an error naming the file.
//
// Besides ids/mask, every kept token carries its piece, its surface text and its byte / character span in
// the cleaned text, so analysis code can map prompt words to token positions (`words()`).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/spm_native.h"

namespace focalscope {

struct TokenInfo {
  int64_t id = 0;
  std::string piece;    // vocabulary piece ("▁grass"); "</s>" for EOS; for <unk> (id 2) SentencePiece reports the text
  std::string surface;  // the cleaned text it covers (" grass", "镜头晃动"); empty for EOS
  // Spans in the CLEANED text (Tokenized::cleaned), [begin, end). A piece's span includes the space its
  // "▁" stands for; the dummy-prefix "▁" at the start and EOS have empty spans.
  int64_t byte_begin = 0, byte_end = 0;
  int64_t char_begin = 0, char_end = 0;  // Unicode code points
};

struct Tokenized {
  std::string prompt;   // as given
  std::string cleaned;  // what was tokenised
  int64_t seq_len = 0;
  std::vector<int64_t> ids;   // seq_len entries: pieces, EOS, padding
  std::vector<int64_t> mask;  // seq_len entries: 1 on pieces and EOS, 0 on padding
  std::vector<TokenInfo> tokens;  // the `length()` real tokens (kept pieces, then EOS)
  int64_t num_pieces = 0;     // pieces before truncation (EOS not counted)
  bool truncated = false;     // num_pieces > seq_len - 1
  int64_t length() const { return static_cast<int64_t>(tokens.size()); }  // sum(mask), EOS included
  at::Tensor ids_tensor() const;   // [1, seq_len] int64
  at::Tensor mask_tensor() const;  // [1, seq_len] int64
};

// One whitespace-separated word of the cleaned prompt, with leading / trailing punctuation stripped
// ("grass," -> "grass"; "Close-up" stays whole). Words that are only punctuation are left out.
struct WordSpan {
  std::string word;
  int64_t index = 0;                       // position among the returned words
  int64_t byte_begin = 0, byte_end = 0;    // in the cleaned text
  int64_t char_begin = 0, char_end = 0;
  std::vector<int64_t> tokens;             // token positions covering the word (ascending, < length-1)
  bool truncated = false;                  // some or all of its pieces fell past seq_len-1
};

// Which SentencePiece implementation encodes (see the header comment).
enum class SpmBackend { kAuto, kLibrary, kNative };

class WanTokenizer {
 public:
  static constexpr int64_t kPadId = 0;
  static constexpr int64_t kEosId = 1;
  static constexpr int64_t kUnkId = 2;
  static constexpr int64_t kDefaultSeqLen = 512;

  // Loads a SentencePiece model; throws Error naming the file when it is missing or not a valid model,
  // or when its special ids differ from umT5's (pad 0, eos 1, unk 2).
  // umt5_ids false: any SentencePiece model is accepted (XLM-R's, whose ids 0-2 are <unk> <s> </s>); the caller
  // maps ids itself (engine/text/xlmr_tokenizer.h) and must not use encode(), which assumes umT5's EOS and pad.
  explicit WanTokenizer(const std::string& spiece_model_path, SpmBackend backend = SpmBackend::kAuto, bool umt5_ids = true);
  // What kAuto resolves to in this process (reads FOCALSCOPE_SPM; throws Error on an unknown value).
  static SpmBackend default_backend();
  bool native() const;  // true when this tokenizer encodes with the native encoder
  ~WanTokenizer();
  WanTokenizer(WanTokenizer&&) noexcept;
  WanTokenizer& operator=(WanTokenizer&&) noexcept;

  // Wan's clean='whitespace' (see the .cpp for exactly which ftfy steps are reproduced).
  static std::string clean_whitespace(const std::string& text);
  // Python html.unescape: numeric references and the common named entities.
  static std::string html_unescape(const std::string& text);

  Tokenized encode(const std::string& text, int64_t seq_len = kDefaultSeqLen) const;
  // Batch: ids and mask [B, seq_len] int64, exactly what the HF call returns.
  std::pair<at::Tensor, at::Tensor> encode_batch(const std::vector<std::string>& texts,
                                                 int64_t seq_len = kDefaultSeqLen) const;

  // Each word of the cleaned prompt and the token positions (indices into encode(prompt).ids) that cover it.
  // A word split into several pieces gets several positions; a bare "▁" piece that precedes a word's
  // first piece (the dummy prefix, or a split "▁" + "play") belongs to that word.
  std::vector<WordSpan> words(const std::string& prompt, int64_t seq_len = kDefaultSeqLen) const;
  static std::vector<WordSpan> words(const Tokenized& tokenized);

  // The bare SentencePiece layer (no cleaning, no EOS): the pieces of `text` with byte offsets into it. Any bytes.
  std::vector<SpmPiece> encode_pieces(std::string_view text) const;

  int64_t vocab_size() const;
  std::string id_to_piece(int64_t id) const;
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

// True when the prompt is empty after Wan's cleaning (the tokenizer would encode it as just EOS).
bool is_blank_prompt(const std::string& prompt);
// For the CLI: throws Error "<what>: empty prompt ..." when is_blank_prompt(prompt).
void validate_prompt(const std::string& prompt, const std::string& what = "prompt");
// Throws Error "<what>: ..." when `text` is not valid UTF-8 (or holds NUL bytes) or is longer than
// limits::kPromptMaxBytes; `what` names where it came from ("--negative", "<manifest>: sampling.negative_prompt").
void check_prompt_text(const std::string& text, const std::string& what);

}  // namespace focalscope
