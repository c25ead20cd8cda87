// The XLM-RoBERTa tokenizer of Wan's open-clip CLIP text tower, as Wan's clip.py calls it:
// `HuggingfaceTokenizer(name=<ckpt>/xlm-roberta-large, seq_len=max_text_len - 2 = 512, clean='whitespace')`, i.e.
// transformers' XLMRobertaTokenizer(Fast) with padding='max_length', truncation=True, add_special_tokens=True:
//
//   1. clean 'whitespace' (Wan's rule, WanTokenizer::clean_whitespace);
//   2. SentencePiece pieces of `sentencepiece.bpe.model`; fairseq's id layout: <s> 0, <pad> 1, </s> 2, <unk> 3,
//      every SentencePiece id p > 0 becomes p + 1 (fairseq_offset), SentencePiece's unknown (p = 0) becomes 3;
//   3. <s> pieces </s>, at most seq_len - 2 pieces kept; right padding with 1; mask 1 on <s>, pieces and </s>.
//
// The result is a Tokenized whose tokens[] follow ids[] (tokens[0] is <s> with an empty span), so
// WanTokenizer::words() maps the prompt's words onto token positions as it does for umT5.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/text/tokenizer.h"

namespace focalscope {

class XlmrTokenizer {
 public:
  static constexpr int64_t kBosId = 0, kPadId = 1, kEosId = 2, kUnkId = 3, kFairseqOffset = 1;
  static constexpr int64_t kDefaultSeqLen = 512;  // Wan: the tower's 514 positions - 2

  // Throws Error naming the file when it is missing or not a SentencePiece model.
  explicit XlmrTokenizer(const std::string& spm_model_path, SpmBackend backend = SpmBackend::kAuto);
  Tokenized encode(const std::string& text, int64_t seq_len = kDefaultSeqLen) const;
  // Ids a tower needs room for: SentencePiece pieces + 1 (<mask> sits after the last piece).
  int64_t vocab_size() const { return spm_.vocab_size() + kFairseqOffset + 1; }
  const std::string& path() const { return spm_.path(); }

 private:
  WanTokenizer spm_;  // the SentencePiece layer only (encode_pieces, id_to_piece)
};

}  // namespace focalscope
