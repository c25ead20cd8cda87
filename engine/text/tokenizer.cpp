#include "engine/text/tokenizer.h"

#include <ATen/ATen.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <new>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/limits.h"
#include "engine/core/utf8.h"
#include "engine/text/spm_format.h"
#include "engine/text/spm_model_check.h"
#include "engine/text/spm_native.h"

namespace focalscope {

namespace {

// ---- UTF-8 <-> code points ----------------------------------------------------------
std::u32string utf8_decode(const std::string& s, const std::string& where) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int n = 0;
    char32_t cp = 0;
    if (c < 0x80) { n = 1; cp = c; }
    else if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
    else fail(where, "text is not valid UTF-8 (byte offset " + std::to_string(i) + ")");
    if (i + n > s.size()) fail(where, "text is not valid UTF-8 (truncated sequence at byte offset " + std::to_string(i) + ")");
    for (int k = 1; k < n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) fail(where, "text is not valid UTF-8 (byte offset " + std::to_string(i + k) + ")");
      cp = (cp << 6) | (cc & 0x3F);
    }
    const bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      fail(where, "text is not valid UTF-8 (byte offset " + std::to_string(i) + ")");
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string utf8_encode(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

// Python's str.isspace() (= what `\s` matches in a str regex and what str.strip() removes).
bool py_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ---- ftfy.fix_text (default config), the parts that can change a prompt --------------
// ftfy is a no-op for plain ASCII prompts (no mojibake, curly quotes, full-width or control characters),
// and for correctly encoded non-ASCII text apart from the steps below. Reproduced: remove_control_chars,
// uncurl_quotes, fix_latin_ligatures, fix_character_width (full-width ASCII and the ideographic space).
// Not reproduced: fix_encoding (mojibake repair), its 'auto' HTML unescape (html.unescape runs twice right
// after, so only triple-escaped text differs), NFC normalisation (SentencePiece's nmt_nfkc normaliser
// subsumes it for tokenisation). Line-break fixes are subsumed by the whitespace collapse.
std::u32string ftfy_subset(const std::u32string& in) {
  std::u32string out;
  out.reserve(in.size());
  for (char32_t c : in) {
    // remove_control_chars (keeps \t \n \f \r)
    if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
        c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC))
      continue;
    // uncurl_quotes
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) { out += U'\''; continue; }
    if (c >= 0x201C && c <= 0x201F) { out += U'"'; continue; }
    // fix_latin_ligatures
    switch (c) {
      case 0x0132: out += U"IJ"; continue;
      case 0x0133: out += U"ij"; continue;
      case 0xFB00: out += U"ff"; continue;
      case 0xFB01: out += U"fi"; continue;
      case 0xFB02: out += U"fl"; continue;
      case 0xFB03: out += U"ffi"; continue;
      case 0xFB04: out += U"ffl"; continue;
      case 0xFB05: out += U"\u017Ft"; continue;
      case 0xFB06: out += U"st"; continue;
      default: break;
    }
    // fix_character_width (the full-width ASCII block and U+3000)
    if (c >= 0xFF01 && c <= 0xFF5E) { out += static_cast<char32_t>(c - 0xFF01 + 0x21); continue; }
    if (c == 0x3000) { out += U' '; continue; }
    out += c;
  }
  return out;
}

// ---- html.unescape ------------------------------------------------------------------
struct Entity { char32_t cp; bool legacy; };  // legacy: also recognised without the trailing ';'

