// UTF-8 validity of user text (prompts, keywords) checked where it enters, so an error names the flag or file it
// came from rather than the tokenizer's "prompt"; and the encoder both tokenizers use. Torch-free, header-only.
#pragma once
#include <string>
#include <string_view>

namespace focalscope {

// "" when `s` is valid UTF-8 without NUL bytes, else what is wrong and where (byte offset).
inline std::string utf8_problem(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return "contains a NUL byte at byte offset " + std::to_string(i);
    int n = 0;
    char32_t cp = 0;
    if (c < 0x80) n = 1, cp = c;
    else if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
    else return "is not valid UTF-8 (byte offset " + std::to_string(i) + ")";
    if (i + n > s.size()) return "is not valid UTF-8 (truncated sequence at byte offset " + std::to_string(i) + ")";
    for (int k = 1; k < n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return "is not valid UTF-8 (byte offset " + std::to_string(i + k) + ")";
      cp = (cp << 6) | (cc & 0x3F);
    }
    const bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return "is not valid UTF-8 (byte offset " + std::to_string(i) + ")";
    i += n;
  }
  return "";
}

// Appends code point cp (< 0x110000) as UTF-8.
inline void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace focalscope
