// The one way FocalScope reads JSON (config.json, focalscope.json manifests, fixture configs, guidance configs, case
// files, shard indexes, safetensors headers, metadata strings). Header-only and torch-free, so the torch-free
// libraries (engine/shapes, analysis) and the fuzz harnesses use the same code.
//
// Checked while the document is built, in one non-recursive SAX pass (the DOM is never deeper than the limit, so no
// later recursive walk -- dump(), copies, comparisons -- can overflow the stack):
//   * size: the file / text is at most limits::kJsonMaxBytes (checked from the file size, before reading it);
//   * nesting: at most limits::kJsonMaxDepth levels of objects / arrays;
//   * strings and keys: at most limits::kJsonMaxStringBytes each;
//   * duplicate keys in one object are an error (the JSON library would keep the last one silently);
//   * numbers must be finite (1e999 is refused rather than read as infinity).
// Every failure throws focalscope::Error "<where>: <problem>" on one line, never the JSON library's own message.
#pragma once
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/limits.h"

namespace focalscope {

struct JsonReadOptions {
  uint64_t max_bytes = limits::kJsonMaxBytes;
  int max_depth = limits::kJsonMaxDepth;
  bool allow_duplicate_keys = false;
  std::string subject;  // what the text is, in errors: "<where>: <subject> is not valid JSON (...)" ("" = the file)
};

namespace json_detail {

// A one-line, bounded version of a message (the library quotes the offending token, which may be long).
inline std::string one_line(std::string s, std::size_t max = 300) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

// "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> "parse error at line 1, column 2: ..."
inline std::string strip_library_prefix(const std::string& what) {
  if (!what.empty() && what[0] == '[') {
    auto close = what.find("] ");
    if (close != std::string::npos) return what.substr(close + 2);
  }
  return what;
}

// Wraps the library's DOM builder and refuses what the options forbid as soon as it is seen.
class LimitedDom {
 public:
  using json = nlohmann::json;
  LimitedDom(json& root, const JsonReadOptions& o) : dom_(root, true), o_(o) {}

  bool null() { return value() && dom_.null(); }
  bool boolean(bool v) { return value() && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return value() && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value() && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    if (!std::isfinite(v)) return stop("number " + one_line(s, 40) + " is out of range");
    return value() && dom_.number_float(v, s);
  }
  bool string(json::string_t& v) {
    if (v.size() > limits::kJsonMaxStringBytes) return stop("a string of " + std::to_string(v.size()) + " bytes exceeds the limit of " + std::to_string(limits::kJsonMaxStringBytes));
    return value() && dom_.string(v);
  }
  bool binary(json::binary_t& v) { return value() && dom_.binary(v); }
  bool start_object(std::size_t n) {
    if (!open()) return false;
    keys_.emplace_back(o_.allow_duplicate_keys ? nullptr : new std::unordered_set<std::string>());
    return dom_.start_object(n);
  }
  bool key(json::string_t& k) {
    if (k.size() > limits::kJsonMaxStringBytes) return stop("a key of " + std::to_string(k.size()) + " bytes exceeds the limit");
    if (!keys_.empty() && keys_.back() && !keys_.back()->insert(k).second)
      return stop("duplicate key \"" + one_line(k, 80) + "\" in one object");
    return dom_.key(k);
  }
  bool end_object() {
    --depth_;
    if (!keys_.empty()) keys_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    if (!open()) return false;
    keys_.emplace_back(nullptr);
    return dom_.start_array(n);
  }
  bool end_array() {
    --depth_;
    if (!keys_.empty()) keys_.pop_back();
    return dom_.end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& ex) {
    if (problem_.empty()) problem_ = one_line(strip_library_prefix(ex.what()));
    return false;
  }
  const std::string& problem() const { return problem_; }

 private:
  static bool value() { return true; }
  bool open() {
    if (++depth_ > o_.max_depth)
      return stop("nested deeper than " + std::to_string(o_.max_depth) + " levels of objects / arrays");
    return true;
  }
  bool stop(const std::string& why) {
    if (problem_.empty()) problem_ = why;
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  JsonReadOptions o_;
  int depth_ = 0;
  std::vector<std::unique_ptr<std::unordered_set<std::string>>> keys_;
  std::string problem_;
};

}  // namespace json_detail

// Parses `text` (named `where` in errors: a path, or "path: metadata 'key'").
inline nlohmann::json parse_json_text(std::string_view text, const std::string& where, const JsonReadOptions& o = {}) {
  if (text.size() > o.max_bytes)
    throw Error(where + ": JSON text of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                std::to_string(o.max_bytes) + " bytes");
  nlohmann::json root;
  std::string problem;
  try {
    json_detail::LimitedDom sax(root, o);
    const bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json, true);
    if (!ok) problem = sax.problem().empty() ? "invalid JSON" : sax.problem();
  } catch (const nlohmann::json::exception& e) {
    problem = json_detail::one_line(json_detail::strip_library_prefix(e.what()));
  } catch (const std::bad_alloc&) {
    problem = "out of memory while parsing";
  }
  if (!problem.empty()) {
    root = nullptr;
    throw Error(where + ": " + (o.subject.empty() ? std::string("not valid JSON") : o.subject + " is not valid JSON") + " (" + problem + ")");
  }
  return root;
}

// Reads and parses a JSON file; the path names every error (missing, a directory, too large, invalid).
inline nlohmann::json read_json_file(const std::string& path, const JsonReadOptions& o = {}) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory, expected a JSON file");
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file, expected a JSON file");
  if (static_cast<uint64_t>(st.st_size) > o.max_bytes)
    throw Error(path + ": JSON file of " + std::to_string(st.st_size) + " bytes exceeds the limit of " +
                std::to_string(o.max_bytes) + " bytes");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  const std::size_t got = text.empty() ? 0 : std::fread(text.data(), 1, text.size(), f);
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) throw Error(path + ": read error");
  text.resize(got);
  if (text.empty()) throw Error(path + ": empty file, expected JSON");
  return parse_json_text(text, path, o);
}

// "an object" / "an array" / "a string" ... for messages like "<file>: top level is an array, expected an object".
inline std::string json_kind(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    case nlohmann::json::value_t::null: return "null";
    default: return "a value of another kind";
  }
}

// Removes the JSON library's "[json.exception.type_error.302] " tags from a message (they mean nothing to a user).
inline std::string scrub_library_tags(std::string s) {
  for (std::size_t at; (at = s.find("[json.exception.")) != std::string::npos;) {
    const std::size_t close = s.find("] ", at);
    if (close == std::string::npos) break;
    s.erase(at, close + 2 - at);
  }
  return s;
}

// Runs f(); a focalscope::Error or a JSON-library exception thrown while interpreting values read from `file` is
// re-thrown as one line naming the file (an Error that already names it is passed on unchanged). For config
// readers that do not know their file ("DiT config: dim must be ..." -> "<dir>/config.json: DiT config: ...").
template <class F>
auto naming_file(const std::string& file, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find(file) != std::string::npos) throw;
    throw Error(file + ": " + scrub_library_tags(what));
  } catch (const nlohmann::json::exception& e) {
    throw Error(file + ": " + json_detail::one_line(scrub_library_tags(e.what())));
  }
}

// Reads a JSON file whose top level must be an object.
inline nlohmann::json read_json_object_file(const std::string& path, const JsonReadOptions& o = {}) {
  nlohmann::json j = read_json_file(path, o);
  if (!j.is_object()) throw Error(path + ": top level is " + json_kind(j) + ", expected a JSON object");
  return j;
}

}  // namespace focalscope
