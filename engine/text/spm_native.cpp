#include "engine/text/spm_native.h"

#include <algorithm>
#include <cfloat>
#include <cstring>
#include <utility>

#include "engine/core/error.h"
#include "engine/text/spm_format.h"
#include "engine/text/spm_model_check.h"

// Written from the algorithm of upstream sentencepiece v0.1.97 (the version Debian ships and WanTokenizer otherwise
// loads); the comments name the upstream function each part mirrors. Where upstream's exact arithmetic or ordering
// decides a result (Viterbi ties, float vs double sums), this code follows it on purpose; do not "simplify" those.

namespace focalscope {
namespace {

using spm_format::Key;
using spm_format::Wire;
using spm_format::WireError;

// ModelProto.SentencePiece.Type
enum PieceType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };
// TrainerSpec.ModelType
enum ModelType : int { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

const char kSpaceSymbol[] = "\xE2\x96\x81";  // U+2581, what escape_whitespaces writes for ' '
const char kReplacementChar[] = "\xEF\xBF\xBD";  // U+FFFD, what one malformed UTF-8 byte normalises to

// Byte-labelled trie of the vocabulary (and of the user-defined symbols). Upstream builds a darts-clone double array;
// only its lookups matter here (step one byte, read the value of the key ending there), which a plain trie with
// sorted edge lists answers the same way. Pieces never hold NUL (refused at load), so byte 0 never matches, as in
// darts-clone.
class ByteTrie {
 public:
  // keys must be distinct and non-empty.
  void build(std::vector<std::pair<std::string_view, int>> keys) {
    std::sort(keys.begin(), keys.end());
    nodes_.assign(1, Node{});
    labels_.clear();
    targets_.clear();
    if (!keys.empty()) build_node(keys, 0, keys.size(), 0, 0);
    std::fill(std::begin(root_), std::end(root_), -1);
    for (uint32_t e = 0; e < nodes_[0].n_edges; ++e) root_[labels_[nodes_[0].first_edge + e]] = targets_[nodes_[0].first_edge + e];
  }
  bool empty() const { return nodes_.size() <= 1; }
  // The child of `node` along byte c, or -1.
  int step(int node, unsigned char c) const {
    if (node == 0) return root_[c];
    const Node& n = nodes_[node];
    const unsigned char* b = labels_.data() + n.first_edge;
    const unsigned char* e = b + n.n_edges;
    const unsigned char* it = std::lower_bound(b, e, c);
    return (it != e && *it == c) ? targets_[n.first_edge + (it - b)] : -1;
  }
  int value(int node) const { return nodes_[node].value; }  // -1: no key ends here

