#include "engine/models/hunyuan/text/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>
#include <clocale>
#include <cwctype>
#include <filesystem>
#include <fstream>
#include <limits>
#include <locale.h>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/utf8.h"

namespace focalscope {

namespace {
using json = nlohmann::json;

// ---- UTF-8 ------------------------------------------------------------------------------------------------
// Length of the UTF-8 sequence starting with byte c (1 for invalid lead bytes, so splitting never stalls).
size_t utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}

// Decodes valid UTF-8 into code points; throws "<where>: ... is not valid UTF-8" otherwise.
std::vector<uint32_t> utf8_decode(std::string_view s, const std::string& where) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_len(c);
    uint32_t cp = 0;
    if (n == 1) {
      if (c >= 0x80) fail(where, "text is not valid UTF-8 (byte offset " + std::to_string(i) + ")");
      cp = c;
    } else {
      if (i + n > s.size()) fail(where, "text is not valid UTF-8 (truncated sequence at byte offset " + std::to_string(i) + ")");
      cp = c & (0x7F >> n);
      for (size_t k = 1; k < n; ++k) {
        const unsigned char cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) fail(where, "text is not valid UTF-8 (byte offset " + std::to_string(i + k) + ")");
        cp = (cp << 6) | (cc & 0x3F);
      }
      const bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
      if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        fail(where, "text is not valid UTF-8 (byte offset " + std::to_string(i) + ")");
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = std::min(utf8_len(static_cast<unsigned char>(s[i])), s.size() - i);
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "file not found (or not a regular file)");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail(path, "cannot read: " + ec.message());
  if (size > (64ull << 20)) fail(path, "file of " + std::to_string(size) + " bytes exceeds the 64 MiB limit for tokenizer files");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// "pad_token": "<pad>" | {"content": "<pad>", ...} | null
std::string token_content(const json& v, const std::string& file, const std::string& key) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  fail(file, "\"" + key + "\" must be a string or an object with \"content\"");
}

std::string escape_pcre_literal(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string("\\^$.[]|()?*+{}-#/ ").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* kClipPattern =
    R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+)";

int64_t json_id(const json& v, const std::string& file, const std::string& what) {
  if (!v.is_number_integer() && !v.is_number_unsigned()) fail(file, what + " has a non-integer id " + json_detail::one_line(v.dump(), 60));
  const int64_t id = v.get<int64_t>();
  if (id < 0 || id > (1ll << 31)) fail(file, what + " has an out-of-range id " + std::to_string(id));
  return id;
}

}  // namespace

// ---- byte level -------------------------------------------------------------------------------------------
const std::vector<std::string>& byte_level_alphabet() {
  static const std::vector<std::string> table = [] {
    std::vector<int> cp(256, -1);
    auto keep = [&](int a, int b) {
      for (int x = a; x <= b; ++x) cp[x] = x;
    };
    keep('!', '~');
    keep(0xA1, 0xAC);
    keep(0xAE, 0xFF);
    int n = 0;
    for (int b = 0; b < 256; ++b)
      if (cp[b] < 0) cp[b] = 256 + n++;
    std::vector<std::string> t(256);
    for (int b = 0; b < 256; ++b) utf8_append(t[b], static_cast<uint32_t>(cp[b]));
    return t;
  }();
  return table;
}

std::string byte_level_encode(std::string_view bytes) {
  const auto& t = byte_level_alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += t[b];
  return out;
}

std::string byte_level_decode(std::string_view text) {
  static const std::unordered_map<std::string, char> inv = [] {
    std::unordered_map<std::string, char> m;
    const auto& t = byte_level_alphabet();
    for (int b = 0; b < 256; ++b) m[t[b]] = static_cast<char>(b);
    return m;
  }();
  std::string out;
  for (size_t i = 0; i < text.size();) {
    size_t n = std::min(utf8_len(static_cast<unsigned char>(text[i])), text.size() - i);
    std::string ch(text.substr(i, n));
    auto it = inv.find(ch);
    if (it != inv.end()) out += it->second;
    else out += ch;
    i += n;
  }
  return out;
}