const std::unordered_map<std::u32string, Entity>& entity_table() {
  static const std::unordered_map<std::u32string, Entity> table = [] {
    std::unordered_map<std::u32string, Entity> t;
    auto add = [&](const char* name, char32_t cp, bool legacy) {
      std::u32string n;
      for (const char* p = name; *p; ++p) n += static_cast<char32_t>(*p);
      t[n] = Entity{cp, legacy};
    };
    // Latin-1 block U+00A0..U+00FF: all recognised with and without ';' (HTML5 legacy names).
    static const char* latin1[96] = {
        "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf", "laquo",
        "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot",
        "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc",
        "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute",
        "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash",
        "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN", "szlig", "agrave", "aacute", "acirc", "atilde",
        "auml", "aring", "aelig", "ccedil", "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc",
        "iuml", "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave",
        "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml"};
    for (int i = 0; i < 96; ++i) add(latin1[i], 0xA0 + i, true);
    for (auto [n, cp] : {std::pair{"amp", U'&'}, {"AMP", U'&'}, {"lt", U'<'}, {"LT", U'<'}, {"gt", U'>'},
                         {"GT", U'>'}, {"quot", U'"'}, {"QUOT", U'"'}})
      add(n, cp, true);
    add("COPY", 0xA9, true);
    add("REG", 0xAE, true);
    // Common semicolon-only entities (HTML 4 special characters and symbols).
    static const std::pair<const char*, char32_t> named[] = {
        {"apos", 0x27}, {"OElig", 0x152}, {"oelig", 0x153}, {"Scaron", 0x160}, {"scaron", 0x161},
        {"Yuml", 0x178}, {"fnof", 0x192}, {"circ", 0x2C6}, {"tilde", 0x2DC}, {"ensp", 0x2002},
        {"emsp", 0x2003}, {"thinsp", 0x2009}, {"zwnj", 0x200C}, {"zwj", 0x200D}, {"lrm", 0x200E},
        {"rlm", 0x200F}, {"ndash", 0x2013}, {"mdash", 0x2014}, {"lsquo", 0x2018}, {"rsquo", 0x2019},
        {"sbquo", 0x201A}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"bdquo", 0x201E}, {"dagger", 0x2020},
        {"Dagger", 0x2021}, {"bull", 0x2022}, {"hellip", 0x2026}, {"permil", 0x2030}, {"prime", 0x2032},
        {"Prime", 0x2033}, {"lsaquo", 0x2039}, {"rsaquo", 0x203A}, {"oline", 0x203E}, {"frasl", 0x2044},
        {"euro", 0x20AC}, {"trade", 0x2122}, {"larr", 0x2190}, {"uarr", 0x2191}, {"rarr", 0x2192},
        {"darr", 0x2193}, {"harr", 0x2194}, {"minus", 0x2212}, {"infin", 0x221E}, {"asymp", 0x2248},
        {"ne", 0x2260}, {"le", 0x2264}, {"ge", 0x2265}, {"spades", 0x2660}, {"clubs", 0x2663},
        {"hearts", 0x2665}, {"diams", 0x2666}, {"loz", 0x25CA}, {"sum", 0x2211}, {"prod", 0x220F},
        {"radic", 0x221A}, {"deg", 0xB0}, {"star", 0x2606}, {"check", 0x2713}, {"nbsp", 0xA0}};
    for (const auto& [n, cp] : named)
      if (!t.count(std::u32string(n, n + std::char_traits<char>::length(n)))) add(n, cp, false);
    // Greek letters.
    static const char* greek_upper[25] = {"Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta",
                                          "Theta", "Iota", "Kappa", "Lambda", "Mu", "Nu", "Xi", "Omicron",
                                          "Pi", "Rho", nullptr, "Sigma", "Tau", "Upsilon", "Phi", "Chi",
                                          "Psi", "Omega"};
    static const char* greek_lower[25] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta",
                                          "theta", "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron",
                                          "pi", "rho", "sigmaf", "sigma", "tau", "upsilon", "phi", "chi",
                                          "psi", "omega"};
    for (int i = 0; i < 25; ++i) {
      if (greek_upper[i]) add(greek_upper[i], 0x391 + i, false);
      add(greek_lower[i], 0x3B1 + i, false);
    }
    return t;
  }();
  return table;
}

