#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <random>
#include <set>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/text/spm_format.h"
#include "engine/text/spm_native.h"
#include "engine/text/tokenizer.h"
#include "engine/text/umt5.h"
#include "tests/test_util.h"

using focalscope::testing::error_of;
using namespace focalscope;
using focalscope::testing::close_to_ref;
using focalscope::testing::shared_fixture;

namespace {

std::string layout_dir() { return shared_fixture("wan_checkpoint_layout"); }
std::string spiece() { return layout_dir() + "/google/umt5-xxl/spiece.model"; }

nlohmann::json expected_tokens() {
  std::ifstream in(layout_dir() + "/expected_tokens.json");
  nlohmann::json j;
  in >> j;
  return j;
}

const WanTokenizer& tok() {
  static WanTokenizer t(spiece());
  return t;
}


std::vector<int64_t> to_vec(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous().flatten();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace

TEST(WanTokenizer, LoadErrorsNameTheFile) {
  std::string e = error_of([] { WanTokenizer t("/nonexistent/spiece.model"); });
  EXPECT_NE(e.find("/nonexistent/spiece.model"), std::string::npos) << e;
  const std::string bogus = layout_dir() + "/README.md";
  e = error_of([&] { WanTokenizer t(bogus); });
  EXPECT_NE(e.find(bogus), std::string::npos) << e;
  EXPECT_NE(e.find("SentencePiece"), std::string::npos) << e;
  EXPECT_EQ(tok().vocab_size(), 256);
  EXPECT_EQ(tok().id_to_piece(1), "</s>");
  EXPECT_EQ(tok().id_to_piece(0), "<pad>");
}

TEST(WanTokenizer, CleanWhitespaceAndHtml) {
  EXPECT_EQ(WanTokenizer::clean_whitespace("  Two   dogs\tplay\nin the snow!  "), "Two dogs play in the snow!");
  EXPECT_EQ(WanTokenizer::clean_whitespace("a &amp; b"), "a & b");
  EXPECT_EQ(WanTokenizer::clean_whitespace("a &amp;amp; b"), "a & b");          // unescaped twice
  EXPECT_EQ(WanTokenizer::clean_whitespace("a &amp;amp;amp; b"), "a &amp; b");  // but only twice
  EXPECT_EQ(WanTokenizer::clean_whitespace("&lt;b&gt; &quot;x&quot; &#39;y&#39;"), "<b> \"x\" 'y'");
  EXPECT_EQ(WanTokenizer::clean_whitespace("&#x4e2d;&#25991;"), "\xE4\xB8\xAD\xE6\x96\x87");
  EXPECT_EQ(WanTokenizer::clean_whitespace("a&nbsp;&nbsp;b\u3000c\u00a0"), "a b c");
  EXPECT_EQ(WanTokenizer::clean_whitespace("&ampx &copy2024 &unknown; & ;"), "&x \u00a92024 &unknown; & ;");
  EXPECT_EQ(WanTokenizer::clean_whitespace("&#128;&#0;&#xD800;&#1;x"), "\u20ac\ufffd\ufffdx");
  EXPECT_EQ(WanTokenizer::clean_whitespace("caf&eacute; &hellip; &mdash;"), "caf\u00e9 \u2026 \u2014");
  // ftfy steps that matter for prompts: curly quotes, ligatures, full-width ASCII.
  EXPECT_EQ(WanTokenizer::clean_whitespace("\u201cHi\u201d \u2018there\u2019 \ufb01ne \uff21\uff11\uff0c"), "\"Hi\" 'there' fine A1,");
  EXPECT_EQ(WanTokenizer::clean_whitespace(" \t\n\r "), "");
  EXPECT_EQ(WanTokenizer::html_unescape("x &amp;amp; y"), "x &amp; y");
  EXPECT_NE(error_of([] { WanTokenizer::clean_whitespace("bad \xff utf8"); }).find("UTF-8"), std::string::npos);
}

TEST(WanTokenizer, ExpectedTokensFivePrompts) {
  const auto j = expected_tokens();
  ASSERT_EQ(j["cases"].size(), 5u);
  const int64_t L = j["text_len"].get<int64_t>();
  ASSERT_EQ(L, 512);
  for (const auto& c : j["cases"]) {
    SCOPED_TRACE("prompt " + std::to_string(c["index"].get<int>()));
    const std::string prompt = c["prompt"].get<std::string>();
    EXPECT_EQ(WanTokenizer::clean_whitespace(prompt), c["cleaned"].get<std::string>());
    Tokenized t = tok().encode(prompt, L);
    EXPECT_EQ(t.cleaned, c["cleaned"].get<std::string>());
    EXPECT_EQ(t.num_pieces, c["n_no_eos"].get<int64_t>());
    EXPECT_EQ(t.truncated, c["truncated"].get<bool>());
    const auto with_eos = c["ids_with_eos"].get<std::vector<int64_t>>();
    ASSERT_EQ(t.length(), c["seq_len_with_eos"].get<int64_t>());
    ASSERT_EQ(static_cast<int64_t>(with_eos.size()), t.length());
    ASSERT_EQ(static_cast<int64_t>(t.ids.size()), L);
    for (int64_t i = 0; i < L; ++i) {
      EXPECT_EQ(t.ids[i], i < t.length() ? with_eos[i] : 0) << i;
      EXPECT_EQ(t.mask[i], i < t.length() ? 1 : 0) << i;
    }
    EXPECT_EQ(t.tokens.back().id, 1);
    if (c.contains("pieces_no_eos")) {  // not recorded for the long prompt
      const auto pieces = c["pieces_no_eos"].get<std::vector<std::string>>();
      ASSERT_EQ(static_cast<int64_t>(pieces.size()) + 1, t.length());
      for (int64_t i = 0; i + 1 < t.length(); ++i) EXPECT_EQ(t.tokens[i].piece, pieces[i]) << i;
    }
    // surfaces reassemble the cleaned text (kept part)
    std::string joined;
    for (const auto& k : t.tokens) joined += k.surface;
    EXPECT_EQ(joined, t.cleaned.substr(0, joined.size()));
    for (const auto& k : t.tokens) {
      EXPECT_EQ(t.cleaned.substr(k.byte_begin, k.byte_end - k.byte_begin), k.surface);
      EXPECT_LE(k.char_begin, k.char_end);
    }
  }
  // The truncated case: exactly 512 ids, EOS last, the last pieces as recorded.
  Tokenized t4 = tok().encode(j["cases"][4]["prompt"].get<std::string>());
  EXPECT_EQ(t4.length(), 512);
  EXPECT_EQ(t4.ids[511], 1);
  EXPECT_EQ(std::vector<int64_t>(t4.ids.end() - 8, t4.ids.end()), (std::vector<int64_t>{32, 8, 22, 7, 3, 116, 125, 1}));
}

TEST(WanTokenizer, MatchesHfIdsAndMasks) {
  const std::string io_path = layout_dir() + "/io_umt5_bf16.safetensors";
  TensorSet io = load_safetensors(io_path);
  const auto j = expected_tokens();
  std::vector<std::string> prompts;
  for (const auto& c : j["cases"]) prompts.push_back(c["prompt"].get<std::string>());
  for (size_t i = 0; i < prompts.size(); ++i) {
    Tokenized t = tok().encode(prompts[i]);
    const std::string p = "prompt" + std::to_string(i);
    EXPECT_TRUE(at::equal(t.ids_tensor(), io.get(p + "_ids").to(at::kLong))) << p;
    EXPECT_TRUE(at::equal(t.mask_tensor(), io.get(p + "_mask").to(at::kLong))) << p;
  }
  auto [ids, mask] = tok().encode_batch(prompts);
  EXPECT_EQ(ids.sizes(), (std::vector<int64_t>{5, 512}));
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_TRUE(at::equal(ids[i], io.get("prompt" + std::to_string(i) + "_ids")[0].to(at::kLong)));
}

TEST(WanTokenizer, EndToEndTextToContext) {
  const std::string pth = layout_dir() + "/models_t5_umt5-xxl-enc-bf16.pth";
  if (!std::filesystem::exists(pth)) GTEST_SKIP() << "no " << pth;
  UMT5Encoder enc = UMT5Encoder::load(load_pth(pth));
  TensorSet io = load_safetensors(layout_dir() + "/io_umt5_bf16.safetensors");
  const auto j = expected_tokens();
  double worst = 0;
  for (size_t i = 0; i < j["cases"].size(); ++i) {
    Tokenized t = tok().encode(j["cases"][i]["prompt"].get<std::string>());
    auto ctx = enc.encode_trimmed(t.ids_tensor(), t.mask_tensor());
    ASSERT_EQ(ctx.size(), 1u);
    const at::Tensor& ref = io.get("prompt" + std::to_string(i) + "_context");
    EXPECT_EQ(ctx[0].size(0), t.length());
    EXPECT_TRUE(close_to_ref(ctx[0], ref, 1e-4)) << "prompt " << i;
    if (ctx[0].sizes() == ref.sizes())
      worst = std::max(worst, (ctx[0] - ref).abs().max().item<double>() / std::max(1.0, ref.abs().max().item<double>()));
  }
  std::printf("[parity] text -> ids -> umT5 (BF16 .pth): 5 prompts, worst relative error %.3g\n", worst);
}

TEST(WanTokenizer, WordsToTokenPositions) {
  auto find = [](const std::vector<WordSpan>& ws, const std::string& w) -> const WordSpan* {
    for (const auto& x : ws)
      if (x.word == w) return &x;
    return nullptr;
  };
  using V = std::vector<int64_t>;
  // 0: ▁A ▁c at ▁wa l ks ▁on ▁the ▁grass , ▁rea list ic ▁style .
  auto w0 = tok().words("A cat walks on the grass, realistic style.");
  ASSERT_EQ(w0.size(), 8u);
  EXPECT_EQ(w0[0].word, "A");
  EXPECT_EQ(w0[0].tokens, V{0});
  EXPECT_EQ(find(w0, "cat")->tokens, (V{1, 2}));
  EXPECT_EQ(find(w0, "walks")->tokens, (V{3, 4, 5}));
  EXPECT_EQ(find(w0, "grass")->tokens, V{8});  // the comma (9) is not part of the word
  EXPECT_EQ(find(w0, "realistic")->tokens, (V{10, 11, 12}));
  EXPECT_EQ(find(w0, "style")->tokens, V{13});
  EXPECT_EQ(w0[7].index, 7);
  // 1 (raw prompt with messy whitespace): ▁T wo ▁dog s ▁ play ▁in ▁the ▁snow !
  auto w1 = tok().words("  Two   dogs\tplay\nin the snow!  ");
  ASSERT_EQ(w1.size(), 6u);
  EXPECT_EQ(w1[0].tokens, (V{0, 1}));
  EXPECT_EQ(w1[1].word, "dogs");
  EXPECT_EQ(w1[1].tokens, (V{2, 3}));
  EXPECT_EQ(w1[2].word, "play");
  EXPECT_EQ(w1[2].tokens, (V{4, 5}));  // bare "▁" + "play"
  EXPECT_EQ(w1[5].word, "snow");
  EXPECT_EQ(w1[5].tokens, V{8});
  EXPECT_EQ(w1[5].byte_begin, 21);  // in the cleaned "Two dogs play in the snow!"
  EXPECT_EQ(w1[5].byte_end, 25);
  // 2: "Close-up" keeps its inner hyphen; "&" alone is punctuation and not a word.
  auto w2 = tok().words("Close-up of a red car &amp; a blue bike at 8 PM");
  EXPECT_EQ(w2[0].word, "Close-up");
  EXPECT_EQ(w2[0].tokens, (V{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(find(w2, "&"), nullptr);
  EXPECT_EQ(find(w2, "blue")->tokens, (V{15, 16, 17}));
  EXPECT_EQ(find(w2, "PM")->tokens, V{23});
  // 3: an unknown CJK run is one <unk> token (with the dummy-prefix "▁"); char spans count code points.
  auto w3 = tok().words("镜头晃动 A woman smiles at the camera, 4K.");
  EXPECT_EQ(w3[0].word, "镜头晃动");
  EXPECT_EQ(w3[0].tokens, (V{0, 1}));
  EXPECT_EQ(w3[0].char_end - w3[0].char_begin, 4);
  EXPECT_EQ(w3[0].byte_end - w3[0].byte_begin, 12);
  EXPECT_EQ(find(w3, "4K")->tokens, (V{11, 12}));
  EXPECT_EQ(find(w3, "camera")->tokens, V{9});
  Tokenized t3 = tok().encode("镜头晃动 A woman smiles at the camera, 4K.");
  EXPECT_EQ(t3.tokens[2].char_begin, 4);  // " A" starts after the 4 CJK characters
  EXPECT_EQ(t3.tokens[2].byte_begin, 12);
  // 4: truncation — words past piece 511 have no tokens and are flagged.
  const std::string long_prompt = expected_tokens()["cases"][4]["prompt"].get<std::string>();
  auto w4 = tok().words(long_prompt);
  EXPECT_EQ(w4.size(), 360u);
  EXPECT_FALSE(w4.front().truncated);
  EXPECT_TRUE(w4.back().truncated);
  EXPECT_TRUE(w4.back().tokens.empty());
  for (const auto& w : w4)
    for (int64_t p : w.tokens) EXPECT_LT(p, 511);
}

TEST(WanTokenizer, EmptyPromptAndValidation) {
  Tokenized t = tok().encode("");
  EXPECT_EQ(t.length(), 1);
  EXPECT_EQ(t.ids[0], 1);
  EXPECT_EQ(std::accumulate(t.mask.begin(), t.mask.end(), int64_t{0}), 1);
  EXPECT_EQ(std::accumulate(t.ids.begin(), t.ids.end(), int64_t{0}), 1);
  EXPECT_TRUE(tok().words("   ").empty());
  EXPECT_TRUE(is_blank_prompt(" \t\n "));
  EXPECT_TRUE(is_blank_prompt("&nbsp;"));
  EXPECT_FALSE(is_blank_prompt("a cat"));
  std::string e = error_of([] { validate_prompt("  ", "--prompt"); });
  EXPECT_NE(e.find("--prompt"), std::string::npos) << e;
  EXPECT_NE(e.find("empty"), std::string::npos) << e;
  EXPECT_EQ(error_of([] { validate_prompt("a cat"); }), "");
}

TEST(WanTokenizer, ShortSeqLenTruncatesKeepingEos) {
  Tokenized t = tok().encode("A cat walks on the grass", 4);
  EXPECT_TRUE(t.truncated);
  EXPECT_EQ(t.ids, (std::vector<int64_t>{10, 25, 29, 1}));
  EXPECT_EQ(t.mask, (std::vector<int64_t>{1, 1, 1, 1}));
  Tokenized u = tok().encode("A cat", 8);
  EXPECT_FALSE(u.truncated);
  EXPECT_EQ(u.ids, (std::vector<int64_t>{10, 25, 29, 1, 0, 0, 0, 0}));
  EXPECT_NE(error_of([] { tok().encode("x", 0); }).find("seq_len"), std::string::npos);
}

// ---- native SentencePiece encoder vs libsentencepiece ------------------------------------------------------------
namespace {

std::string shapes_spiece() { return std::string(FOCALSCOPE_SOURCE_DIR) + "/assets/models/shapes/spiece.model"; }

// The library cannot be loaded under ASan / TSan (RTLD_DEEPBIND); the parity tests need it.
bool library_loadable() {
  return dlsym(RTLD_DEFAULT, "__asan_init") == nullptr && dlsym(RTLD_DEFAULT, "__tsan_init") == nullptr;
}

// Every string under a "*prompt*" key of the Shapes benchmark cases, plus the fixture's five prompts.
std::vector<std::string> bench_prompts() {
  std::set<std::string> found;
  std::function<void(const nlohmann::json&, const std::string&)> walk = [&](const nlohmann::json& j, const std::string& key) {
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), it.key());
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v, key);
    } else if (j.is_string() && key.find("prompt") != std::string::npos) {
      found.insert(j.get<std::string>());
    }
  };
  const std::filesystem::path root = std::filesystem::path(FOCALSCOPE_SOURCE_DIR) / "assets/bench";
  for (const auto& e : std::filesystem::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().filename() == "case.json") {
      std::ifstream in(e.path());
      walk(nlohmann::json::parse(in), "");
    }
  for (const auto& c : expected_tokens()["cases"]) found.insert(c["prompt"].get<std::string>());
  return {found.begin(), found.end()};
}

void append_cp(std::string& s, uint32_t cp) {
  if (cp < 0x80) s += char(cp);
  else if (cp < 0x800) s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
  else if (cp < 0x10000) s += char(0xE0 | (cp >> 12)), s += char(0x80 | ((cp >> 6) & 0x3F)), s += char(0x80 | (cp & 0x3F));
  else s += char(0xF0 | (cp >> 18)), s += char(0x80 | ((cp >> 12) & 0x3F)), s += char(0x80 | ((cp >> 6) & 0x3F)), s += char(0x80 | (cp & 0x3F));
}

// Strings meant to reach every branch of the normaliser and the Viterbi: ASCII words / punctuation / whitespace runs,
// characters NFKC rewrites, emoji, control characters, malformed UTF-8, empty and whitespace-only. Fixed seed.
std::vector<std::string> generated_strings(size_t count) {
  std::mt19937 rng(20240611u);
  auto pick = [&](size_t n) { return static_cast<size_t>(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };
  auto range = [&](uint32_t a, uint32_t b) { return std::uniform_int_distribution<uint32_t>(a, b)(rng); };
  static const char* words[] = {"the", "The", "red", "ball", "bounces", "triangle", "circle", "square", "moves", "left",
                                "right", "and", "a", "cat", "walks", "on", "grass", "realistic", "style", "Close-up",
                                "of", "camera", "4K", "8", "PM", "woman", "smiles", "purple", "disc", "orbits", "block",
                                "xyz", "qqq", "Zebra", "HELLO", "don't", "e.g.", "www", "3.14", "1999", "@user", "#tag"};
  static const char* puncts[] = {".", ",", "!", "?", ";", ":", "-", "--", "...", "'", "\"", "(", ")", "[", "]", "{", "}",
                                 "/", "\\", "&", "*", "+", "=", "<", ">", "|", "~", "^", "%", "$", "_", "`"};
  static const char* spaces[] = {" ", "  ", "   ", "\t", "\n", "\r\n", " \t ", "\f", "\v", "\r", "    \n\t"};
  // Code point ranges that NFKC (nmt_nfkc) changes or that are otherwise interesting.
  static const std::pair<uint32_t, uint32_t> unicode[] = {
      {0xFF01, 0xFF5E}, {0xFB00, 0xFB06}, {0x00B2, 0x00B3}, {0x00B9, 0x00B9}, {0x2070, 0x209C}, {0x2460, 0x24FF},
      {0x3300, 0x33FF}, {0xF900, 0xFAFF}, {0x1100, 0x11FF}, {0x3131, 0x318E}, {0xAC00, 0xD7A3}, {0x0300, 0x036F},
      {0xFB50, 0xFDFF}, {0xFE70, 0xFEFC}, {0x00A0, 0x00FF}, {0x0370, 0x03FF}, {0x0400, 0x04FF}, {0x4E00, 0x9FFF},
      {0x2000, 0x200F}, {0x2028, 0x202F}, {0x3000, 0x3003}, {0xFE00, 0xFE0F}, {0x2150, 0x218F}, {0x1D400, 0x1D7FF},
      {0xFF61, 0xFFDC}, {0x0E00, 0x0E7F}, {0x0900, 0x097F}, {0xFFF9, 0xFFFD}, {0x1F100, 0x1F1FF}};
  static const std::pair<uint32_t, uint32_t> emoji[] = {{0x1F300, 0x1F6FF}, {0x1F900, 0x1F9FF}, {0x2600, 0x27BF},
                                                        {0x1F3FB, 0x1F3FF}, {0x1FA70, 0x1FAFF}};
  static const char* malformed[] = {"\x80", "\xBF", "\x80\x80", "\xC3", "\xE4\xB8", "\xF0\x9F\x98", "\xC0\xAF",
                                    "\xC1\xBF", "\xE0\x80\xAF", "\xF0\x80\x80\xAF", "\xED\xA0\x80", "\xED\xBF\xBF",
                                    "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xF8\x88\x80\x80\x80", "\xFE", "\xFF",
                                    "\xC3\x28", "\xE2\x28\xA1", "\xEF\xBF\xBD", "\xEF\xBF\xBE"};
  auto segment = [&](std::string& s) {
    switch (pick(10)) {
      case 0: case 1: case 2: {
        if (pick(3) == 0) {
          for (size_t n = 1 + pick(8); n--;) s += char('a' + pick(26) - (pick(4) == 0 ? 32 : 0));
        } else {
          s += words[pick(std::size(words))];
        }
        break;
      }
      case 3: s += puncts[pick(std::size(puncts))]; break;
      case 4: s += spaces[pick(std::size(spaces))]; break;
      case 5: case 6: {
        const auto& r = unicode[pick(std::size(unicode))];
        for (size_t n = 1 + pick(3); n--;) append_cp(s, range(r.first, r.second));
        break;
      }
      case 7: {
        const auto& r = emoji[pick(std::size(emoji))];
        append_cp(s, range(r.first, r.second));
        if (pick(3) == 0) append_cp(s, 0xFE0F);
        if (pick(4) == 0) append_cp(s, 0x200D), append_cp(s, range(0x1F466, 0x1F469));
        break;
      }
      case 8: {
        const uint32_t cp = pick(3) == 0 ? range(0x80, 0x9F) : (pick(8) == 0 ? 0x7F : range(0x00, 0x1F));
        append_cp(s, cp);
        break;
      }
      default: s += malformed[pick(std::size(malformed))]; break;
    }
  };
  std::vector<std::string> out = {"", " ", "  ", "\t", "\n", " \t\n\r\f\v ", "\xE3\x80\x80", "\xC2\xA0 \xC2\xA0",
                                  std::string(1, '\0'), std::string("a\0b", 3), "\xE2\x96\x81", "\xE2\x96\x81\xE2\x96\x81x"};
  while (out.size() < count) {
    std::string s;
    if (pick(4) == 0) s += spaces[pick(std::size(spaces))];  // leading whitespace
    for (size_t n = 1 + pick(14); n--;) {
      segment(s);
      if (pick(2) == 0) s += ' ';
    }
    if (pick(4) == 0) s += spaces[pick(std::size(spaces))];  // trailing whitespace
    out.push_back(std::move(s));
  }
  return out;
}

// Uniformly random bytes, 0 to 39 of them (fixed seed).
std::vector<std::string> random_bytes(size_t count) {
  std::mt19937 rng(99);
  std::vector<std::string> out;
  for (size_t n = 0; n < count; ++n) {
    std::string t(rng() % 40, '\0');
    for (char& c : t) c = static_cast<char>(rng() & 0xFF);
    out.push_back(std::move(t));
  }
  return out;
}

std::string printable(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') o += char(c);
    else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02X", c);
      o += b;
    }
  }
  return o;
}

std::string describe(const std::vector<SpmPiece>& v) {
  std::string o;
  for (const auto& p : v)
    o += "[" + std::to_string(p.id) + " '" + printable(p.piece) + "' '" + printable(p.surface) + "' " +
         std::to_string(p.begin) + "-" + std::to_string(p.end) + "] ";
  return o;
}

// Compares the two backends on `texts`: the raw SentencePiece layer on every string, and WanTokenizer::encode (after
// clean_whitespace) on those it accepts. Returns {raw compared, encode compared, mismatches}; reports at most 10.
struct Compared {
  size_t raw = 0, full = 0, differ = 0;
};
Compared compare_backends(const WanTokenizer& lib, const WanTokenizer& nat,
                                           const std::vector<std::string>& texts, const std::string& what) {
  size_t raw = 0, full = 0, failures = 0;
  for (const auto& t : texts) {
    if (failures > 0 && failures >= 10) break;
    const auto a = lib.encode_pieces(t), b = nat.encode_pieces(t);
    ++raw;
    if (a != b && failures++ < 10)
      ADD_FAILURE() << what << ": raw '" << printable(t) << "'\n  library: " << describe(a) << "\n  native:  " << describe(b);
    std::string cleaned;
    try {
      cleaned = WanTokenizer::clean_whitespace(t);
    } catch (const Error&) {
      continue;  // malformed UTF-8: encode() refuses it before SentencePiece
    }
    const Tokenized x = lib.encode(t, 64), y = nat.encode(t, 64);
    ++full;
    bool same = x.cleaned == y.cleaned && x.ids == y.ids && x.mask == y.mask && x.num_pieces == y.num_pieces &&
                x.truncated == y.truncated && x.tokens.size() == y.tokens.size();
    for (size_t i = 0; same && i < x.tokens.size(); ++i) {
      const auto &p = x.tokens[i], &q = y.tokens[i];
      same = p.id == q.id && p.piece == q.piece && p.surface == q.surface && p.byte_begin == q.byte_begin &&
             p.byte_end == q.byte_end && p.char_begin == q.char_begin && p.char_end == q.char_end;
    }
    if (!same && failures++ < 10) ADD_FAILURE() << what << ": encode('" << printable(t) << "') differs";
  }
  return {raw, full, failures};
}

// A copy of a model file with changes: piece types overridden, pieces appended, and extra fields appended to the
// trainer / normaliser specs (protobuf: the last value of a field wins).
struct ModelEdit {
  std::vector<std::pair<size_t, int>> piece_types;        // (index, SentencePiece.Type)
  std::vector<std::pair<std::string, int>> extra_pieces;  // (piece, type), score 0
  std::vector<std::pair<std::string, float>> scored_pieces;  // NORMAL pieces with a score
  std::string trainer_extra, normalizer_extra;            // serialised fields
};
void put_varint(std::string& o, uint64_t v) {
  while (v >= 0x80) o += char(0x80 | (v & 0x7F)), v >>= 7;
  o += char(v);
}
void put_bytes(std::string& o, int field, std::string_view b) {
  put_varint(o, uint64_t(field) << 3 | 2);
  put_varint(o, b.size());
  o.append(b);
}
std::string varint_field(int field, uint64_t v) {
  std::string o;
  put_varint(o, uint64_t(field) << 3);
  put_varint(o, v);
  return o;
}
std::string edited_model(const std::string& path, const ModelEdit& e, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string out;
  spm_format::Wire w(bytes);
  size_t index = 0;
  auto add_piece = [&](const std::string& p, int type) {
    std::string m;
    put_bytes(m, 1, p);
    m += varint_field(3, type);
    put_bytes(out, 1, m);
  };
  bool appended = false;
  while (!w.done()) {
    const auto k = spm_format::read_key(w);
    EXPECT_EQ(k.type, 2);
    std::string body(w.bytes());
    if (k.field != 1 && !appended) {
      for (const auto& [p, t] : e.extra_pieces) add_piece(p, t);
      for (const auto& [p, score] : e.scored_pieces) {
        std::string m;
        put_bytes(m, 1, p);
        uint32_t u;
        std::memcpy(&u, &score, 4);
        m += char(2 << 3 | 5);
        for (int i = 0; i < 4; ++i) m += char((u >> (8 * i)) & 0xFF);
        put_bytes(out, 1, m);
      }
      appended = true;
    }
    if (k.field == 1) {
      for (const auto& [i, t] : e.piece_types)
        if (i == index) body += varint_field(3, t);
      ++index;
    } else if (k.field == 2) {
      body += e.trainer_extra;
    } else if (k.field == 3) {
      body += e.normalizer_extra;
    }
    put_bytes(out, k.field, body);
  }
  const std::string file = focalscope::testing::temp_dir("spm") + "/" + name + ".model";
  std::ofstream(file, std::ios::binary) << out;
  return file;
}

}  // namespace