// ---- PCRE2 ----------------------------------------------------------------------------------------------------
Pcre2Splitter::Pcre2Splitter(const std::string& pattern, bool caseless, const std::string& where) {
  int err = 0;
  PCRE2_SIZE off = 0;
  uint32_t flags = PCRE2_UTF | PCRE2_UCP | (caseless ? PCRE2_CASELESS : 0u);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), flags, &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    fail(where, "pre-tokenizer regex does not compile at offset " + std::to_string(off) + ": " +
                    reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional speed-up; the interpreter is used when JIT is unavailable
  code_ = code;
}

Pcre2Splitter::~Pcre2Splitter() {
  if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

std::vector<std::pair<size_t, size_t>> Pcre2Splitter::split(std::string_view text, const std::string& where,
                                                            bool keep_gaps) const {
  std::vector<std::pair<size_t, size_t>> out;
  if (text.empty()) return out;
  auto* code = static_cast<pcre2_code*>(code_);
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(pcre2_match_data_create_from_pattern(code, nullptr),
                                                                      pcre2_match_data_free);
  if (!md) fail(where, "out of memory in the pre-tokenizer");
  size_t pos = 0, last = 0;
  uint32_t opts = 0;
  while (pos <= text.size()) {
    int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos, opts, md.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
        fail(where, "text is not valid UTF-8 (byte offset " + std::to_string(pcre2_get_startchar(md.get())) + ")");
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      fail(where, std::string("pre-tokenizer regex failed: ") + reinterpret_cast<const char*>(msg));
    }
    opts = PCRE2_NO_UTF_CHECK;  // the whole subject was checked by the first call
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    size_t b = ov[0], e = ov[1];
    if (e == b) {  // empty match: step over one character
      pos = b + (b < text.size() ? utf8_len(static_cast<unsigned char>(text[b])) : 1);
      continue;
    }
    if (keep_gaps && b > last) out.emplace_back(last, b);
    out.emplace_back(b, e);
    last = pos = e;
  }
  if (keep_gaps && last < text.size()) out.emplace_back(last, text.size());
  return out;
}

// ---- BPE model ----------------------------------------------------------------------------------------------------
void BpeModel::add_merge(const std::string& left, const std::string& right, int rank) {
  merge_rank.emplace(left + '\x01' + right, rank);  // the first occurrence keeps its (lower) rank
}

std::vector<std::string> BpeModel::bpe(const std::string& word) const {
  if (word.empty()) return {};
  if (ignore_merges) {
    const std::string whole = word + end_of_word_suffix;
    if (vocab.count(whole)) return {whole};
  }
  std::vector<std::string> syms = utf8_chars(word);
  syms.back() += end_of_word_suffix;
  const int kNone = std::numeric_limits<int>::max();
  while (syms.size() > 1) {
    int best = kNone;
    std::string best_key;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      auto it = merge_rank.find(syms[i] + '\x01' + syms[i + 1]);
      if (it != merge_rank.end() && it->second < best) {
        best = it->second;
        best_key = it->first;
      }
    }
    if (best == kNone) break;
    const size_t cut = best_key.find('\x01');
    const std::string a = best_key.substr(0, cut), b = best_key.substr(cut + 1);
    std::vector<std::string> next;
    next.reserve(syms.size());
    for (size_t i = 0; i < syms.size();) {
      if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
        next.push_back(a + b);
        i += 2;
      } else {
        next.push_back(syms[i]);
        ++i;
      }
    }
    syms.swap(next);
  }
  return syms;
}

void BpeModel::encode_word(const std::string& word, std::vector<int64_t>& out) const {
  for (const std::string& t : bpe(word)) {
    auto it = vocab.find(t);
    if (it != vocab.end()) {
      out.push_back(it->second);
    } else if (unk_id >= 0) {
      out.push_back(unk_id);
    } else {
      fail(where, "token '" + json_detail::one_line(t, 60) + "' is not in the vocabulary and the model has no unk_token");
    }
  }
}