// Python's html._replace_charref for a numeric reference.
void append_charref(std::u32string& out, const std::u32string& digits, bool hex) {
  uint64_t num = 0;
  bool huge = false;
  for (char32_t d : digits) {
    int v = (d >= U'0' && d <= U'9') ? int(d - U'0') : (d >= U'a' && d <= U'f') ? int(d - U'a' + 10) : int(d - U'A' + 10);
    num = num * (hex ? 16 : 10) + v;
    if (num > 0x10FFFF) huge = true, num = 0x110000;
  }
  static const char32_t cp1252[32] = {0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021,
                                      0x2C6,  0x2030, 0x160,  0x2039, 0x152,  0x8D,   0x17D,  0x8F,
                                      0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                      0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};
  if (!huge && num == 0) { out += char32_t(0xFFFD); return; }
  if (!huge && num == 0x0D) { out += U'\r'; return; }
  if (!huge && num >= 0x80 && num <= 0x9F) { out += cp1252[num - 0x80]; return; }
  if (huge || (num >= 0xD800 && num <= 0xDFFF)) { out += char32_t(0xFFFD); return; }
  const bool invalid = (num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) ||
                       (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE;
  if (invalid) return;
  out += static_cast<char32_t>(num);
}

std::u32string html_unescape_cp(const std::u32string& s) {
  if (s.find(U'&') == std::u32string::npos) return s;
  const auto& table = entity_table();
  auto is_digit = [](char32_t c) { return c >= U'0' && c <= U'9'; };
  auto is_hex = [&](char32_t c) { return is_digit(c) || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F'); };
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != U'&') { out += s[i++]; continue; }
    size_t j = i + 1;
    if (j < s.size() && s[j] == U'#') {  // &#123;  &#x1F;  (';' optional)
      const bool hex = j + 1 < s.size() && (s[j + 1] == U'x' || s[j + 1] == U'X');
      size_t k = j + (hex ? 2 : 1), d0 = k;
      while (k < s.size() && (hex ? is_hex(s[k]) : is_digit(s[k]))) ++k;
      if (k == d0) { out += s[i++]; continue; }
      append_charref(out, s.substr(d0, k - d0), hex);
      if (k < s.size() && s[k] == U';') ++k;
      i = k;
      continue;
    }
    // Named: [^\t\n\f <&#;]{1,32};?
    size_t k = j;
    while (k < s.size() && k - j < 32) {
      char32_t c = s[k];
      if (c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' || c == U'&' || c == U'#' || c == U';') break;
      ++k;
    }
    if (k == j) { out += s[i++]; continue; }
    const std::u32string name = s.substr(j, k - j);
    const bool semi = k < s.size() && s[k] == U';';
    const size_t end = semi ? k + 1 : k;
    if (auto it = table.find(name); it != table.end() && (semi || it->second.legacy)) {
      out += it->second.cp;
      i = end;
      continue;
    }
    // Longest legacy prefix (at least 2 characters), the rest kept as text.
    bool done = false;
    const size_t full = name.size() + (semi ? 1 : 0);
    for (size_t x = full - 1; x >= 2 && !done; --x) {
      auto it = table.find(name.substr(0, x));
      if (it != table.end() && it->second.legacy) {
        out += it->second.cp;
        out += s.substr(j + x, end - (j + x));
        done = true;
      }
    }
    if (!done) out += s.substr(i, end - i);
    i = end;
  }
  return out;
}

// ---- libsentencepiece, isolated ---------------------------------------------------------
// Debian's libsentencepiece.so.0 (0.1.97) carries its own copy of protobuf-lite 3.14 with default-visibility
// symbols; libtorch pulls in the system libprotobuf.so.32 (3.21). Linked into one process normally, whichever
// comes first in the global symbol scope hijacks the other's internals (segfault in libprotobuf's static init,
// or sentencepiece's "compiled against 3.14" abort). So the library is dlopen()ed with RTLD_LOCAL (its symbols
// stay out of the global scope) and RTLD_DEEPBIND (its own references resolve to its own protobuf first), and
// the few entry points used are looked up by their Itanium-mangled names and called with that ABI (member
// function = function taking `this` first; class results returned through a hidden pointer before `this`).
// Encoding uses EncodeAsSerializedProto and parses the SentencePieceText wire format below, so no
// sentencepiece/protobuf type crosses the boundary except std::string / std::string_view (same libstdc++).
namespace spm {

// Layout of sentencepiece::util::Status: one std::unique_ptr<Rep> (null = OK). User-provided destructor so
// it is returned the way Status is (through memory); the real destructor is called explicitly.
struct StatusBuf {
  void* rep = nullptr;
  StatusBuf() {}
  ~StatusBuf() {}
  StatusBuf(const StatusBuf&) = delete;
};

struct Api {
  void* handle = nullptr;
  std::string lib;
  void (*ctor)(void*) = nullptr;
  void (*dtor)(void*) = nullptr;
  StatusBuf (*load)(void*, std::string_view) = nullptr;
  void (*status_dtor)(void*) = nullptr;
  std::string (*status_to_string)(const void*) = nullptr;
  int (*piece_size)(const void*) = nullptr;
  const std::string& (*id_to_piece)(const void*, int) = nullptr;
  bool (*is_control)(const void*, int) = nullptr;
  std::string (*encode_serialized)(const void*, std::string_view) = nullptr;
};

const Api& api() {
  static Api a;
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    std::vector<std::string> names;
    if (const char* e = std::getenv("FOCALSCOPE_SENTENCEPIECE_LIB"); e && *e) names.push_back(e);
    names.push_back("libsentencepiece.so.0");
    names.push_back("libsentencepiece.so");
    std::string why;
    for (const auto& n : names) {
      a.handle = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (a.handle) { a.lib = n; break; }
      const char* d = dlerror();
      why += (why.empty() ? "" : "; ") + std::string(d ? d : n);
    }
    if (!a.handle) { error = "cannot load libsentencepiece (" + why + ")"; return; }
    auto sym = [&](auto& fn, const char* mangled) {
      void* p = dlsym(a.handle, mangled);
      if (!p && error.empty()) error = a.lib + ": missing symbol " + mangled + " (sentencepiece 0.1.9x expected)";
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
    };
    sym(a.ctor, "_ZN13sentencepiece22SentencePieceProcessorC1Ev");
    sym(a.dtor, "_ZN13sentencepiece22SentencePieceProcessorD1Ev");
    sym(a.load, "_ZN13sentencepiece22SentencePieceProcessor4LoadESt17basic_string_viewIcSt11char_traitsIcEE");
    sym(a.status_dtor, "_ZN13sentencepiece4util6StatusD1Ev");
    sym(a.status_to_string, "_ZNK13sentencepiece4util6Status8ToStringB5cxx11Ev");
    sym(a.piece_size, "_ZNK13sentencepiece22SentencePieceProcessor12GetPieceSizeEv");
    sym(a.id_to_piece, "_ZNK13sentencepiece22SentencePieceProcessor9IdToPieceB5cxx11Ei");
    sym(a.is_control, "_ZNK13sentencepiece22SentencePieceProcessor9IsControlEi");
    sym(a.encode_serialized,
        "_ZNK13sentencepiece22SentencePieceProcessor23EncodeAsSerializedProtoB5cxx11ESt17basic_string_viewIcSt11char_traitsIcEE");
  });
  if (!error.empty()) fail("tokenizer", error);
  return a;
}

