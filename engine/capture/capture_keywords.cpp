#include "engine/capture/capture_keywords.h"

#include <algorithm>
#include <cctype>

#include "engine/core/error.h"
#include "engine/text/tokenizer.h"

namespace focalscope {

namespace {
std::string lower_ascii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}
}  // namespace

std::vector<std::string> split_keyword_list(const std::string& comma_separated) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= comma_separated.size()) {
    size_t end = comma_separated.find(',', start);
    if (end == std::string::npos) end = comma_separated.size();
    std::string item = trim(comma_separated.substr(start, end - start));
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

std::vector<CaptureKeyword> resolve_keywords(const WanTokenizer& tokenizer, const std::string& prompt,
                                             const std::vector<std::string>& words, int64_t seq_len,
                                             int64_t row_offset) {
  const Tokenized tk = tokenizer.encode(prompt, seq_len);
  const std::vector<WordSpan> spans = WanTokenizer::words(tk);
  std::vector<CaptureKeyword> out;
  for (const auto& requested : words) {
    const std::string want = lower_ascii(trim(requested));
    if (want.empty()) fail("keyword", "empty keyword");
    for (const auto& k : out)
      if (lower_ascii(k.word) == want) fail("keyword '" + requested + "'", "listed twice");
    auto it = std::find_if(spans.begin(), spans.end(), [&](const WordSpan& w) { return lower_ascii(w.word) == want; });
    if (it == spans.end()) {
      std::string listed;
      for (const auto& w : spans) listed += (listed.empty() ? "" : " ") + w.word;
      fail("keyword '" + requested + "'", "not a word of the prompt (its words: " + listed + ")");
    }
    if (it->truncated || it->tokens.empty())
      fail("keyword '" + requested + "'", "its tokens fall past the " + std::to_string(seq_len - 1) +
                                              "-token limit of the text encoder (the prompt is truncated)");
    CaptureKeyword k;
    k.word = it->word;
    // A bare "▁" piece carries the word boundary, not the word: leave it out of the mean unless it is all there is.
    for (int64_t t : it->tokens) {
      const auto& piece = tk.tokens[static_cast<size_t>(t)].piece;
      if (piece != "\xE2\x96\x81") k.tokens.push_back(t);
    }
    if (k.tokens.empty()) k.tokens = it->tokens;
    for (auto& t : k.tokens) t += row_offset;
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace focalscope