// ---- shared: added-token split + padding ----------------------------------------------------------------------------
namespace {

struct Segment {
  size_t begin, end;
  int64_t added = -1;  // index into the added tokens, or -1 for plain text
};

bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }
bool is_space_byte(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Leftmost-longest matching of the added tokens (tokenizers' AddedVocabulary), with lstrip / rstrip / single_word.
std::vector<Segment> split_added(const std::string& text, const std::vector<AddedToken>& added) {
  std::vector<Segment> segs;
  size_t pos = 0, plain_from = 0;
  while (pos < text.size()) {
    int64_t best = -1;
    size_t best_len = 0;
    for (size_t k = 0; k < added.size(); ++k) {
      const std::string& c = added[k].content;
      if (c.empty() || c.size() <= best_len || text.compare(pos, c.size(), c) != 0) continue;
      if (added[k].single_word) {
        if (pos > 0 && is_word_byte(static_cast<unsigned char>(text[pos - 1]))) continue;
        const size_t e = pos + c.size();
        if (e < text.size() && is_word_byte(static_cast<unsigned char>(text[e]))) continue;
      }
      best = static_cast<int64_t>(k);
      best_len = c.size();
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    size_t b = pos, e = pos + best_len;
    if (added[best].lstrip)
      while (b > plain_from && is_space_byte(static_cast<unsigned char>(text[b - 1]))) --b;
    if (added[best].rstrip)
      while (e < text.size() && is_space_byte(static_cast<unsigned char>(text[e]))) ++e;
    if (b > plain_from) segs.push_back({plain_from, b, -1});
    segs.push_back({b, e, best});
    pos = plain_from = e;
  }
  if (plain_from < text.size()) segs.push_back({plain_from, text.size(), -1});
  return segs;
}

TokenizedBatch pad_batch(const std::vector<std::vector<int64_t>>& contents, const std::vector<int64_t>& prefix,
                         const std::vector<int64_t>& suffix, int64_t max_length, int64_t pad_id, const std::string& where) {
  const int64_t n_special = static_cast<int64_t>(prefix.size() + suffix.size());
  if (max_length < n_special + 1)
    fail(where, "max_length " + std::to_string(max_length) + " leaves no room next to " + std::to_string(n_special) + " special tokens");
  if (pad_id < 0) fail(where, "padding to max_length needs a pad token, and the tokenizer has none");
  TokenizedBatch out;
  for (const auto& c : contents) {
    const int64_t keep = std::min<int64_t>(static_cast<int64_t>(c.size()), max_length - n_special);
    std::vector<int64_t> ids(prefix);
    ids.insert(ids.end(), c.begin(), c.begin() + keep);
    ids.insert(ids.end(), suffix.begin(), suffix.end());
    const int64_t len = static_cast<int64_t>(ids.size());
    std::vector<int64_t> mask(static_cast<size_t>(max_length), 0);
    std::fill(mask.begin(), mask.begin() + len, 1);
    ids.resize(static_cast<size_t>(max_length), pad_id);
    out.ids.push_back(std::move(ids));
    out.mask.push_back(std::move(mask));
    out.lengths.push_back(len);
    out.truncated.push_back(keep < static_cast<int64_t>(c.size()));
  }
  return out;
}

}  // namespace

// ---- HfBpeTokenizer ---------------------------------------------------------------------------------------------------
HfBpeTokenizer HfBpeTokenizer::from_folder(const std::string& dir) {
  const auto cfg = std::filesystem::path(dir) / "tokenizer_config.json";
  return from_file((std::filesystem::path(dir) / "tokenizer.json").string(),
                   std::filesystem::exists(cfg) ? cfg.string() : std::string());
}

HfBpeTokenizer HfBpeTokenizer::from_file(const std::string& path, const std::string& config_path) {
  HfBpeTokenizer t;
  t.path_ = path;
  const json j = read_json_object_file(path);
  auto key_error = [&](const std::string& key, const std::string& what) { fail(path, "\"" + key + "\": " + what); };

  // model
  if (!j.contains("model") || !j["model"].is_object()) key_error("model", "missing or not an object");
  const json& m = j["model"];
  if (m.contains("type") && m["type"] != "BPE")
    key_error("model.type", "only BPE models are supported, got " + json_detail::one_line(m["type"].dump(), 60));
  if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].is_number() && m["dropout"].get<double>() > 0)
    key_error("model.dropout", "BPE dropout is not supported");
  if (m.contains("continuing_subword_prefix") && m["continuing_subword_prefix"].is_string() &&
      !m["continuing_subword_prefix"].get<std::string>().empty())
    key_error("model.continuing_subword_prefix", "not supported");
  if (m.value("byte_fallback", false)) key_error("model.byte_fallback", "not supported");
  if (m.contains("end_of_word_suffix") && m["end_of_word_suffix"].is_string())
    t.model_.end_of_word_suffix = m["end_of_word_suffix"].get<std::string>();
  t.model_.ignore_merges = m.value("ignore_merges", false);
  t.model_.where = path;
  if (!m.contains("vocab") || !m["vocab"].is_object()) key_error("model.vocab", "missing or not an object");
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    const int64_t id = json_id(it.value(), path, "model.vocab entry '" + json_detail::one_line(it.key(), 60) + "'");
    t.model_.vocab[it.key()] = id;
    if (!t.id_to_token_.emplace(id, it.key()).second)
      key_error("model.vocab", "id " + std::to_string(id) + " is used by two tokens");
  }
  if (!m.contains("merges") || !m["merges"].is_array()) key_error("model.merges", "missing or not an array");
  int rank = 0;
  for (const json& mg : m["merges"]) {
    std::string a, b;
    if (mg.is_string()) {
      const std::string s = mg.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        key_error("model.merges", "entry " + std::to_string(rank) + " '" + json_detail::one_line(s, 60) + "' is not two tokens separated by one space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
      a = mg[0].get<std::string>();
      b = mg[1].get<std::string>();
    } else {
      key_error("model.merges", "entry " + std::to_string(rank) + " is neither \"a b\" nor [\"a\", \"b\"]");
    }
    for (const std::string* s : {&a, &b})
      if (!t.model_.vocab.count(*s))
        key_error("model.merges", "entry " + std::to_string(rank) + " uses '" + json_detail::one_line(*s, 60) + "', which is not in the vocabulary");
    if (!t.model_.vocab.count(a + b))
      key_error("model.merges", "entry " + std::to_string(rank) + " makes '" + json_detail::one_line(a + b, 60) + "', which is not in the vocabulary");
    t.model_.add_merge(a, b, rank++);
  }
  if (m.contains("unk_token") && m["unk_token"].is_string()) {
    auto it = t.model_.vocab.find(m["unk_token"].get<std::string>());
    if (it == t.model_.vocab.end()) key_error("model.unk_token", "not in the vocabulary");
    t.model_.unk_id = it->second;
  }

  // added tokens
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) key_error("added_tokens", "not an array");
    for (const json& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id"))
        key_error("added_tokens", "every entry needs \"id\" and \"content\"");
      AddedToken at;
      at.content = a["content"].get<std::string>();
      at.id = json_id(a["id"], path, "added token '" + json_detail::one_line(at.content, 60) + "'");
      at.single_word = a.value("single_word", false);
      at.lstrip = a.value("lstrip", false);
      at.rstrip = a.value("rstrip", false);
      at.normalized = a.value("normalized", false);
      at.special = a.value("special", false);
      auto prev = t.id_to_token_.find(at.id);
      if (prev != t.id_to_token_.end() && prev->second != at.content)
        key_error("added_tokens", "id " + std::to_string(at.id) + " ('" + json_detail::one_line(at.content, 60) +
                                      "') is already the vocabulary token '" + json_detail::one_line(prev->second, 60) + "'");
      t.id_to_token_[at.id] = at.content;
      t.added_.push_back(at);
    }
  }

  // normalizer
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    key_error("normalizer", "only null (no normalizer, as Llama-3) is supported");

  // pre-tokenizer
  std::vector<json> pres;
  if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) {
    const json& p = j["pre_tokenizer"];
    if (p.value("type", "") == "Sequence") {
      if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) key_error("pre_tokenizer.pretokenizers", "missing");
      for (const json& q : p["pretokenizers"]) pres.push_back(q);
    } else {
      pres.push_back(p);
    }
  }
  for (const json& p : pres) {
    const std::string type = p.is_object() ? p.value("type", "") : "";
    if (type == "Split") {
      if (p.value("behavior", "") != "Isolated")
        key_error("pre_tokenizer", "Split behaviour " + json_detail::one_line(p.value("behavior", json()).dump(), 40) + " is not supported (only Isolated)");
      if (p.value("invert", false)) key_error("pre_tokenizer", "inverted Split is not supported");
      if (!p.contains("pattern") || !p["pattern"].is_object()) key_error("pre_tokenizer.pattern", "missing");
      const json& pat = p["pattern"];
      std::string rx;
      if (pat.contains("Regex") && pat["Regex"].is_string()) rx = pat["Regex"].get<std::string>();
      else if (pat.contains("String") && pat["String"].is_string()) rx = escape_pcre_literal(pat["String"].get<std::string>());
      else key_error("pre_tokenizer.pattern", "needs \"Regex\" or \"String\"");
      t.splits_.push_back(std::make_shared<Pcre2Splitter>(rx, false, path));
    } else if (type == "ByteLevel") {
      t.byte_level_ = true;
      t.add_prefix_space_ = p.value("add_prefix_space", false);
      if (p.value("use_regex", true)) t.splits_.push_back(std::make_shared<Pcre2Splitter>(kGpt2Pattern, false, path));
    } else {
      key_error("pre_tokenizer", "type '" + json_detail::one_line(type, 40) + "' is not supported (Split, ByteLevel, Sequence)");
    }
  }
  if (!t.byte_level_) key_error("pre_tokenizer", "no ByteLevel step: only byte-level BPE (Llama-3, GPT-2) is supported");

  // post-processor
  std::vector<json> posts;
  if (j.contains("post_processor") && !j["post_processor"].is_null()) {
    const json& p = j["post_processor"];
    if (p.value("type", "") == "Sequence") {
      if (!p.contains("processors") || !p["processors"].is_array()) key_error("post_processor.processors", "missing");
      for (const json& q : p["processors"]) posts.push_back(q);
    } else {
      posts.push_back(p);
    }
  }
  for (const json& p : posts) {
    const std::string type = p.is_object() ? p.value("type", "") : "";
    if (type == "ByteLevel") continue;  // offsets only
    if (type != "TemplateProcessing")
      key_error("post_processor", "type '" + json_detail::one_line(type, 40) + "' is not supported (TemplateProcessing, ByteLevel)");
    if (!p.contains("single") || !p["single"].is_array()) key_error("post_processor.single", "missing");
    bool seen_a = false;
    for (const json& piece : p["single"]) {
      if (piece.contains("Sequence")) {
        if (seen_a) key_error("post_processor.single", "more than one sequence");
        seen_a = true;
      } else if (piece.contains("SpecialToken") && piece["SpecialToken"].is_object() && piece["SpecialToken"].contains("id")) {
        const std::string name = piece["SpecialToken"]["id"].is_string() ? piece["SpecialToken"]["id"].get<std::string>() : "";
        const json& st = p.value("special_tokens", json::object());
        if (!st.contains(name) || !st[name].contains("ids") || !st[name]["ids"].is_array())
          key_error("post_processor.special_tokens", "no ids for '" + json_detail::one_line(name, 60) + "'");
        for (const json& id : st[name]["ids"])
          (seen_a ? t.suffix_ids_ : t.prefix_ids_).push_back(json_id(id, path, "post_processor special token '" + name + "'"));
      } else {
        key_error("post_processor.single", "entries must be SpecialToken or Sequence");
      }
    }
    if (!seen_a) key_error("post_processor.single", "no $A sequence");
  }

  // pad token (tokenizer_config.json)
  if (!config_path.empty()) {
    const json c = read_json_object_file(config_path);
    if (c.contains("pad_token")) {
      const std::string pad = token_content(c["pad_token"], config_path, "pad_token");
      if (!pad.empty()) {
        t.pad_id_ = t.token_to_id(pad);
        if (t.pad_id_ < 0) fail(config_path, "\"pad_token\" '" + json_detail::one_line(pad, 60) + "' is not a token of " + path);
      }
    }
  }
  return t;
}