// SentencePieceText {1: text, 2: repeated SentencePiece {1: piece, 2: id, 3: surface, 4: begin, 5: end}, 3: score},
// read with the shared bounded wire reader; unknown fields are skipped, malformed input throws.
std::vector<SpmPiece> parse_pieces(const std::string& ser) {
  std::vector<SpmPiece> out;
  try {
    spm_format::Wire w(ser);
    while (!w.done()) {
      const spm_format::Key key = spm_format::read_key(w);
      if (key.field == 2 && key.type == 2) {
        spm_format::Wire m(w.bytes());
        SpmPiece p;
        while (!m.done()) {
          const spm_format::Key k = spm_format::read_key(m);
          if (k.field == 1 && k.type == 2) p.piece = std::string(m.bytes());
          else if (k.field == 3 && k.type == 2) p.surface = std::string(m.bytes());
          else if (k.field == 2 && k.type == 0) p.id = static_cast<uint32_t>(m.varint());
          else if (k.field == 4 && k.type == 0) p.begin = static_cast<uint32_t>(m.varint());
          else if (k.field == 5 && k.type == 0) p.end = static_cast<uint32_t>(m.varint());
          else m.skip(k.type);
        }
        out.push_back(std::move(p));
      } else {
        w.skip(key.type);
      }
    }
  } catch (const spm_format::WireError& e) {
    fail("tokenizer", "SentencePiece returned a malformed SentencePieceText (" + e.what + ")");
  }
  return out;
}

// One sentencepiece::SentencePieceProcessor living in storage we own.
class Processor {
 public:
  Processor() : a_(api()) {
    // sizeof(SentencePieceProcessor) in 0.1.97 is a vtable pointer + 4 smart pointers; leave ample room.
    mem_ = ::operator new(kStorage, std::align_val_t(64));
    std::memset(mem_, 0, kStorage);
    a_.ctor(mem_);
  }
  ~Processor() {
    a_.dtor(mem_);
    ::operator delete(mem_, std::align_val_t(64));
  }
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  // Empty string on success, else the library's message.
  std::string load(const std::string& path) {
    StatusBuf st = a_.load(mem_, path);
    const bool ok = st.rep == nullptr;
    std::string msg;
    if (!ok) msg = a_.status_to_string(&st);
    a_.status_dtor(&st);
    if (ok) return "";
    return msg.empty() ? "unknown error" : msg;
  }
  int piece_size() const { return a_.piece_size(mem_); }
  std::string id_to_piece(int id) const { return a_.id_to_piece(mem_, id); }
  bool is_control(int id) const { return a_.is_control(mem_, id); }
  std::vector<SpmPiece> encode(std::string_view text) const { return parse_pieces(a_.encode_serialized(mem_, text)); }