TEST(SpmNative, BackendSwitch) {
  const char* old = std::getenv("FOCALSCOPE_SPM");
  const std::string saved = old ? old : "";
  setenv("FOCALSCOPE_SPM", "native", 1);
  EXPECT_EQ(WanTokenizer::default_backend(), SpmBackend::kNative);
  EXPECT_TRUE(WanTokenizer(spiece()).native());
  setenv("FOCALSCOPE_SPM", "library", 1);
  EXPECT_EQ(WanTokenizer::default_backend(), SpmBackend::kLibrary);
  setenv("FOCALSCOPE_SPM", "bogus", 1);
  EXPECT_NE(error_of([] { WanTokenizer::default_backend(); }).find("FOCALSCOPE_SPM"), std::string::npos);
  unsetenv("FOCALSCOPE_SPM");
  EXPECT_EQ(WanTokenizer::default_backend(), library_loadable() ? SpmBackend::kLibrary : SpmBackend::kNative);
  if (old) setenv("FOCALSCOPE_SPM", saved.c_str(), 1);
  EXPECT_TRUE(WanTokenizer(spiece(), SpmBackend::kNative).native());
  EXPECT_EQ(WanTokenizer(spiece(), SpmBackend::kNative).vocab_size(), 256);
  EXPECT_EQ(WanTokenizer(spiece(), SpmBackend::kNative).id_to_piece(1), "</s>");
}