int64_t HfBpeTokenizer::token_to_id(const std::string& token) const {
  for (const auto& a : added_)
    if (a.content == token) return a.id;
  auto it = model_.vocab.find(token);
  return it == model_.vocab.end() ? -1 : it->second;
}

std::string HfBpeTokenizer::id_to_token(int64_t id) const {
  auto it = id_to_token_.find(id);
  return it == id_to_token_.end() ? std::string() : it->second;
}

int64_t HfBpeTokenizer::vocab_size() const {
  int64_t n = 0;
  for (const auto& kv : id_to_token_) n = std::max(n, kv.first + 1);
  return n;
}

void HfBpeTokenizer::pre_tokenize_and_bpe(std::string_view segment, std::vector<int64_t>& out) const {
  std::string text(segment);
  if (add_prefix_space_ && !text.empty() && text[0] != ' ') text.insert(text.begin(), ' ');
  std::vector<std::string> pieces{text};
  for (const auto& sp : splits_) {
    std::vector<std::string> next;
    for (const std::string& p : pieces)
      for (const auto& [b, e] : sp->split(p, path_ + ": text")) next.push_back(p.substr(b, e - b));
    pieces.swap(next);
  }
  for (const std::string& p : pieces) model_.encode_word(byte_level_ ? byte_level_encode(p) : p, out);
}