 private:
  static constexpr size_t kStorage = 1024;
  const Api& a_;
  void* mem_ = nullptr;
};

}  // namespace spm

bool is_punct(char32_t c) {
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
  return c == 0xA1 || c == 0xA7 || c == 0xAB || c == 0xB6 || c == 0xB7 || c == 0xBB || c == 0xBF ||
         (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E) || (c >= 0x3001 && c <= 0x303F) ||
         (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) ||
         (c >= 0xFF5B && c <= 0xFF65);
}

}  // namespace

// ---- Tokenized ----------------------------------------------------------------------
at::Tensor Tokenized::ids_tensor() const {
  return at::tensor(at::ArrayRef<int64_t>(ids), at::kLong).reshape({1, seq_len});
}
at::Tensor Tokenized::mask_tensor() const {
  return at::tensor(at::ArrayRef<int64_t>(mask), at::kLong).reshape({1, seq_len});
}

// ---- WanTokenizer -------------------------------------------------------------------
// The switch point: one SentencePiece backend per tokenizer, both yielding SentencePieceText pieces (SpmPiece).
struct WanTokenizer::Impl {
  std::unique_ptr<spm::Processor> lib;  // libsentencepiece, isolated (above)
  std::unique_ptr<SpmNative> native;    // engine/text/spm_native.h
  int piece_size() const { return native ? native->piece_size() : lib->piece_size(); }
  std::string id_to_piece(int id) const { return native ? native->id_to_piece(id) : lib->id_to_piece(id); }
  bool is_control(int id) const { return native ? native->is_control(id) : lib->is_control(id); }
  std::vector<SpmPiece> encode(std::string_view text) const { return native ? native->encode(text) : lib->encode(text); }
};

namespace {
// True when this process runs under AddressSanitizer or ThreadSanitizer, whose runtimes abort on RTLD_DEEPBIND.
bool sanitizer_runtime_present() {
  return dlsym(RTLD_DEFAULT, "__asan_init") != nullptr || dlsym(RTLD_DEFAULT, "__tsan_init") != nullptr;
}
}  // namespace

SpmBackend WanTokenizer::default_backend() {
  if (const char* e = std::getenv("FOCALSCOPE_SPM"); e && *e) {
    const std::string v = e;
    if (v == "native") return SpmBackend::kNative;
    if (v == "library") return SpmBackend::kLibrary;
    fail("FOCALSCOPE_SPM", "must be 'native' or 'library', got '" + v + "'");
  }
  return sanitizer_runtime_present() ? SpmBackend::kNative : SpmBackend::kLibrary;
}

WanTokenizer::WanTokenizer(const std::string& path, SpmBackend backend, bool umt5_ids) : path_(path) {
  if (backend == SpmBackend::kAuto) backend = default_backend();
  if (!std::filesystem::is_regular_file(path)) fail(path, "tokenizer model (spiece.model) not found");
  std::string bytes;
  {
    // libsentencepiece trusts parts of the model it does not validate (the normaliser's trie): check them first.
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) fail(path, "cannot read the tokenizer model: " + ec.message());
    if (size > limits::kTokenizerModelMaxBytes)
      fail(path, "tokenizer model of " + std::to_string(size) + " bytes exceeds the limit of " + std::to_string(limits::kTokenizerModelMaxBytes));
    std::ifstream in(path, std::ios::binary);
    bytes.assign(static_cast<std::size_t>(size), '\0');
    if (!in || !in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) fail(path, "cannot read the tokenizer model");
    const std::string problem = check_sentencepiece_model(bytes);
    if (!problem.empty()) fail(path, "not a valid SentencePiece model (" + problem + ")");
  }
  impl_ = std::make_unique<Impl>();
  if (backend == SpmBackend::kNative) {
    impl_->native = std::make_unique<SpmNative>(bytes, path);
  } else {
    impl_->lib = std::make_unique<spm::Processor>();
    const std::string err = impl_->lib->load(path);
    if (!err.empty()) fail(path, "not a valid SentencePiece model (" + err + ")");
  }
  const int n = impl_->piece_size();
  if (n <= kUnkId) fail(path, "SentencePiece model has only " + std::to_string(n) + " pieces");
  if (umt5_ids && (impl_->id_to_piece(static_cast<int>(kEosId)) != "</s>" || !impl_->is_control(static_cast<int>(kEosId))))
    fail(path, "SentencePiece model has '" + impl_->id_to_piece(static_cast<int>(kEosId)) +
                   "' at id 1, expected the umT5 EOS piece '</s>'");
}

