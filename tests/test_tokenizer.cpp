#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
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