std::vector<int64_t> HfBpeTokenizer::encode_raw(const std::string& text) const {
  std::vector<int64_t> out;
  for (const Segment& s : split_added(text, added_)) {
    if (s.added >= 0) out.push_back(added_[static_cast<size_t>(s.added)].id);
    else pre_tokenize_and_bpe(std::string_view(text).substr(s.begin, s.end - s.begin), out);
  }
  return out;
}

std::vector<int64_t> HfBpeTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> out(prefix_ids_);
  const auto body = encode_raw(text);
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), suffix_ids_.begin(), suffix_ids_.end());
  return out;
}

TokenizedBatch HfBpeTokenizer::encode_batch(const std::vector<std::string>& texts, int64_t max_length) const {
  std::vector<std::vector<int64_t>> bodies;
  for (const auto& t : texts) bodies.push_back(encode_raw(t));
  return pad_batch(bodies, prefix_ids_, suffix_ids_, max_length, pad_id_, path_);
}

std::string HfBpeTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string out, pending;
  auto flush = [&] {
    out += byte_level_decode(pending);
    pending.clear();
  };
  for (int64_t id : ids) {
    const AddedToken* a = nullptr;
    for (const auto& x : added_)
      if (x.id == id) a = &x;
    if (a) {
      flush();
      if (!(skip_special && a->special)) out += a->content;
      continue;
    }
    pending += id_to_token(id);
  }
  flush();
  return out;
}