bool WanTokenizer::native() const { return impl_->native != nullptr; }

std::vector<SpmPiece> WanTokenizer::encode_pieces(std::string_view text) const { return impl_->encode(text); }

WanTokenizer::~WanTokenizer() = default;
WanTokenizer::WanTokenizer(WanTokenizer&&) noexcept = default;
WanTokenizer& WanTokenizer::operator=(WanTokenizer&&) noexcept = default;

std::string WanTokenizer::html_unescape(const std::string& text) {
  return utf8_encode(html_unescape_cp(utf8_decode(text, "prompt")));
}

std::string WanTokenizer::clean_whitespace(const std::string& text) {
  std::u32string s = ftfy_subset(utf8_decode(text, "prompt"));
  s = html_unescape_cp(html_unescape_cp(s));
  // strip, collapse every whitespace run to one space, strip (the first strip is subsumed).
  std::u32string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char32_t c : s) {
    if (py_isspace(c)) { pending_space = !out.empty(); continue; }
    if (pending_space) out += U' ';
    pending_space = false;
    out += c;
  }
  return utf8_encode(out);
}

int64_t WanTokenizer::vocab_size() const { return impl_->piece_size(); }

std::string WanTokenizer::id_to_piece(int64_t id) const {
  if (id < 0 || id >= vocab_size()) fail(path_, "token id " + std::to_string(id) + " is outside the vocabulary");
  return impl_->id_to_piece(static_cast<int>(id));
}

Tokenized WanTokenizer::encode(const std::string& text, int64_t seq_len) const {
  if (seq_len < 1) fail("tokenizer", "seq_len must be at least 1 (room for EOS), got " + std::to_string(seq_len));
  Tokenized r;
  r.prompt = text;
  r.cleaned = clean_whitespace(text);
  r.seq_len = seq_len;

  const std::vector<SpmPiece> pieces = impl_->encode(r.cleaned);

  // byte offset -> code point offset in the cleaned text
  std::vector<int64_t> char_at(r.cleaned.size() + 1, 0);
  int64_t chars = 0;
  for (size_t b = 0; b < r.cleaned.size(); ++b) {
    char_at[b] = chars;
    if ((static_cast<unsigned char>(r.cleaned[b]) & 0xC0) != 0x80) ++chars;
  }
  char_at[r.cleaned.size()] = chars;
  // A char offset for a byte offset inside a code point rounds up to the next boundary.
  auto to_char = [&](int64_t b) {
    b = std::clamp<int64_t>(b, 0, static_cast<int64_t>(r.cleaned.size()));
    while (b < static_cast<int64_t>(r.cleaned.size()) && (static_cast<unsigned char>(r.cleaned[b]) & 0xC0) == 0x80) ++b;
    return char_at[b];
  };

  const int64_t n = static_cast<int64_t>(pieces.size());
  r.num_pieces = n;
  r.truncated = n > seq_len - 1;
  const int64_t keep = std::min(n, seq_len - 1);
  r.tokens.reserve(keep + 1);
  for (int64_t i = 0; i < keep; ++i) {
    const SpmPiece& p = pieces[i];
    TokenInfo t;
    t.id = p.id;
    t.piece = p.piece;
    t.surface = p.surface;
    t.byte_begin = p.begin;
    t.byte_end = p.end;
    if (t.byte_begin > t.byte_end || t.byte_end > static_cast<int64_t>(r.cleaned.size()))
      fail(path_, "SentencePiece reported a span outside the prompt");
    t.char_begin = to_char(t.byte_begin);
    t.char_end = to_char(t.byte_end);
    r.tokens.push_back(std::move(t));
  }
  TokenInfo eos;
  eos.id = kEosId;
  eos.piece = impl_->id_to_piece(static_cast<int>(kEosId));
  eos.byte_begin = eos.byte_end = static_cast<int64_t>(r.cleaned.size());
  eos.char_begin = eos.char_end = chars;
  r.tokens.push_back(std::move(eos));

  r.ids.assign(seq_len, kPadId);
  r.mask.assign(seq_len, 0);
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    r.ids[i] = r.tokens[i].id;
    r.mask[i] = 1;
  }
  return r;
}