TEST(SpmNative, RefusesWhatItDoesNotSupport) {
  ModelEdit bpe;
  bpe.trainer_extra = varint_field(3, 2);  // model_type BPE
  const std::string file = edited_model(spiece(), bpe, "bpe");
  const std::string e = error_of([&] { WanTokenizer t(file, SpmBackend::kNative); });
  EXPECT_NE(e.find(file), std::string::npos) << e;
  EXPECT_NE(e.find("BPE"), std::string::npos) << e;
  ModelEdit no_unk;
  no_unk.piece_types = {{2, 1}};  // <unk> made NORMAL
  const std::string f2 = edited_model(spiece(), no_unk, "nounk");
  EXPECT_NE(error_of([&] { WanTokenizer t(f2, SpmBackend::kNative); }).find("unk is not defined"), std::string::npos);
  ModelEdit stray_byte;
  stray_byte.extra_pieces = {{"<0x41>", 6}};  // BYTE piece without byte_fallback
  const std::string f3 = edited_model(spiece(), stray_byte, "straybyte");
  EXPECT_NE(error_of([&] { WanTokenizer t(f3, SpmBackend::kNative); }).find("byte_fallback"), std::string::npos);
}

// Runs without the library too (so under ASan / TSan it exercises the native encoder's memory safety): any bytes
// encode, and every piece's span is a slice of the input whose text is its surface.
TEST(SpmNative, EncodesAnyBytes) {
  std::vector<std::string> texts = generated_strings(3000);
  for (auto& t : random_bytes(500)) texts.push_back(std::move(t));
  for (const std::string& model : {shapes_spiece(), spiece()}) {
    const WanTokenizer nat(model, SpmBackend::kNative);
    size_t pieces = 0;
    for (const auto& t : texts) {
      uint32_t prev_begin = 0;
      for (const SpmPiece& p : nat.encode_pieces(t)) {
        ++pieces;
        ASSERT_LE(p.begin, p.end) << printable(t);
        ASSERT_LE(p.end, t.size()) << printable(t);
        ASSERT_GE(p.begin, prev_begin) << printable(t);
        ASSERT_EQ(p.surface, t.substr(p.begin, p.end - p.begin)) << printable(t);
        ASSERT_FALSE(p.piece.empty());
        ASSERT_LT(p.id, static_cast<uint32_t>(nat.vocab_size()));
        prev_begin = p.begin;
      }
    }
    std::printf("[spm native] %s: %zu strings, %zu pieces\n",
                std::filesystem::path(model).parent_path().filename().c_str(), texts.size(), pieces);
  }
}