// ---- ClipBpeTokenizer ---------------------------------------------------------------------------------------------------
namespace {
locale_t utf8_locale() {
  static locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (!l) l = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", static_cast<locale_t>(0));
    return l;
  }();
  return loc;
}
}  // namespace

std::string ClipBpeTokenizer::clean(const std::string& text) {
  static const Pcre2Splitter words(R"(\S+)", false, "CLIP tokenizer");
  std::string joined;
  for (const auto& [b, e] : words.split(text, "CLIP tokenizer: text", /*keep_gaps=*/false)) {
    if (!joined.empty()) joined += ' ';
    joined.append(text, b, e - b);
  }
  std::string out;
  out.reserve(joined.size());
  locale_t loc = utf8_locale();
  for (uint32_t cp : utf8_decode(joined, "CLIP tokenizer")) {
    uint32_t lo = cp;
    if (cp < 0x80) lo = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    else if (loc) lo = static_cast<uint32_t>(towlower_l(static_cast<wint_t>(cp), loc));
    utf8_append(out, lo);
  }
  return out;
}

ClipBpeTokenizer ClipBpeTokenizer::from_folder(const std::string& dir) {
  ClipBpeTokenizer t;
  const auto d = std::filesystem::path(dir);
  const std::string vocab_path = (d / "vocab.json").string(), merges_path = (d / "merges.txt").string();
  t.path_ = vocab_path;
  const json v = read_json_object_file(vocab_path);
  for (auto it = v.begin(); it != v.end(); ++it) {
    const int64_t id = json_id(it.value(), vocab_path, "entry '" + json_detail::one_line(it.key(), 60) + "'");
    t.model_.vocab[it.key()] = id;
    if (!t.id_to_token_.emplace(id, it.key()).second) fail(vocab_path, "id " + std::to_string(id) + " is used by two tokens");
  }
  t.model_.end_of_word_suffix = "</w>";
  t.model_.where = vocab_path;
  // transformers' CLIPTokenizer: drop the first line ("#version: 0.2"), keep at most 49152 - 256 - 2 merges.
  const std::string text = read_text_file(merges_path);
  std::istringstream lines(text);
  std::string line;
  int lineno = 0, rank = 0;
  const int kMaxMerges = 49152 - 256 - 2;
  while (std::getline(lines, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineno == 1) {
      if (!starts_with(line, "#version")) fail(merges_path, "line 1 must be the \"#version\" header");
      continue;
    }
    if (line.empty()) continue;
    if (rank >= kMaxMerges) break;
    std::istringstream ls(line);
    std::string a, b, extra;
    if (!(ls >> a >> b) || (ls >> extra)) fail(merges_path, "line " + std::to_string(lineno) + " is not two tokens");
    t.model_.add_merge(a, b, rank++);
  }
  auto need = [&](const std::string& tok) {
    auto it = t.model_.vocab.find(tok);
    if (it == t.model_.vocab.end()) fail(vocab_path, "special token '" + tok + "' is missing");
    return it->second;
  };
  t.bos_id_ = need("<|startoftext|>");
  t.eos_id_ = need("<|endoftext|>");
  t.model_.unk_id = t.eos_id_;  // CLIPTokenizer's unk_token is <|endoftext|>
  std::string pad = "<|endoftext|>";
  for (const char* f : {"special_tokens_map.json", "tokenizer_config.json"}) {
    const auto p = (d / f).string();
    if (!std::filesystem::exists(p)) continue;
    const json c = read_json_object_file(p);
    if (c.contains("pad_token")) {
      const std::string s = token_content(c["pad_token"], p, "pad_token");
      if (!s.empty()) {
        if (!t.model_.vocab.count(s)) fail(p, "\"pad_token\" '" + json_detail::one_line(s, 60) + "' is not in " + vocab_path);
        pad = s;
      }
    }
  }
  t.pad_id_ = t.model_.vocab.at(pad);
  t.split_ = std::make_shared<Pcre2Splitter>(kClipPattern, /*caseless=*/true, vocab_path);
  return t;
}

