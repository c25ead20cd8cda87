// Byte-level BPE tokenizers of the HunyuanVideo-I2V text encoders, read from the files the Hugging Face folders ship:
//
//   HfBpeTokenizer   tokenizer.json (+ tokenizer_config.json for the pad token): Llama-3's tokenizer as the
//                    `tokenizers` library runs it (what transformers' AutoTokenizer -> LlamaTokenizerFast uses for
//                    text_encoder_i2v/). Pipeline: split on added tokens -> pre-tokenizer (Split with the Llama-3
//                    regex, behaviour Isolated, then ByteLevel without regex; or ByteLevel with the GPT-2 regex) ->
//                    byte-to-unicode mapping -> BPE by merge rank (with `ignore_merges`: a whole pre-token found
//                    in the vocabulary is emitted as is) -> post-processor (TemplateProcessing: <|begin_of_text|>).
//   ClipBpeTokenizer vocab.json + merges.txt: transformers' CLIPTokenizer (text_encoder_2/): whitespace clean +
//                    lower-case, the CLIP regex (case-insensitive), byte-to-unicode, BPE with the "</w>" end-of-word
//                    suffix, <|startoftext|> ... <|endoftext|>.
//
// Regexes need Unicode classes (\p{L}, \p{N}); they run on libpcre2-8 (UTF + UCP mode). Everything a loader
// rejects is reported as one line naming the file (and the key / entry).
//
// Padding / truncation are what the pipeline asks for (padding="max_length", truncation=True, right side):
// content is cut to max_length minus the special tokens the post-processor adds, then padded with the pad id;
// the mask is 1 on real tokens.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace focalscope {

// GPT-2's reversible byte <-> printable-unicode table (bytes_to_unicode): byte b -> the UTF-8 of its character.
const std::vector<std::string>& byte_level_alphabet();
std::string byte_level_encode(std::string_view bytes);
// Inverse mapping; characters outside the table are copied through unchanged.
std::string byte_level_decode(std::string_view text);

// A compiled PCRE2 pattern (UTF, UCP; optional caseless) that splits text the way tokenizers' Split(Isolated)
// does: every match and every non-empty stretch between matches is a piece, in order.
class Pcre2Splitter {
 public:
  Pcre2Splitter(const std::string& pattern, bool caseless, const std::string& where);
  ~Pcre2Splitter();
  Pcre2Splitter(const Pcre2Splitter&) = delete;
  Pcre2Splitter& operator=(const Pcre2Splitter&) = delete;
  // Byte spans [begin, end) of the pieces; `where` names the text in errors (invalid UTF-8). With keep_gaps false
  // only the matches are returned (Python's re.findall, as CLIP's tokenizer uses it).
  std::vector<std::pair<size_t, size_t>> split(std::string_view text, const std::string& where,
                                               bool keep_gaps = true) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
};

// The BPE model: vocabulary, merge ranks, optional end-of-word suffix. Works on symbol strings (already
// byte-level mapped), like the reference implementations.
struct BpeModel {
  std::unordered_map<std::string, int64_t> vocab;
  std::unordered_map<std::string, int> merge_rank;  // key: left + '\x01' + right
  std::string end_of_word_suffix;                   // "</w>" for CLIP, "" for Llama-3
  bool ignore_merges = false;                       // a whole word found in the vocabulary is not split
  int64_t unk_id = -1;                              // < 0: unknown symbols are an error
  std::string where;                                // file named in errors

  void add_merge(const std::string& left, const std::string& right, int rank);
  // BPE of one pre-token (byte-level mapped): the tokens (strings) it becomes.
  std::vector<std::string> bpe(const std::string& word) const;
  // bpe() and vocabulary ids.
  void encode_word(const std::string& word, std::vector<int64_t>& out) const;
};

struct TokenizedBatch {
  std::vector<std::vector<int64_t>> ids, mask;  // [B][max_length]
  std::vector<int64_t> lengths;                 // real tokens per row (sum of mask)
  std::vector<bool> truncated;
};

struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

class HfBpeTokenizer {
 public:
  // Reads <dir>/tokenizer.json and, when present, <dir>/tokenizer_config.json (pad token). Only what Llama-3's
  // file uses is accepted (model BPE; normalizer null; pre-tokenizers Split(Regex, Isolated) / ByteLevel, possibly
  // in a Sequence; post-processor TemplateProcessing / ByteLevel, possibly in a Sequence); anything else is refused
  // with an error naming the file and the key.
  static HfBpeTokenizer from_folder(const std::string& dir);
  static HfBpeTokenizer from_file(const std::string& tokenizer_json, const std::string& tokenizer_config_json = "");

  // Tokens of `text` without the post-processor's special tokens (added tokens in the text are recognised).
  std::vector<int64_t> encode_raw(const std::string& text) const;
  // With the post-processor (Llama-3: <|begin_of_text|> first).
  std::vector<int64_t> encode(const std::string& text) const;
  // padding="max_length", truncation=True, right side; pad id = pad_id() (error when the folder has none).
  TokenizedBatch encode_batch(const std::vector<std::string>& texts, int64_t max_length) const;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const;

  int64_t token_to_id(const std::string& token) const;  // -1 when unknown (vocabulary or added token)
  std::string id_to_token(int64_t id) const;            // "" when unknown
  int64_t pad_id() const { return pad_id_; }
  int64_t vocab_size() const;  // largest id + 1
  // Tokens encode() puts before the text (BOS for Llama-3): input position = prefix_length() + encode_raw index.
  int64_t prefix_length() const { return static_cast<int64_t>(prefix_ids_.size()); }
  const std::string& path() const { return path_; }
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  // Special token ids the post-processor puts before / after the content.
  const std::vector<int64_t>& prefix_ids() const { return prefix_ids_; }
  const std::vector<int64_t>& suffix_ids() const { return suffix_ids_; }

 private:
  void pre_tokenize_and_bpe(std::string_view segment, std::vector<int64_t>& out) const;

  std::string path_;
  BpeModel model_;
  std::unordered_map<int64_t, std::string> id_to_token_;
  std::vector<AddedToken> added_;
  std::vector<std::shared_ptr<Pcre2Splitter>> splits_;  // pre-tokenizer regexes, applied in order
  bool byte_level_ = false;
  bool add_prefix_space_ = false;
  std::vector<int64_t> prefix_ids_, suffix_ids_;
  int64_t pad_id_ = -1;
};

class ClipBpeTokenizer {
 public:
  // <dir>/vocab.json + <dir>/merges.txt (+ tokenizer_config.json / special_tokens_map.json for the pad token;
  // default <|endoftext|>, as openai/clip-vit-large-patch14 ships).
  static ClipBpeTokenizer from_folder(const std::string& dir);

  // CLIP's cleaning: whitespace runs -> one space, strip, lower-case (Unicode, via the C.UTF-8 locale).
  static std::string clean(const std::string& text);
  std::vector<int64_t> encode_raw(const std::string& text) const;  // no BOS / EOS
  std::vector<int64_t> encode(const std::string& text) const;      // BOS + tokens + EOS
  TokenizedBatch encode_batch(const std::vector<std::string>& texts, int64_t max_length = 77) const;
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t token_to_id(const std::string& token) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  BpeModel model_;
  std::unordered_map<int64_t, std::string> id_to_token_;
  std::shared_ptr<Pcre2Splitter> split_;
  int64_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
};

}  // namespace focalscope
