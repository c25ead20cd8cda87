#include "app/session/prompt_words.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace focalscope::session {

bool is_stop_word(const std::string& w) {
  static const std::set<std::string> kStop = {
      "a",    "an",   "the",  "to",   "of",   "in",   "on",   "at",    "by",   "for",  "with", "and",  "or",
      "is",   "are",  "be",   "it",   "its",  "into", "onto", "from",  "as",   "that", "this", "then", "than",
      "up",   "out",  "over", "while", "so",  "very", "some", "their", "his",  "her",  "they", "he",   "she",
      "until", "toward", "towards", "across", "through", "after", "before", "slowly", "quickly"};
  return kStop.count(w) != 0;
}

std::vector<std::string> prompt_words(const std::string& prompt) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    bool digits = std::all_of(cur.begin(), cur.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!digits && !is_stop_word(cur) && std::find(out.begin(), out.end(), cur) == out.end()) out.push_back(cur);
    cur.clear();
  };
  for (unsigned char c : prompt) {
    if (std::isalnum(c) || c >= 0x80 || c == '-' || c == '\'') {
      cur.push_back(c < 0x80 ? static_cast<char>(std::tolower(c)) : static_cast<char>(c));
    } else {
      flush();
    }
  }
  flush();
  // Trim stray hyphens/apostrophes at word ends ("ball's" stays, "-left" -> "left").
  for (auto& w : out) {
    while (!w.empty() && (w.front() == '-' || w.front() == '\'')) w.erase(w.begin());
    while (!w.empty() && (w.back() == '-' || w.back() == '\'')) w.pop_back();
  }
  out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());
  return out;
}

}  // namespace focalscope::session