int64_t ClipBpeTokenizer::token_to_id(const std::string& token) const {
  auto it = model_.vocab.find(token);
  return it == model_.vocab.end() ? -1 : it->second;
}

std::vector<int64_t> ClipBpeTokenizer::encode_raw(const std::string& text) const {
  static const std::vector<AddedToken> specials = [] {
    AddedToken s, e;
    s.content = "<|startoftext|>";
    e.content = "<|endoftext|>";
    return std::vector<AddedToken>{s, e};
  }();
  std::vector<int64_t> out;
  for (const Segment& s : split_added(text, specials)) {
    if (s.added >= 0) {
      out.push_back(s.added == 0 ? bos_id_ : eos_id_);
      continue;
    }
    const std::string c = clean(text.substr(s.begin, s.end - s.begin));
    for (const auto& [b, e] : split_->split(c, path_ + ": text", /*keep_gaps=*/false))
      model_.encode_word(byte_level_encode(std::string_view(c).substr(b, e - b)), out);
  }
  return out;
}

std::vector<int64_t> ClipBpeTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> out{bos_id_};
  const auto body = encode_raw(text);
  out.insert(out.end(), body.begin(), body.end());
  out.push_back(eos_id_);
  return out;
}

TokenizedBatch ClipBpeTokenizer::encode_batch(const std::vector<std::string>& texts, int64_t max_length) const {
  std::vector<std::vector<int64_t>> bodies;
  for (const auto& t : texts) bodies.push_back(encode_raw(t));
  return pad_batch(bodies, {bos_id_}, {eos_id_}, max_length, pad_id_, path_);
}

std::string ClipBpeTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string joined;
  for (int64_t id : ids) {
    auto it = id_to_token_.find(id);
    if (it != id_to_token_.end()) joined += it->second;
  }
  std::string out = byte_level_decode(joined);
  // "</w>" marks the end of a word: a space
  std::string res;
  for (size_t i = 0; i < out.size();) {
    if (out.compare(i, 4, "</w>") == 0) {
      res += ' ';
      i += 4;
    } else {
      res += out[i++];
    }
  }
  while (!res.empty() && res.back() == ' ') res.pop_back();
  return res;
}

}  // namespace focalscope