TEST(SpmNative, MatchesLibraryOnBothModels) {
  if (!library_loadable()) GTEST_SKIP() << "libsentencepiece cannot be loaded under a sanitizer";
  const std::vector<std::string> prompts = bench_prompts();
  std::vector<std::string> generated = generated_strings(4000);
  for (auto& t : random_bytes(500)) generated.push_back(std::move(t));
  ASSERT_GE(prompts.size(), 400u);  // 496 distinct today (prompt + source_prompt of 402 cases, the 5 fixture prompts)
  for (const std::string& model : {shapes_spiece(), spiece()}) {
    SCOPED_TRACE(model);
    const WanTokenizer lib(model, SpmBackend::kLibrary), nat(model, SpmBackend::kNative);
    ASSERT_FALSE(lib.native());
    ASSERT_TRUE(nat.native());
    ASSERT_EQ(lib.vocab_size(), nat.vocab_size());
    for (int64_t id = 0; id < lib.vocab_size(); ++id) ASSERT_EQ(lib.id_to_piece(id), nat.id_to_piece(id)) << id;
    const Compared p = compare_backends(lib, nat, prompts, "prompts");
    const Compared g = compare_backends(lib, nat, generated, "generated");
    std::printf("[spm parity] %s: benchmark prompts %zu raw + %zu encode, generated %zu raw + %zu encode, %zu differ\n",
                std::filesystem::path(model).parent_path().filename().c_str(), p.raw, p.full, g.raw, g.full,
                p.differ + g.differ);
    // Speed of the two backends on the benchmark prompts (informational).
    for (const WanTokenizer* t : {&lib, &nat}) {
      const auto t0 = std::chrono::steady_clock::now();
      size_t n = 0;
      for (int rep = 0; rep < 5; ++rep)
        for (const auto& p : prompts) n += t->encode(p).tokens.size();
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      std::printf("[spm speed] %-7s %.1f us / prompt (encode, %zu prompts x 5, %zu tokens)\n",
                  t->native() ? "native" : "library", us / (5.0 * prompts.size()), prompts.size(), n);
    }
  }
}