std::pair<at::Tensor, at::Tensor> WanTokenizer::encode_batch(const std::vector<std::string>& texts, int64_t seq_len) const {
  if (texts.empty()) fail("tokenizer", "no prompts to encode");
  std::vector<at::Tensor> ids, mask;
  for (const auto& t : texts) {
    Tokenized r = encode(t, seq_len);
    ids.push_back(r.ids_tensor());
    mask.push_back(r.mask_tensor());
  }
  return {at::cat(ids, 0), at::cat(mask, 0)};
}

std::vector<WordSpan> WanTokenizer::words(const std::string& prompt, int64_t seq_len) const {
  return words(encode(prompt, seq_len));
}

std::vector<WordSpan> WanTokenizer::words(const Tokenized& tk) {
  const std::string& text = tk.cleaned;
  const std::u32string cps = utf8_decode(text, "prompt");
  // code point index -> byte offset
  std::vector<int64_t> byte_of(cps.size() + 1, 0);
  {
    int64_t b = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
      byte_of[i] = b;
      std::string tmp;
      utf8_append(tmp, cps[i]);
      b += static_cast<int64_t>(tmp.size());
    }
    byte_of[cps.size()] = b;
  }
  const int64_t n_pieces = tk.length() - 1;  // EOS excluded
  std::vector<WordSpan> out;
  size_t i = 0;
  while (i < cps.size()) {
    if (cps[i] == U' ') { ++i; continue; }
    size_t j = i;
    while (j < cps.size() && cps[j] != U' ') ++j;
    size_t a = i, b = j;
    while (a < b && is_punct(cps[a])) ++a;
    while (b > a && is_punct(cps[b - 1])) --b;
    if (a < b) {
      WordSpan w;
      w.index = static_cast<int64_t>(out.size());
      w.char_begin = static_cast<int64_t>(a);
      w.char_end = static_cast<int64_t>(b);
      w.byte_begin = byte_of[a];
      w.byte_end = byte_of[b];
      w.word = text.substr(w.byte_begin, w.byte_end - w.byte_begin);
      for (int64_t t = 0; t < n_pieces; ++t) {
        const auto& tok = tk.tokens[t];
        if (tok.byte_begin < w.byte_end && tok.byte_end > w.byte_begin) w.tokens.push_back(t);
      }
      // A bare "▁" piece right before the word's first piece is part of the word's segmentation.
      if (!w.tokens.empty()) {
        const int64_t first = w.tokens.front();
        if (first > 0) {
          const auto& prev = tk.tokens[first - 1];
          const bool bare = prev.piece == "\xE2\x96\x81" &&
                            std::all_of(prev.surface.begin(), prev.surface.end(), [](char c) { return c == ' '; });
          if (bare) w.tokens.insert(w.tokens.begin(), first - 1);
        }
      }
      const int64_t covered_end = n_pieces > 0 ? tk.tokens[n_pieces - 1].byte_end : 0;
      w.truncated = tk.truncated && (w.tokens.empty() || covered_end < w.byte_end);
      out.push_back(std::move(w));
    }
    i = j;
  }
  return out;
}

bool is_blank_prompt(const std::string& prompt) { return WanTokenizer::clean_whitespace(prompt).empty(); }

void check_prompt_text(const std::string& text, const std::string& what) {
  if (text.size() > limits::kPromptMaxBytes)
    fail(what, "text of " + std::to_string(text.size()) + " bytes exceeds the limit of " + std::to_string(limits::kPromptMaxBytes) +
                   " bytes (umT5 reads at most 512 tokens)");
  if (const std::string bad = utf8_problem(text); !bad.empty()) fail(what, "text " + bad);
}

void validate_prompt(const std::string& prompt, const std::string& what) {
  check_prompt_text(prompt, what);
  if (is_blank_prompt(prompt))
    fail(what, "empty prompt (nothing is left after whitespace cleaning; Wan would encode it as a lone EOS token)");
}

}  // namespace focalscope
