// Keywords for similarity capture: prompt words -> the rows of the text context that carry them.
//
// Wan's text context has one row per umT5 token (SentencePiece piece) of the prompt, in order, then EOS and zero
// padding. A keyword is a whole word of the prompt; a word split into several pieces ("cat" -> "▁c" + "at")
// covers several rows, and its value vector V(k) in a layer is the MEAN of those rows' value vectors.
// A bare "▁" piece (the word-boundary marker SentencePiece sometimes emits on its own before a word's first
// piece) is dropped from the mean when the word has other pieces: it carries the space, not the word.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace focalscope {

class WanTokenizer;

struct CaptureKeyword {
  std::string word;             // display name (the word as it appears in the prompt)
  std::vector<int64_t> tokens;  // text-context rows averaged into V(k); ascending, non-empty
};

// Resolves each of `words` to the first word of `prompt` equal to it (ASCII case-insensitive, after the
// tokenizer's cleaning and punctuation stripping; see WanTokenizer::words). Throws Error("keyword 'x': ...")
// when a word is not in the prompt (listing the prompt's words) or its pieces fell past the tokenizer's
// seq_len - 1 truncation. Duplicate requests are an error too. row_offset: where the prompt's pieces start in the
// DiT's text (ModelBundle::text_row_offset(): 0 for Wan, the image rows for the embedded MMDiT).
std::vector<CaptureKeyword> resolve_keywords(const WanTokenizer& tokenizer, const std::string& prompt,
                                             const std::vector<std::string>& words, int64_t seq_len,
                                             int64_t row_offset = 0);

// "red, circle ,ball" -> {"red", "circle", "ball"}; empty items dropped.
std::vector<std::string> split_keyword_list(const std::string& comma_separated);

}  // namespace focalscope