 private:
  struct Node {
    int value = -1;
    uint32_t first_edge = 0, n_edges = 0;
  };
  // keys[lo, hi) share their first `depth` bytes and belong to `node`.
  void build_node(const std::vector<std::pair<std::string_view, int>>& keys, size_t lo, size_t hi, size_t depth, int node) {
    if (keys[lo].first.size() == depth) nodes_[node].value = keys[lo++].second;
    std::vector<std::pair<size_t, size_t>> groups;
    for (size_t i = lo; i < hi;) {
      size_t j = i + 1;
      while (j < hi && keys[j].first[depth] == keys[i].first[depth]) ++j;
      groups.emplace_back(i, j);
      i = j;
    }
    const uint32_t first = static_cast<uint32_t>(labels_.size());
    nodes_[node].first_edge = first;
    nodes_[node].n_edges = static_cast<uint32_t>(groups.size());
    for (const auto& g : groups) {
      labels_.push_back(static_cast<unsigned char>(keys[g.first].first[depth]));
      targets_.push_back(static_cast<int>(nodes_.size()));
      nodes_.emplace_back();
    }
    for (size_t k = 0; k < groups.size(); ++k) build_node(keys, groups[k].first, groups[k].second, depth + 1, targets_[first + k]);
  }
  std::vector<Node> nodes_;
  std::vector<unsigned char> labels_;
  std::vector<int> targets_;
  int root_[256];
};

// string_util::OneCharLen: the length a UTF-8 lead byte announces (1 for anything that is not a lead byte).
inline int one_char_len(unsigned char c) { return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]; }

inline bool trail(unsigned char c) { return (c & 0xC0) == 0x80; }
inline bool valid_cp(uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

// string_util::IsValidDecodeUTF8: true and the sequence length for a well-formed character (shortest form, not a
// surrogate, <= U+10FFFF); false for anything else (upstream then consumes one byte).
bool valid_utf8_char(std::string_view s, size_t* len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  if (p[0] < 0x80) { *len = 1; return true; }
  if (n >= 2 && (p[0] & 0xE0) == 0xC0) {
    const uint32_t cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    if (trail(p[1]) && cp >= 0x80 && valid_cp(cp)) { *len = 2; return true; }
  } else if (n >= 3 && (p[0] & 0xF0) == 0xE0) {
    const uint32_t cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    if (trail(p[1]) && trail(p[2]) && cp >= 0x800 && valid_cp(cp)) { *len = 3; return true; }
  } else if (n >= 4 && (p[0] & 0xF8) == 0xF0) {
    const uint32_t cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
    if (trail(p[1]) && trail(p[2]) && trail(p[3]) && cp >= 0x10000 && valid_cp(cp)) { *len = 4; return true; }
  }
  *len = 1;
  return false;
}

// upstream PieceToByte: exactly "<0x00>".."<0xFF>" with upper-case hex digits, else -1.
int byte_of_piece(const std::string& s) {
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  if (s.size() != 6 || s.compare(0, 3, "<0x") != 0 || s[5] != '>') return -1;
  const int hi = hex(s[3]), lo = hex(s[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

struct Piece {
  std::string text;
  float score = 0.0f;
  int type = kNormal;
};

struct Sample {
  std::string input, expected;
};

}  // namespace

struct SpmNative::Impl {
  // ---- model ----
  std::vector<Piece> pieces;
  int model_type = kUnigram;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
  std::string charsmap;  // normalizer_spec.precompiled_charsmap
  std::vector<Sample> self_test;

  // ---- derived ----
  std::vector<uint32_t> units;   // the charsmap's double array
  std::string_view replacements; // the charsmap's NUL-terminated replacement strings (view into `charsmap`)
  ByteTrie vocab;                // NORMAL, USER_DEFINED and UNUSED pieces -> id
  ByteTrie user_defined;         // USER_DEFINED pieces (the normaliser leaves them untouched)
  std::vector<int> byte_piece_id;  // byte -> id of "<0xXX>" (byte_fallback only)
  int unk_id = -1;
  float min_score = FLT_MAX, max_score = FLT_MIN;  // over NORMAL pieces; FLT_MIN (not -FLT_MAX) as upstream

  void parse(std::string_view bytes);
  void init(const std::string& where);

  std::pair<std::string_view, size_t> normalize_prefix(std::string_view input) const;
  void normalize(std::string_view input, std::string* out, std::vector<size_t>* norm_to_orig) const;
  std::vector<std::pair<std::string_view, int>> viterbi(std::string_view normalized) const;
  std::vector<SpmPiece> encode(std::string_view input) const;
};

// ---- loading ------------------------------------------------------------------------------------------------------
// Protobuf semantics: a scalar field seen twice keeps the last value, a message field seen twice is merged, a field
// with an unexpected wire type is an unknown field (skipped).
void SpmNative::Impl::parse(std::string_view bytes) {
  Wire w(bytes);
  while (!w.done()) {
    const Key k = spm_format::read_key(w);
    if (k.field == 1 && k.type == 2) {  // repeated SentencePiece pieces
      Wire m(w.bytes());
      Piece p;
      while (!m.done()) {
        const Key f = spm_format::read_key(m);
        if (f.field == 1 && f.type == 2) p.text = std::string(m.bytes());
        else if (f.field == 2 && f.type == 5) p.score = m.float32();
        else if (f.field == 3 && f.type == 0) p.type = static_cast<int>(m.varint());
        else m.skip(f.type);
      }
      pieces.push_back(std::move(p));
    } else if (k.field == 2 && k.type == 2) {  // TrainerSpec
      Wire m(w.bytes());
      while (!m.done()) {
        const Key f = spm_format::read_key(m);
        if (f.field == 3 && f.type == 0) model_type = static_cast<int>(m.varint());
        else if (f.field == 24 && f.type == 0) treat_whitespace_as_suffix = m.varint() != 0;
        else if (f.field == 35 && f.type == 0) byte_fallback = m.varint() != 0;
        else m.skip(f.type);
      }
    } else if (k.field == 3 && k.type == 2) {  // NormalizerSpec
      Wire m(w.bytes());
      while (!m.done()) {
        const Key f = spm_format::read_key(m);
        if (f.field == 2 && f.type == 2) charsmap = std::string(m.bytes());
        else if (f.field == 3 && f.type == 0) add_dummy_prefix = m.varint() != 0;
        else if (f.field == 4 && f.type == 0) remove_extra_whitespaces = m.varint() != 0;
        else if (f.field == 5 && f.type == 0) escape_whitespaces = m.varint() != 0;
        else m.skip(f.type);
      }
    } else if (k.field == 4 && k.type == 2) {  // SelfTestData { repeated Sample { input, expected } }
      Wire m(w.bytes());
      while (!m.done()) {
        const Key f = spm_format::read_key(m);
        if (f.field == 1 && f.type == 2) {
          Wire s(m.bytes());
          Sample smp;
          while (!s.done()) {
            const Key g = spm_format::read_key(s);
            if (g.field == 1 && g.type == 2) smp.input = std::string(s.bytes());
            else if (g.field == 2 && g.type == 2) smp.expected = std::string(s.bytes());
            else s.skip(g.type);
          }
          self_test.push_back(std::move(smp));
        } else {
          m.skip(f.type);
        }
      }
    } else {
      w.skip(k.type);
    }
  }
}

// Upstream: ModelFactory::Create, ModelInterface::InitializePieces, unigram::Model::Model / BuildTrie,
// Normalizer::Init / DecodePrecompiledCharsMap; the same conditions are refused.
void SpmNative::Impl::init(const std::string& where) {
  if (model_type != kUnigram) {
    const char* name = model_type == kBpe ? "BPE" : model_type == kWord ? "WORD" : model_type == kChar ? "CHAR" : "unknown";
    fail(where, std::string("SentencePiece model type ") + name + " (" + std::to_string(model_type) +
                    ") is not supported by the native encoder (only UNIGRAM); set FOCALSCOPE_SPM=library");
  }
  std::vector<std::pair<std::string_view, int>> normal, reserved, user;
  byte_piece_id.assign(256, -1);
  for (size_t i = 0; i < pieces.size(); ++i) {
    const Piece& p = pieces[i];
    const int id = static_cast<int>(i);
    if (p.text.empty()) fail(where, "piece " + std::to_string(i) + " is empty");
    if (p.text.find('\0') != std::string::npos)
      fail(where, "piece " + std::to_string(i) + " holds a NUL byte (not supported by the native encoder)");
    const bool in_vocab = p.type == kNormal || p.type == kUserDefined || p.type == kUnused;
    (in_vocab ? normal : reserved).emplace_back(p.text, id);
    if (p.type == kUserDefined) user.emplace_back(p.text, id);
    if (p.type == kUnknown) {
      if (unk_id >= 0) fail(where, "unk is already defined (pieces " + std::to_string(unk_id) + " and " + std::to_string(i) + ")");
      unk_id = id;
    }
    if (p.type == kByte) {
      if (!byte_fallback) fail(where, "byte piece " + p.text + " is found although byte_fallback is false");
      const int byte = byte_of_piece(p.text);
      if (byte < 0) fail(where, "byte piece " + p.text + " is invalid");
      byte_piece_id[byte] = id;
    }
    if (p.type == kNormal) {
      min_score = std::min(min_score, p.score);
      max_score = std::max(max_score, p.score);
    }
  }
  // Duplicates within the vocabulary trie, or among the reserved pieces, are an error upstream.
  for (auto* set : {&normal, &reserved}) {
    std::vector<std::pair<std::string_view, int>> s = *set;
    std::sort(s.begin(), s.end());
    for (size_t i = 1; i < s.size(); ++i)
      if (s[i].first == s[i - 1].first) fail(where, "piece '" + std::string(s[i].first) + "' is already defined");
  }
  if (unk_id < 0) fail(where, "unk is not defined");
  if (byte_fallback && std::count(byte_piece_id.begin(), byte_piece_id.end(), -1) != 0)
    fail(where, "there are not 256 byte pieces although byte_fallback is true");
  // (Upstream's PieceToId("<0xXX>") looks among the reserved pieces first, where the BYTE piece is the only one with
  // that text, so byte_piece_id is what it returns.)
  if (normal.empty()) fail(where, "no pieces are loaded");
  vocab.build(normal);
  user_defined.build(user);

  if (!charsmap.empty()) {
    uint32_t trie_size = 0;
    if (charsmap.size() > 4) std::memcpy(&trie_size, charsmap.data(), 4);
    if (charsmap.size() <= 4 || trie_size >= charsmap.size()) fail(where, "blob for normalization rule is broken");
    const std::string_view body = std::string_view(charsmap).substr(4);
    if (trie_size > body.size()) fail(where, "trie data size exceeds the input blob size");
    units.resize(trie_size / 4);
    if (!units.empty()) std::memcpy(units.data(), body.data(), units.size() * 4);
    replacements = body.substr(trie_size);
  }

  // Upstream's self-test: every sample must encode to its expected pieces, joined by ' '.
  for (const Sample& s : self_test) {
    std::string got;
    for (const SpmPiece& p : encode(s.input)) got += (got.empty() ? "" : " ") + p.piece;
    if (got != s.expected) fail(where, "self-test sample '" + s.input + "' encodes to '" + got + "', expected '" + s.expected + "'");
  }
}

// ---- normaliser (upstream Normalizer::NormalizePrefix / Normalize) ---------------------------------------------------
// The normalised form of the longest rule matching at the start of `input`, and how many input bytes it consumes.
std::pair<std::string_view, size_t> SpmNative::Impl::normalize_prefix(std::string_view input) const {
  if (input.empty()) return {};
  // 1. User-defined symbols pass through verbatim (longest match).
  if (!user_defined.empty()) {
    size_t longest = 0;
    int node = 0;
    for (size_t i = 0; i < input.size(); ++i) {
      node = user_defined.step(node, static_cast<unsigned char>(input[i]));
      if (node < 0) break;
      if (user_defined.value(node) >= 0) longest = i + 1;
    }
    if (longest > 0) return {input.substr(0, longest), longest};
  }
  // 2. The precompiled charsmap: darts-clone commonPrefixSearch, the longest key wins. check_sentencepiece_model has
  //    verified every reachable unit index; the bounds tests below only keep this safe on its own.
  size_t longest = 0;
  uint32_t value = 0;
  if (!units.empty()) {
    using namespace spm_format;
    const size_t n = units.size();
    size_t pos = dc_offset(units[0]);
    for (size_t i = 0; i < input.size(); ++i) {
      const auto c = static_cast<unsigned char>(input[i]);
      pos ^= c;
      if (pos >= n) break;
      const uint32_t u = units[pos];
      if (dc_label(u) != c) break;
      pos ^= dc_offset(u);
      if (pos >= n) break;
      if (dc_has_leaf(u)) {
        longest = i + 1;
        value = dc_value(units[pos]);
      }
    }
  }
  if (longest == 0) {
    size_t len = 0;
    if (!valid_utf8_char(input, &len)) return {std::string_view(kReplacementChar, 3), 1};
    return {input.substr(0, len), len};
  }
  if (value >= replacements.size()) return {std::string_view(), longest};  // unreachable for a checked model
  std::string_view rep = replacements.substr(value);
  return {rep.substr(0, rep.find('\0')), longest};
}

void SpmNative::Impl::normalize(std::string_view input, std::string* out, std::vector<size_t>* n2o) const {
  out->clear();
  n2o->clear();
  if (input.empty()) return;
  size_t consumed = 0;
  if (remove_extra_whitespaces) {  // leading whitespace (anything normalising to exactly " ")
    while (!input.empty()) {
      const auto p = normalize_prefix(input);
      if (p.first != " ") break;
      input.remove_prefix(p.second);
      consumed += p.second;
    }
  }
  if (input.empty()) return;  // whitespace only: nothing, not even the final offset (as upstream)
  out->reserve(input.size() * 3);
  n2o->reserve(input.size() * 3);
  auto add_ws = [&] {
    if (escape_whitespaces) {
      out->append(kSpaceSymbol, 3);
      n2o->insert(n2o->end(), 3, consumed);
    } else {
      out->push_back(' ');
      n2o->push_back(consumed);
    }
  };
  if (!treat_whitespace_as_suffix && add_dummy_prefix) add_ws();
  bool prev_space = remove_extra_whitespaces;
  while (!input.empty()) {
    const auto p = normalize_prefix(input);
    std::string_view sp = p.first;
    while (prev_space && !sp.empty() && sp.front() == ' ') sp.remove_prefix(1);  // collapse runs
    if (!sp.empty()) {
      for (char c : sp) {
        if (escape_whitespaces && c == ' ') {
          out->append(kSpaceSymbol, 3);
          n2o->insert(n2o->end(), 3, consumed);
        } else {
          out->push_back(c);
          n2o->push_back(consumed);
        }
      }
      prev_space = sp.back() == ' ';
    }
    consumed += p.second;
    input.remove_prefix(p.second);
    if (!remove_extra_whitespaces) prev_space = false;
  }
  if (remove_extra_whitespaces) {  // trailing whitespace; the end offset moves back to where it began
    const std::string_view space = escape_whitespaces ? std::string_view(kSpaceSymbol, 3) : std::string_view(" ");
    while (out->size() >= space.size() && std::string_view(*out).substr(out->size() - space.size()) == space) {
      const size_t len = out->size() - space.size();
      consumed = (*n2o)[len];
      out->resize(len);
      n2o->resize(len);
    }
  }
  if (treat_whitespace_as_suffix && add_dummy_prefix) add_ws();
  n2o->push_back(consumed);
}

// ---- unigram Viterbi (upstream unigram::Model::EncodeOptimized) -------------------------------------------------------
// Best path over UTF-8 byte positions. Candidates are visited start by start, shorter pieces first, the unknown
// candidate last, and replace the stored best only when strictly better: the same tie-breaking as upstream. Scores
// are summed the way upstream's types make them: a piece's candidate in double (its score expression is a double
// because of the USER_DEFINED branch), compared with the stored float, stored rounded to float; the unknown
// candidate entirely in float.
std::vector<std::pair<std::string_view, int>> SpmNative::Impl::viterbi(std::string_view normalized) const {
  std::vector<std::pair<std::string_view, int>> result;
  if (normalized.empty()) return result;
  struct Best {
    int id = -1;
    float score = 0.0f;
    int starts_at = -1;
  };
  const int size = static_cast<int>(normalized.size());
  const float unk_score = min_score - 10.0f;  // kUnkPenalty
  std::vector<Best> best(static_cast<size_t>(size) + 1);
  int starts_at = 0;
  while (starts_at < size) {
    const float till_here = best[starts_at].score;
    bool has_single_char = false;
    const int mblen = std::min(one_char_len(static_cast<unsigned char>(normalized[starts_at])), size - starts_at);
    int node = 0;
    for (int key_pos = starts_at; key_pos < size;) {
      node = vocab.step(node, static_cast<unsigned char>(normalized[key_pos]));
      if (node < 0) break;
      ++key_pos;
      const int id = vocab.value(node);
      if (id < 0) continue;
      const Piece& p = pieces[id];
      if (p.type == kUnused) continue;
      const size_t length = static_cast<size_t>(key_pos - starts_at);
      const double score = p.type == kUserDefined ? static_cast<double>(static_cast<float>(length) * max_score) - 0.1
                                                  : static_cast<double>(p.score);
      const double candidate = score + static_cast<double>(till_here);
      Best& t = best[key_pos];
      if (t.starts_at == -1 || candidate > static_cast<double>(t.score)) {
        t.score = static_cast<float>(candidate);
        t.starts_at = starts_at;
        t.id = id;
      }
      if (!has_single_char && length == static_cast<size_t>(mblen)) has_single_char = true;
    }
    if (!has_single_char) {
      Best& t = best[starts_at + mblen];
      const float candidate = unk_score + till_here;
      if (t.starts_at == -1 || candidate > t.score) {
        t.score = candidate;
        t.starts_at = starts_at;
        t.id = unk_id;
      }
    }
    starts_at += mblen;
  }
  for (int end = size; end > 0;) {
    const Best& b = best[end];
    if (b.starts_at < 0) break;  // unreachable: every end visited is a character boundary reached above
    result.emplace_back(normalized.substr(b.starts_at, end - b.starts_at), b.id);
    end = b.starts_at;
  }
  std::reverse(result.begin(), result.end());
  return result;
}

// ---- pieces with surfaces (upstream SentencePieceProcessor::Encode / PopulateSentencePieceText) -----------------------
std::vector<SpmPiece> SpmNative::Impl::encode(std::string_view input) const {
  std::string normalized;
  std::vector<size_t> n2o;
  normalize(input, &normalized, &n2o);
  std::vector<SpmPiece> out;
  size_t consumed = 0;
  bool prev_unk = false;
  for (const auto& [w, id] : viterbi(normalized)) {
    const bool is_unk = pieces[id].type == kUnknown;
    if (pieces[id].type == kControl) {  // not produced by a unigram model; kept for parity with upstream
      SpmPiece sp;
      sp.piece = std::string(w);
      sp.id = static_cast<uint32_t>(id);
      sp.begin = sp.end = static_cast<uint32_t>(n2o[consumed]);
      out.push_back(std::move(sp));
    } else {
      const size_t orig_begin = n2o[consumed];
      const size_t orig_end = n2o[consumed + w.size()];
      const std::string_view surface = input.substr(std::min(orig_begin, input.size()), orig_end - orig_begin);
      if (is_unk && byte_fallback) {  // one <0xXX> piece per byte; the last one carries the surface
        for (size_t i = 0; i < w.size(); ++i) {
          SpmPiece sp;
          const int b = static_cast<unsigned char>(w[i]);
          sp.id = static_cast<uint32_t>(byte_piece_id[b]);
          sp.piece = pieces[byte_piece_id[b]].text;
          sp.begin = static_cast<uint32_t>(orig_begin);
          if (i + 1 == w.size()) {
            sp.surface = std::string(surface);
            sp.end = static_cast<uint32_t>(orig_end);
          } else {
            sp.end = static_cast<uint32_t>(orig_begin);
          }
          out.push_back(std::move(sp));
        }
      } else if (prev_unk && is_unk) {  // a run of unknown characters is one piece
        SpmPiece& sp = out.back();
        sp.piece += w;
        sp.surface += surface;
        sp.end = static_cast<uint32_t>(orig_end);
      } else {
        SpmPiece sp;
        sp.piece = std::string(w);
        sp.id = static_cast<uint32_t>(id);
        sp.surface = std::string(surface);
        sp.begin = static_cast<uint32_t>(orig_begin);
        sp.end = static_cast<uint32_t>(orig_end);
        out.push_back(std::move(sp));
      }
      consumed += w.size();
    }
    prev_unk = is_unk;
  }
  return out;
}

// ---- public ---------------------------------------------------------------------------------------------------------
SpmNative::SpmNative(std::string_view model, const std::string& where) : impl_(std::make_unique<Impl>()) {
  // The structural checks libsentencepiece relies on (and which make the charsmap walk above safe).
  if (const std::string problem = check_sentencepiece_model(model); !problem.empty())
    fail(where, "not a valid SentencePiece model (" + problem + ")");
  try {
    impl_->parse(model);
  } catch (const WireError& e) {
    fail(where, "not a valid SentencePiece model (" + e.what + ")");
  }
  impl_->init(where);
}

SpmNative::~SpmNative() = default;
SpmNative::SpmNative(SpmNative&&) noexcept = default;
SpmNative& SpmNative::operator=(SpmNative&&) noexcept = default;

int SpmNative::piece_size() const { return static_cast<int>(impl_->pieces.size()); }
const std::string& SpmNative::id_to_piece(int id) const { return impl_->pieces.at(static_cast<size_t>(id)).text; }
bool SpmNative::is_control(int id) const { return impl_->pieces.at(static_cast<size_t>(id)).type == kControl; }
bool SpmNative::is_unknown(int id) const { return impl_->pieces.at(static_cast<size_t>(id)).type == kUnknown; }

std::vector<SpmPiece> SpmNative::encode(std::string_view text) const { return impl_->encode(text); }

std::string SpmNative::normalize(std::string_view text, std::vector<size_t>* norm_to_orig) const {
  std::string out;
  std::vector<size_t> local;
  impl_->normalize(text, &out, norm_to_orig ? norm_to_orig : &local);
  return out;
}

}  // namespace focalscope