// Features the two shipped models do not use, switched on in edited copies of them and compared the same way.
TEST(SpmNative, MatchesLibraryOnModelVariants) {
  if (!library_loadable()) GTEST_SKIP() << "libsentencepiece cannot be loaded under a sanitizer";
  const std::vector<std::string> texts = generated_strings(1500);
  std::vector<std::pair<std::string, ModelEdit>> variants;
  {
    ModelEdit e;  // USER_DEFINED and UNUSED pieces, new user-defined symbols (incl. a space-led and an overlapping one)
    e.piece_types = {{5, 4}, {9, 4}, {12, 4}, {20, 4}, {6, 5}, {7, 5}, {11, 5}, {30, 5}, {31, 5}};
    e.extra_pieces = {{"<sep>", 4}, {"<se", 4}, {"ab", 4}, {"\xE2\x96\x81" "xyz", 4}, {" q", 4}, {"\xEF\xBC\xA1", 4}};
    variants.emplace_back("user_unused", e);
  }
  {
    ModelEdit e;  // byte fallback with the 256 <0xXX> pieces
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      e.extra_pieces.emplace_back(buf, 6);
    }
    e.trainer_extra = varint_field(35, 1);
    variants.emplace_back("byte_fallback", e);
  }
  {
    ModelEdit e;  // no dummy prefix, whitespace kept and not escaped
    e.normalizer_extra = varint_field(3, 0) + varint_field(4, 0) + varint_field(5, 0);
    variants.emplace_back("raw_whitespace", e);
  }
  {
    ModelEdit e;  // whitespace kept but escaped, dummy prefix
    e.normalizer_extra = varint_field(4, 0);
    variants.emplace_back("keep_whitespace", e);
  }
  {
    ModelEdit e;  // whitespace as suffix
    e.trainer_extra = varint_field(24, 1);
    variants.emplace_back("ws_suffix", e);
  }
  {
    ModelEdit e;  // identity normaliser (no charsmap)
    put_bytes(e.normalizer_extra, 2, "");
    variants.emplace_back("identity", e);
  }
  // Multi-character pieces over characters that have no piece of their own, with spread scores: they compete with the
  // unknown-character path (min_score - 10) and with each other; the integer-scored ones tie exactly ("中文" = "中" +
  // "文"), which checks upstream's tie-breaking. Texts for it are drawn from the same alphabet.
  std::vector<std::string> scored_texts;
  {
    ModelEdit e;
    static const char* alphabet[] = {"\xC3\xA9", "\xC3\xBC", "\xC3\x9F", "\xE4\xB8\xAD", "\xE6\x96\x87", "\xE9\x95\x9C",
                                     "\xE5\xA4\xB4", "\xED\x95\x9C", "\xEA\xB8\x80", "\xC3\xB1", "\xC3\xB8", "\xC3\xA5",
                                     "\xE3\x82\xA2", "\xE3\x82\xA4", "\xCF\x89", "\xD0\xB6", "\xD9\x82", "\xD7\xA9",
                                     "a", "b", "c", "\xE2\x96\x81"};
    std::mt19937 rng(7);
    std::set<std::string> seen;  // no piece of either model may be defined twice
    for (const std::string& model : {shapes_spiece(), spiece()}) {
      const WanTokenizer t(model, SpmBackend::kNative);
      for (int64_t id = 0; id < t.vocab_size(); ++id) seen.insert(t.id_to_piece(id));
    }
    // exact ties: 中文 = 中 + 文 = -4, 中文头 = 中 + 文头 = 中文 + 头 = -6
    for (auto [p, sc] : std::initializer_list<std::pair<const char*, float>>{
             {"\xE4\xB8\xAD\xE6\x96\x87", -4.f}, {"\xE4\xB8\xAD", -2.f}, {"\xE6\x96\x87", -2.f}, {"\xE5\xA4\xB4", -2.f},
             {"\xE6\x96\x87\xE5\xA4\xB4", -4.f}, {"\xE4\xB8\xAD\xE6\x96\x87\xE5\xA4\xB4", -6.f}}) {
      e.scored_pieces.emplace_back(p, sc);
      seen.insert(p);
    }
    while (e.scored_pieces.size() < 400) {
      std::string p;
      const size_t len = 1 + rng() % 4;
      size_t first = 0;
      for (size_t i = 0; i < len; ++i) p += alphabet[first = rng() % std::size(alphabet)];
      if (len == 1 && first % 2 == 0) continue;  // the even-indexed characters get no piece of their own: unknown
      if (!seen.insert(p).second) continue;
      e.scored_pieces.emplace_back(p, -0.5f - static_cast<float>(rng() % 100000) / 2500.f);  // (-40.5, -0.5]
    }
    variants.emplace_back("scored", e);
    for (int n = 0; n < 1500; ++n) {
      std::string t;
      for (size_t k = 1 + rng() % 16; k--;) {
        const char* c = alphabet[rng() % std::size(alphabet)];
        t += std::strcmp(c, "\xE2\x96\x81") == 0 ? (rng() % 2 ? " " : c) : c;
      }
      scored_texts.push_back(std::move(t));
    }
  }
  for (const std::string& model : {shapes_spiece(), spiece()}) {
    for (const auto& [name, edit] : variants) {
      SCOPED_TRACE(name);
      const std::string file = edited_model(model, edit, name);
      const WanTokenizer lib(file, SpmBackend::kLibrary), nat(file, SpmBackend::kNative);
      const Compared c = compare_backends(lib, nat, name == "scored" ? scored_texts : texts, name);
      std::printf("[spm parity] %s variant %-15s: %zu raw + %zu encode, %zu differ\n",
                  std::filesystem::path(model).parent_path().filename().c_str(), name.c_str(), c.raw, c.full, c.differ);
    }
  }
}
