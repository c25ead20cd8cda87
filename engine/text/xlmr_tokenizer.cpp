#include "engine/text/xlmr_tokenizer.h"

#include <algorithm>

#include "engine/core/error.h"

namespace focalscope {

XlmrTokenizer::XlmrTokenizer(const std::string& path, SpmBackend backend) : spm_(path, backend, /*umt5_ids=*/false) {}

Tokenized XlmrTokenizer::encode(const std::string& text, int64_t seq_len) const {
  if (seq_len < 2) fail("XLM-R tokenizer", "seq_len must be at least 2 (room for <s> and </s>), got " + std::to_string(seq_len));
  Tokenized r;
  r.prompt = text;
  r.cleaned = WanTokenizer::clean_whitespace(text);
  r.seq_len = seq_len;
  const std::vector<SpmPiece> pieces = spm_.encode_pieces(r.cleaned);

  std::vector<int64_t> char_at(r.cleaned.size() + 1, 0);  // byte offset -> code point offset
  int64_t chars = 0;
  for (size_t b = 0; b < r.cleaned.size(); ++b) {
    char_at[b] = chars;
    if ((static_cast<unsigned char>(r.cleaned[b]) & 0xC0) != 0x80) ++chars;
  }
  char_at[r.cleaned.size()] = chars;

  auto special = [&](int64_t id, const char* piece, int64_t at_byte) {
    TokenInfo t;
    t.id = id;
    t.piece = piece;
    t.byte_begin = t.byte_end = at_byte;
    t.char_begin = t.char_end = char_at[static_cast<size_t>(at_byte)];
    return t;
  };
  const int64_t n = static_cast<int64_t>(pieces.size());
  r.num_pieces = n;
  r.truncated = n > seq_len - 2;
  const int64_t keep = std::min(n, seq_len - 2);
  r.tokens.push_back(special(kBosId, "<s>", 0));
  for (int64_t i = 0; i < keep; ++i) {
    const SpmPiece& p = pieces[static_cast<size_t>(i)];
    if (p.begin > p.end || p.end > r.cleaned.size()) fail(path(), "SentencePiece reported a span outside the prompt");
    TokenInfo t;
    t.id = p.id == 0 ? kUnkId : int64_t(p.id) + kFairseqOffset;
    t.piece = p.piece;
    t.surface = p.surface;
    t.byte_begin = p.begin;
    t.byte_end = p.end;
    t.char_begin = char_at[p.begin];
    t.char_end = char_at[p.end];
    r.tokens.push_back(std::move(t));
  }
  r.tokens.push_back(special(kEosId, "</s>", static_cast<int64_t>(r.cleaned.size())));
  r.ids.assign(static_cast<size_t>(seq_len), kPadId);
  r.mask.assign(static_cast<size_t>(seq_len), 0);
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    r.ids[i] = r.tokens[i].id;
    r.mask[i] = 1;
  }
  return r;
}

}  // namespace focalscope
