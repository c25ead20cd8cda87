// HunyuanVideo-I2V text encoders (engine/models/hunyuan/text): tokenizers, Llama-3 decoder, LLaVA I2V encode, CLIP-L.
//
// No upstream golden exists here (transformers / tokenizers are not installed), so every piece is checked against
// hand-worked values and invariants:
//   * tokenizers: fixtures of our own in the Hugging Face file formats (tests/data/hf_tokenizers, written by
//     make_fixtures.py) whose encodings were worked out by hand from their merge lists;
//   * the decoder: GQA == MHA with repeated heads, RoPE against its closed form, causality, hidden_states indexing;
//   * the I2V encode: tiny random folders in the release layout, the template crop checked against the upstream
//     index arithmetic written out independently, and with hidden_states[-3] = the embeddings (2-layer model) the
//     cropped rows are checked row by row against the token embeddings / projected image features.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"
#include "engine/models/hunyuan/text/bpe_tokenizer.h"
#include "engine/models/hunyuan/text/hf_folder.h"
#include "engine/models/hunyuan/text/hunyuan_text_encoders.h"
#include "engine/models/hunyuan/text/llama.h"
#include "tests/test_util.h"

using namespace focalscope;
using focalscope::testing::error_of;

namespace {
const std::string kTokDir = std::string(FOCALSCOPE_SOURCE_DIR) + "/tests/data/hf_tokenizers";
using Ids = std::vector<int64_t>;

const HfBpeTokenizer& llama_tok() {
  static const HfBpeTokenizer t = HfBpeTokenizer::from_folder(kTokDir + "/llama3_tiny");
  return t;
}
const ClipBpeTokenizer& clip_tok() {
  static const ClipBpeTokenizer t = ClipBpeTokenizer::from_folder(kTokDir + "/clip_tiny");
  return t;
}
}  // namespace

// ---- byte level ----------------------------------------------------------------------------------------------------
TEST(ByteLevel, Gpt2TableIsAReversibleMappingOfAllBytes) {
  const auto& t = byte_level_alphabet();
  ASSERT_EQ(t.size(), 256u);
  EXPECT_EQ(t[' '], "\xC4\xA0");   // Ġ (U+0120)
  EXPECT_EQ(t['\n'], "\xC4\x8A");  // Ċ (U+010A)
  EXPECT_EQ(t['a'], "a");
  EXPECT_EQ(t[0xE9], "\xC3\xA9");  // é maps to itself (Latin-1 range kept)
  EXPECT_EQ(t[0xAD], "\xC5\x83");  // soft hyphen is remapped (U+0143)
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(byte_level_decode(byte_level_encode(all)), all);
}

// ---- Llama-3 tokenizer (tokenizer.json) ------------------------------------------------------------------------------
// Fixture vocabulary: byte b -> id b; merges by rank 0 "Ġ t", 1 "h e", 2 "Ġt he", 3 "Ċ Ċ", 4 "c a", 5 "ca t", 6 "Ġ cat"
// (ids 256..262), "dog" = 263 (in the vocabulary, reachable by no merge), specials 300.. (<|begin_of_text|> 300,
// <|end_of_text|> 301, <|start_header_id|> 302, <|end_header_id|> 303, <|eot_id|> 304), <pad> 310.
TEST(Llama3Tokenizer, HandCheckedEncodings) {
  const auto& t = llama_tok();
  // "the" -> t h e -> (h e) -> [t, he]; " cat" is a whole vocabulary word (ignore_merges) = Ġcat.
  EXPECT_EQ(t.encode("the cat"), (Ids{300, 't', 257, 262}));
  // " then": Ġ t h e n -> rank 0 (Ġ t) -> rank 1 (h e) -> rank 2 (Ġt he) -> [Ġthe, n]: merges applied by rank.
  EXPECT_EQ(t.encode_raw(" then"), (Ids{258, 'n'}));
  // ignore_merges: "dog" is emitted whole although no merge builds it; " dog" is not in the vocabulary -> bytes.
  EXPECT_EQ(t.encode_raw("dog"), (Ids{263}));
  EXPECT_EQ(t.encode_raw(" dog"), (Ids{' ', 'd', 'o', 'g'}));
  // Pre-tokenizer: "Hi" | "!!\n\n" (punctuation takes the trailing newlines) | "ok"; Ċ Ċ merges (rank 3).
  EXPECT_EQ(t.encode_raw("Hi!!\n\nok"), (Ids{'H', 'i', '!', '!', 259, 'o', 'k'}));
  EXPECT_EQ(t.encode_raw("\n\n"), (Ids{259}));
  // Case-insensitive contractions, digits in groups of at most 3: "IT" | "'S" | " " | "123" | "45".
  EXPECT_EQ(t.encode_raw("IT'S 12345"), (Ids{'I', 'T', '\'', 'S', ' ', '1', '2', '3', '4', '5'}));
  // Two spaces before a word: " " | " hello" (\s+(?!\S)).
  EXPECT_EQ(t.encode_raw("  he"), (Ids{' ', ' ', 257}));
  // Unicode letters (\p{L}): "¿Qué" (one non-letter prefix + letters) | " café" | "?"; bytes of é = C3 A9.
  EXPECT_EQ(t.encode_raw("\xC2\xBFQu\xC3\xA9 caf\xC3\xA9?"),
            (Ids{0xC2, 0xBF, 'Q', 'u', 0xC3, 0xA9, ' ', 260, 'f', 0xC3, 0xA9, '?'}));
  // Special tokens are split out of the text before the pre-tokenizer.
  EXPECT_EQ(t.encode_raw("<|start_header_id|>user<|end_header_id|>\n\nthe cat<|eot_id|>"),
            (Ids{302, 'u', 's', 'e', 'r', 303, 259, 't', 257, 262, 304}));
}

TEST(Llama3Tokenizer, PaddingTruncationAndDecode) {
  const auto& t = llama_tok();
  EXPECT_EQ(t.pad_id(), 310);
  EXPECT_EQ(t.prefix_ids(), (Ids{300}));
  EXPECT_TRUE(t.suffix_ids().empty());
  auto b = t.encode_batch({"the cat", "\n\n"}, 6);
  EXPECT_EQ(b.ids[0], (Ids{300, 't', 257, 262, 310, 310}));
  EXPECT_EQ(b.mask[0], (Ids{1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(b.ids[1], (Ids{300, 259, 310, 310, 310, 310}));
  EXPECT_EQ(b.lengths, (Ids{4, 2}));
  auto c = t.encode_batch({"the cat"}, 3);  // BOS + the first 2 content tokens
  EXPECT_EQ(c.ids[0], (Ids{300, 't', 257}));
  EXPECT_TRUE(c.truncated[0]);
  const std::string s = "\xC2\xBFQu\xC3\xA9 caf\xC3\xA9? dog\n\nthe";
  EXPECT_EQ(t.decode(t.encode(s)), "<|begin_of_text|>" + s);
  EXPECT_EQ(t.decode(t.encode(s), /*skip_special=*/true), s);
  EXPECT_EQ(t.token_to_id("<|eot_id|>"), 304);
  EXPECT_EQ(t.token_to_id("Ġcat"), 262);
}

TEST(Llama3Tokenizer, InvalidTextAndFilesFailWithOneLineNamingTheFile) {
  const auto& t = llama_tok();
  std::string e = error_of([&] { t.encode("bad \xFF byte"); });
  EXPECT_NE(e.find("not valid UTF-8"), std::string::npos) << e;
  const std::string dir = focalscope::testing::temp_dir("hf_tok_bad");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  struct Case { std::string json, expect; };
  const std::vector<Case> cases = {
      {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "model.type"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "model.merges"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"NFC\"}}", "normalizer"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}", "regex"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", "pre_tokenizer"},
      {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", "used by two tokens"},
      {"[1, 2]", "expected a JSON object"},
      {"{\"model\": ", "not valid JSON"},
  };
  for (const auto& c : cases) {
    const std::string p = write("tokenizer.json", c.json);
    e = error_of([&] { HfBpeTokenizer::from_file(p); });
    EXPECT_EQ(e.rfind(p, 0), 0u) << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
  e = error_of([&] { HfBpeTokenizer::from_folder(dir + "/missing"); });
  EXPECT_NE(e.find("missing/tokenizer.json"), std::string::npos) << e;
}

// ---- CLIP tokenizer (vocab.json + merges.txt) -------------------------------------------------------------------------
// Fixture: byte b -> id b, byte b + "</w>" -> 256 + b; merges 0 "t h", 1 "th e</w>", 2 "c a", 3 "ca t</w>", 4 "r e",
// 5 "re d</w>", 6 "ca t" (ids 512..518); <|startoftext|> 519, <|endoftext|> 520 (also pad).
TEST(ClipTokenizer, HandCheckedEncodings) {
  const auto& t = clip_tok();
  EXPECT_EQ(t.bos_id(), 519);
  EXPECT_EQ(t.eos_id(), 520);
  EXPECT_EQ(t.pad_id(), 520);
  // clean: "the red cat!"; the</w> 513, red</w> 517, cat</w> 515, "!" + </w> = 256 + 33.
  EXPECT_EQ(t.encode("  The  RED\tcat! "), (Ids{519, 513, 517, 515, 256 + '!', 520}));
  // "cats": c a t s</w> -> (c a) -> (ca t) rank 6 (not "ca t</w>": t is not word-final) -> [cat, s</w>].
  EXPECT_EQ(t.encode_raw("cats"), (Ids{518, 256 + 's'}));
  // Digits are single pre-tokens ([\p{N}]); contractions split.
  EXPECT_EQ(t.encode_raw("42"), (Ids{256 + '4', 256 + '2'}));
  EXPECT_EQ(t.encode_raw("it's"), (Ids{'i', 256 + 't', '\'', 256 + 's'}));
  // Unicode lower-casing (É -> é), then bytes C3 A9 with </w> on the last one.
  EXPECT_EQ(t.encode_raw("CAF\xC3\x89"), (Ids{514, 'f', 0xC3, 256 + 0xA9}));
  EXPECT_EQ(ClipBpeTokenizer::clean(" A\n\nB  C\xC3\x89 "), "a b c\xC3\xA9");
  // Special tokens in the text.
  EXPECT_EQ(t.encode_raw("the<|endoftext|>"), (Ids{513, 520}));
}

TEST(ClipTokenizer, PaddingTruncationDecode) {
  const auto& t = clip_tok();
  auto b = t.encode_batch({"the red cat!"}, 8);
  EXPECT_EQ(b.ids[0], (Ids{519, 513, 517, 515, 256 + '!', 520, 520, 520}));
  EXPECT_EQ(b.mask[0], (Ids{1, 1, 1, 1, 1, 1, 0, 0}));
  auto c = t.encode_batch({"the red cat!"}, 4);  // BOS + 2 tokens + EOS
  EXPECT_EQ(c.ids[0], (Ids{519, 513, 517, 520}));
  EXPECT_TRUE(c.truncated[0]);
  EXPECT_EQ(t.decode(t.encode_raw("The red cats!")), "the red cats !");
  const std::string dir = focalscope::testing::temp_dir("clip_tok_bad");
  std::ofstream(dir + "/vocab.json") << "{\"a\": 0}";
  std::ofstream(dir + "/merges.txt") << "#version: 0.2\na b c\n";
  std::string e = error_of([&] { ClipBpeTokenizer::from_folder(dir); });
  EXPECT_NE(e.find(dir + "/merges.txt: line 2"), std::string::npos) << e;
  std::ofstream(dir + "/merges.txt") << "#version: 0.2\n";
  e = error_of([&] { ClipBpeTokenizer::from_folder(dir); });
  EXPECT_NE(e.find(dir + "/vocab.json: special token '<|startoftext|>' is missing"), std::string::npos) << e;
}

// ---- Llama-3 decoder ------------------------------------------------------------------------------------------------
namespace {
LlamaConfig tiny_llama(int64_t heads = 4, int64_t kv_heads = 2, int64_t layers = 3) {
  LlamaConfig c;
  c.vocab_size = 40;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  return c;
}
at::Tensor ids_tensor(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).view({1, -1}); }
double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }
}  // namespace

TEST(LlamaRope, MatchesTheRotationFormula) {
  LlamaConfig c = tiny_llama();
  c.rope_theta = 10000.0;
  const int64_t d = c.head_dim, h = d / 2;
  at::Tensor pos = at::tensor(std::vector<int64_t>{0, 3, 7, 1, 250}, at::kLong).view({1, 5});
  at::Tensor x = at::randn({1, 2, 5, d}, at::kDouble);
  auto [cos, sin] = llama_rope_cos_sin(c, pos);
  at::Tensor got = llama_apply_rope(x.to(at::kFloat), cos, sin).to(at::kDouble);
  auto xa = x.accessor<double, 4>();
  double worst = 0;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t l = 0; l < 5; ++l)
      for (int64_t i = 0; i < h; ++i) {
        const double p = static_cast<double>(pos[0][l].item<int64_t>());
        const double ang = p * std::pow(c.rope_theta, -2.0 * i / d);
        const double a = xa[0][n][l][i], b = xa[0][n][l][i + h];
        worst = std::max(worst, std::fabs(got[0][n][l][i].item<double>() - (a * std::cos(ang) - b * std::sin(ang))));
        worst = std::max(worst, std::fabs(got[0][n][l][i + h].item<double>() - (b * std::cos(ang) + a * std::sin(ang))));
      }
  EXPECT_LT(worst, 2e-4);  // float32 angles up to 250 rad
}

TEST(LlamaRope, Llama3ScalingMatchesItsFormula) {
  // Llama-3.1's rope_scaling: factor 8, low_freq_factor 1, high_freq_factor 4, original context 8192.
  nlohmann::json j = tiny_llama().to_json();
  j["head_dim"] = 128;
  j["hidden_size"] = 512;
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  const LlamaConfig c = LlamaConfig::from_json(j, "cfg");
  at::Tensor got = llama_inv_freq(c).to(at::kDouble);
  ASSERT_EQ(got.size(0), 64);
  int regimes[3] = {0, 0, 0};
  for (int64_t i = 0; i < 64; ++i) {
    const double f = std::pow(500000.0, -2.0 * i / 128.0), wl = 2 * M_PI / f;
    double want;
    if (wl < 8192.0 / 4) want = f, ++regimes[0];        // high frequency: unchanged
    else if (wl > 8192.0 / 1) want = f / 8, ++regimes[1];  // low frequency: divided by the factor
    else {                                                // in between: interpolated
      const double sm = (8192.0 / wl - 1.0) / (4.0 - 1.0);
      want = (1 - sm) * f / 8 + sm * f;
      ++regimes[2];
    }
    EXPECT_NEAR(got[i].item<double>() / want, 1.0, 1e-5) << i;
  }
  EXPECT_GT(regimes[0], 0);
  EXPECT_GT(regimes[1], 0);
  EXPECT_GT(regimes[2], 0);
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  at::Tensor lin = llama_inv_freq(LlamaConfig::from_json(j, "cfg"));
  j["rope_scaling"] = nullptr;
  EXPECT_TRUE(at::allclose(lin * 4.0, llama_inv_freq(LlamaConfig::from_json(j, "cfg"))));
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(error_of([&] { LlamaConfig::from_json(j, "x/config.json"); }).find("x/config.json: \"rope_scaling\" type 'yarn'"), std::string::npos);
}

TEST(LlamaDecoder, GqaEqualsMhaWithRepeatedKvHeads) {
  const LlamaConfig gqa = tiny_llama(4, 2, 2);
  const LlamaDecoder a = LlamaDecoder::random_init(gqa, 7);
  LlamaDecoder b = a;
  b.cfg.num_key_value_heads = 4;
  b.layers.clear();
  for (const auto& l : a.layers) {
    LlamaLayer m = l;
    const int64_t d = gqa.head_dim, D = gqa.hidden_size;
    // kv head j serves query heads 2j and 2j+1: repeat its rows in that order.
    m.k_proj = l.k_proj.view({2, d, D}).repeat_interleave(2, 0).reshape({4 * d, D}).contiguous();
    m.v_proj = l.v_proj.view({2, d, D}).repeat_interleave(2, 0).reshape({4 * d, D}).contiguous();
    b.layers.push_back(m);
  }
  at::Tensor ids = ids_tensor({1, 5, 9, 2, 33, 7});
  at::Tensor ya = a.forward(a.embed(ids), {}, {}, 2), yb = b.forward(b.embed(ids), {}, {}, 2);
  EXPECT_LT(max_abs(ya, yb), 1e-5);
  // and it is not the trivial case: the heads differ
  EXPECT_GT(max_abs(a.layers[0].k_proj.narrow(0, 0, 8), a.layers[0].k_proj.narrow(0, 8, 8)), 0.1);
}

TEST(LlamaDecoder, CausalityAndPaddingInvariance) {
  const LlamaDecoder m = LlamaDecoder::random_init(tiny_llama(), 3);
  at::Tensor ids = ids_tensor({1, 5, 9, 2, 33, 7, 11, 4});
  at::Tensor y = m.forward(m.embed(ids), {}, {}, 3);
  at::Tensor ids2 = ids.clone();
  ids2[0][5] = 20;  // change token 5
  at::Tensor y2 = m.forward(m.embed(ids2), {}, {}, 3);
  EXPECT_EQ(max_abs(y.narrow(1, 0, 5), y2.narrow(1, 0, 5)), 0.0);  // earlier tokens exactly unchanged
  EXPECT_GT(max_abs(y.narrow(1, 5, 3), y2.narrow(1, 5, 3)), 1e-3);  // later ones change
  // Right padding: the valid rows equal the unpadded run; the padding tokens' content does not matter.
  at::Tensor mask = at::tensor(std::vector<int64_t>{1, 1, 1, 1, 1, 0, 0, 0}).view({1, 8});
  at::Tensor yp = m.forward(m.embed(ids), mask, {}, 3);
  at::Tensor yshort = m.forward(m.embed(ids.narrow(1, 0, 5)), {}, {}, 3);
  EXPECT_LT(max_abs(yp.narrow(1, 0, 5), yshort), 1e-5);
  // Batch rows are independent.
  at::Tensor both = at::cat({ids, ids2}, 0);
  at::Tensor yb = m.forward(m.embed(both), {}, {}, 3);
  EXPECT_LT(max_abs(yb.narrow(0, 1, 1), y2), 1e-5);
}

TEST(LlamaDecoder, HiddenStatesIndexing) {
  const LlamaDecoder m = LlamaDecoder::random_init(tiny_llama(4, 1, 4), 5);
  at::Tensor e = m.embed(ids_tensor({3, 1, 4, 1, 5}));
  std::vector<at::Tensor> all;
  at::Tensor last = m.forward(e, {}, {}, 4, &all);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_TRUE(at::equal(m.hidden_state(e, {}, {}, 0), e));
  EXPECT_TRUE(at::equal(m.hidden_state(e, {}, {}, -3), all[2]));  // hidden_states[-3] = after L-2 layers, no norm
  EXPECT_EQ(m.layers_for_index(-3), 2);
  EXPECT_LT(max_abs(m.hidden_state(e, {}, {}, -1), llama_rms_norm(last, m.norm, 1e-5)), 1e-6);
  EXPECT_GT(max_abs(m.hidden_state(e, {}, {}, -1), last), 1e-3);  // the final norm is applied only there
  EXPECT_NE(error_of([&] { m.hidden_state(e, {}, {}, -6); }).find("outside"), std::string::npos);
}

TEST(LlamaDecoder, LoadsAShardedHfFolderAndNamesTheCulprit) {
  const LlamaConfig c = tiny_llama(4, 2, 3);
  const LlamaDecoder ref = LlamaDecoder::random_init(c, 11);
  const std::string dir = focalscope::testing::temp_dir("llama_folder");
  nlohmann::json cfg = c.to_json();
  cfg.erase("head_dim");  // default hidden / heads = 8
  cfg.erase("rms_norm_eps");
  cfg["rms_norm_eps"] = 1e-5;
  cfg["architectures"] = {"LlamaForCausalLM"};
  std::ofstream(dir + "/config.json") << cfg.dump(1);
  auto params = ref.named_parameters("model.");
  params.emplace_back("lm_head.weight", at::randn({c.vocab_size, c.hidden_size}));
  std::vector<std::pair<std::string, at::Tensor>> s1(params.begin(), params.begin() + 10), s2(params.begin() + 10, params.end());
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (auto& [n, t] : s1) index["weight_map"][n] = "model-00001-of-00002.safetensors";
  for (auto& [n, t] : s2) index["weight_map"][n] = "model-00002-of-00002.safetensors";
  save_safetensors(dir + "/model-00001-of-00002.safetensors", s1);
  save_safetensors(dir + "/model-00002-of-00002.safetensors", s2);
  std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
  const LlamaDecoder m = LlamaDecoder::from_folder(dir, /*run_layers=*/1);  // hidden_states[-3] of a 3-layer model
  EXPECT_EQ(m.layers.size(), 1u);
  EXPECT_FALSE(m.norm.defined());
  at::Tensor ids = ids_tensor({2, 4, 6, 8});
  EXPECT_TRUE(at::equal(m.forward(m.embed(ids), {}, {}, 1), ref.forward(ref.embed(ids), {}, {}, 1)));
  // A misshaped tensor of a layer that is not even run is still reported, naming its shard.
  auto bad = s2;
  for (auto& [n, t] : bad)
    if (n == "model.layers.2.mlp.up_proj.weight") t = at::zeros({47, 32});
  save_safetensors(dir + "/model-00002-of-00002.safetensors", bad);
  std::string e = error_of([&] { LlamaDecoder::from_folder(dir, 1); });
  EXPECT_NE(e.find("model-00002-of-00002.safetensors: Llama tensor 'model.layers.2.mlp.up_proj.weight' has shape [47,32], expected [48,32]"),
            std::string::npos) << e;
  // An unexpected tensor.
  bad = s2;
  bad.emplace_back("model.layers.9.extra", at::zeros({2}));
  index["weight_map"]["model.layers.9.extra"] = "model-00002-of-00002.safetensors";
  save_safetensors(dir + "/model-00002-of-00002.safetensors", bad);
  std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
  e = error_of([&] { LlamaDecoder::from_folder(dir, 1); });
  EXPECT_NE(e.find("unexpected Llama tensor 'model.layers.9.extra'"), std::string::npos) << e;
  // Config problems name config.json and the key.
  cfg["hidden_act"] = "gelu";
  std::ofstream(dir + "/config.json") << cfg.dump();
  e = error_of([&] { LlamaDecoder::from_folder(dir, 1); });
  EXPECT_NE(e.find(dir + "/config.json: \"hidden_act\" 'gelu'"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { LlamaDecoder::from_folder(dir + "/nope"); }).find("nope/config.json"), std::string::npos);
}

// ---- Pillow resize + CLIPImageProcessor ------------------------------------------------------------------------------
namespace {
at::Tensor pattern_image(int64_t H, int64_t W) {
  at::Tensor a = at::empty({H, W, 3}, at::kByte);
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j)
      for (int64_t c = 0; c < 3; ++c) a[i][j][c] = static_cast<uint8_t>((i * 37 + j * 11 + c * 71 + (i * j * 13) % 50) % 256);
  return a;
}
at::Tensor from_hex(const std::string& hex, int64_t h, int64_t w) {
  at::Tensor t = at::empty({h, w, 3}, at::kByte);
  for (int64_t k = 0; k < h * w * 3; ++k) t.data_ptr<uint8_t>()[k] = static_cast<uint8_t>(std::stoi(hex.substr(2 * k, 2), nullptr, 16));
  return t;
}
}  // namespace

// Goldens: Pillow 9.4.0 (Debian python3-pil), Image.fromarray(pattern).resize((w, h), resample) on the 7x11 RGB
// pattern above; the one upstream-produced reference in this suite.
TEST(PilResize, MatchesPillowBitForBit) {
  const at::Tensor img = pattern_image(7, 11);
  struct Case { int64_t w, h; int filter; const char* hex; };
  const std::vector<Case> cases = {
      {4, 5, 3, "175ea6367dd0579eac72c3b35299e275c08697e630b694338be275afad2be03858952c72b48a3fa73269923a8a415fa89f287d4b5ca52a80c74792d9"},
      {3, 7, 3, "10579e377ec55ea5ec458cde72b9a299e01c66adbd93e123bc814994e65ac6664aa81c6ea6b634dd1f63814a92b9246b4651982371b87b448b3678bf529ae1"},
      {6, 4, 2, "1e65ac387fc2478ec961a89372b78785c19960a7c97ac1918abe4ba7a743b59d43a74e57a0b350a99e47b24759b52f76ac3d843c5299a22f6a91498952559c3570b7417ec5448ad1"},
      {17, 9, 3,
       "00448b0249900a519810579e185fa61e65ac276eb52e75bc357cc33b82d14289dd488fe25097ea59a0f360a7fa67aeff6cb3ff155ca31d64ab2c73ba3a81c74990df539af4478ee8488ff0579ef766ad8374bb4680c75f77bd5773bd5381d96292ec729cf57c337ac14289d6559cf3589ffb6ab1d57cc3996ab0856cb79282d7a287dc3794e905aaff269cf61897d514b0932dc18b35c893364f96e365ace27bc2dc6fb6dc79c2818dd90483d3008fcb0bacc628a2ba2aa5c035bcd74ab6d944baa846d7185ebb0060a0045c6cb3ff85cca3a3ea26a2e92ba1e82fa1e82f9df72bb1a63fd31a61d51263d31a61d31a61d31a61d71960dc185f5f367d004f968ae34693ec38a0fa27a5ff2eb4ab37c42441be2b49cb2a54e31460ea1966f1226ef92a76ff317ddc38833b41880e51980e5ca3a65e27b86435cf724bda885b996069561e74cf136dcc1f705d367d68488f734c936942897a4f967060a72470b7176bb21b62a9cb0053ac09629b1e77f3257f954092025ca3864a91854d940b64ab0f71b81972b9146db41b75bc2a80c7428ad14288cf3d84cbf0246b6e3980054f96d44289b951981c6ab10760a71b6bb23f86cd367cc33c83ca5ca3ea589fe64b92d94289d05aa1e870b7fe"},
  };
  for (const auto& c : cases) {
    at::Tensor got = pil_resize_u8(img, c.h, c.w, c.filter);
    at::Tensor want = from_hex(c.hex, c.h, c.w);
    EXPECT_TRUE(at::equal(got, want)) << c.w << "x" << c.h << " filter " << c.filter << " max diff "
                                      << (got.to(at::kInt) - want.to(at::kInt)).abs().max().item<int>();
  }
  EXPECT_TRUE(at::equal(pil_resize_u8(img, 7, 11, 3), img));  // same size: untouched
}

TEST(ClipImageProcessor, ShortestEdgeCenterCropNormalise) {
  ClipImageProcessor p;  // OpenAI mean / std
  p.shortest_edge = p.crop_height = p.crop_width = 28;
  const at::Tensor img = pattern_image(30, 40);  // landscape: height 30 -> 28, width int(28 * 40 / 30) = 37
  at::Tensor got = p(img);
  ASSERT_EQ(got.sizes(), at::IntArrayRef({1, 3, 28, 28}));
  at::Tensor r = pil_resize_u8(img, 28, 37, 3).narrow(1, (37 - 28) / 2, 28).to(at::kFloat) / 255.0;
  at::Tensor mean = at::tensor(std::vector<float>{0.48145466f, 0.4578275f, 0.40821073f});
  at::Tensor stdv = at::tensor(std::vector<float>{0.26862954f, 0.26130258f, 0.27577711f});
  EXPECT_LT(max_abs(got[0], ((r - mean) / stdv).permute({2, 0, 1})), 1e-5);
}

// ---- the I2V encode on tiny release-layout folders ----------------------------------------------------------------------

namespace {
std::string tiny_root(int64_t llm_layers) {
  static std::map<int64_t, std::string> roots;
  auto it = roots.find(llm_layers);
  if (it != roots.end()) return it->second;
  const std::string root = focalscope::testing::temp_dir("hy_text_" + std::to_string(llm_layers));
  TinyTextEncoderSpec spec;
  spec.llm_layers = llm_layers;
  spec.seed = 5;
  write_tiny_text_encoder_folders(root, spec);
  return roots[llm_layers] = root;
}
HunyuanTextEncoderOptions tiny_opts() {
  HunyuanTextEncoderOptions o;
  o.text_len = 24;
  return o;
}
std::vector<int64_t> byte_ids(const std::string& s) { return std::vector<int64_t>(s.begin(), s.end()); }
}  // namespace

TEST(HunyuanI2VText, TemplateOffsetsDerivedFromTheTokenizer) {
  const auto enc = LlavaI2VTextEncoder::from_folder(tiny_root(3) + "/text_encoder_i2v", tiny_opts());
  const auto& T = enc.prompt_template();
  // BOS <|start_header_id|> system <|end_header_id|> "\n\n" <image>: the image sits at 5, as in the release.
  EXPECT_EQ(T.image_emb_start, 5);
  EXPECT_EQ(T.image_emb_len, 16);  // (28 / 7)^2 patches, class token dropped
  EXPECT_EQ(T.image_emb_end, 21);
  EXPECT_EQ(T.double_return_token_id, 256);
  // Byte-level tokens of "\n" + the description (no merges apply), then <|eot_id|> "\n\n" <|start_header_id|> user
  // <|end_header_id|> "\n\n": crop_start = 6 + bytes + 6.
  const std::string& t = HunyuanPromptTemplate::video_i2v().text;
  const size_t a = t.find("<image>") + 7, b = t.find("<|eot_id|>");
  EXPECT_EQ(T.crop_start, 6 + static_cast<int64_t>(b - a) + 6);
  EXPECT_EQ(enc.max_length(), 24 + T.crop_start);
  // The prompt starts exactly at crop_start in the tokenised template.
  const auto ids = enc.tokenizer().encode(T.apply("the cat"));
  EXPECT_EQ(ids[static_cast<size_t>(T.crop_start - 1)], 256);
  EXPECT_EQ(std::vector<int64_t>(ids.begin() + T.crop_start, ids.begin() + T.crop_start + 7), byte_ids("the cat"));
  // Upstream's release constants.
  const auto& up = HunyuanPromptTemplate::video_i2v();
  EXPECT_EQ(up.crop_start, 103);
  EXPECT_EQ(up.image_emb_start, 5);
  EXPECT_EQ(up.image_emb_end, 581);
  EXPECT_EQ(up.double_return_token_id, 271);
}

// With 2 decoder layers hidden_states[-3] is the (merged) input embedding, so every cropped row can be checked
// against the token embeddings and the projected image features.
TEST(HunyuanI2VText, CropRowsAreThePromptTokensAndEveryFourthImageToken) {
  const auto enc = LlavaI2VTextEncoder::from_folder(tiny_root(2) + "/text_encoder_i2v", tiny_opts());
  const at::Tensor img = pattern_image(30, 40);
  const std::string prompt = "the red cat";  // 11 byte tokens
  const MllmEncoding out = enc.encode({prompt}, {img});
  ASSERT_EQ(out.states.sizes(), at::IntArrayRef({1, 4 + 20, 32}));  // 16 / 4 image rows + text_len - 4 text rows
  EXPECT_EQ(out.image_rows, 4);
  const at::Tensor feats = enc.image_features(enc.pixel_values(img))[0];  // [16, 32]
  EXPECT_LT(max_abs(out.states[0].narrow(0, 0, 4), feats.slice(0, 0, 16, 4)), 1e-6);
  const auto& E = enc.language_model().embed_tokens;
  std::vector<int64_t> text_ids = byte_ids(prompt);
  text_ids.push_back(256);  // the trailing "\n\n" (the assistant header before it is cropped)
  at::Tensor want_text = at::cat({E.index_select(0, at::tensor(text_ids, at::kLong)), at::zeros({20 - 12, 32})}, 0);  // padding zeroed
  EXPECT_LT(max_abs(out.states[0].narrow(0, 4, 20), want_text), 1e-6);
  std::vector<int64_t> want_mask(4 + 12, 1);
  want_mask.resize(24, 0);
  EXPECT_EQ(std::vector<int64_t>(out.mask.data_ptr<int64_t>(), out.mask.data_ptr<int64_t>() + 24), want_mask);
  // i = input position of the last "\n\n" = crop_start + 11 prompt tokens + 4 (eot, header, assistant, header).
  EXPECT_EQ(out.last_double_return[0], enc.prompt_template().crop_start + 11 + 4);
}

TEST(HunyuanI2VText, TruncatedPromptKeepsUpstreamsThreeNewlineRule) {
  const auto enc = LlavaI2VTextEncoder::from_folder(tiny_root(2) + "/text_encoder_i2v", tiny_opts());
  const std::string prompt = "abcdefghijklmnopqrstuvwxyz0123456789";  // 36 > text_len 24: truncated
  const MllmEncoding out = enc.encode({prompt}, {pattern_image(28, 28)});
  EXPECT_EQ(out.last_double_return[0], enc.max_length());  // only 3 "\n\n" left -> i = max_length
  // text rows = input positions [crop_start, max_length - 4): the first 20 kept prompt tokens; all valid.
  const auto& E = enc.language_model().embed_tokens;
  std::vector<int64_t> first20 = byte_ids(prompt.substr(0, 20));
  EXPECT_LT(max_abs(out.states[0].narrow(0, 4, 20), E.index_select(0, at::tensor(first20, at::kLong))), 1e-6);
  EXPECT_EQ(out.mask.sum().item<int64_t>(), 24);
}

TEST(HunyuanI2VText, InvariantsOfTheFullEncode) {
  const auto enc = LlavaI2VTextEncoder::from_folder(tiny_root(3) + "/text_encoder_i2v", tiny_opts());
  const at::Tensor img = pattern_image(30, 40), img2 = pattern_image(40, 30);
  const MllmEncoding a = enc.encode({"the red cat"}, {img}, /*keep_hidden=*/true);
  const MllmEncoding b = enc.encode({"a dog runs far"}, {img});
  const MllmEncoding c = enc.encode({"the red cat"}, {img2});
  // Image rows come before the prompt: causal attention makes them independent of it (exactly).
  EXPECT_TRUE(at::equal(a.states.narrow(1, 0, 4), b.states.narrow(1, 0, 4)));
  // The text rows see the image.
  EXPECT_GT(max_abs(a.states.narrow(1, 4, 5), c.states.narrow(1, 4, 5)), 1e-4);
  // The crop restated with upstream's index arithmetic on the uncropped hidden states.
  const auto& T = enc.prompt_template();
  const int64_t n = T.image_emb_len, i = a.last_double_return[0], Lh = a.hidden.size(1);
  ASSERT_EQ(Lh, enc.max_length() - 1 + n);
  at::Tensor text = at::cat({a.hidden[0].slice(0, T.crop_start - 1 + n, i - 1 + n - 4), a.hidden[0].slice(0, i - 1 + n, Lh)}, 0);
  at::Tensor image = a.hidden[0].slice(0, T.image_emb_start, T.image_emb_end, 4);
  EXPECT_TRUE(at::equal(a.states[0], at::cat({image, text}, 0)));
  // A batch equals its rows run alone.
  const MllmEncoding ab = enc.encode({"the red cat", "a dog runs far"}, {img, img});
  EXPECT_LT(max_abs(ab.states[0], a.states[0]), 1e-5);
  EXPECT_LT(max_abs(ab.states[1], b.states[0]), 1e-5);
  EXPECT_TRUE(at::equal(ab.mask[1], b.mask[0]));
  // Misuse is refused with one line.
  EXPECT_NE(error_of([&] { enc.encode({"x"}, {}); }).find("1 prompts but 0 images"), std::string::npos);
  EXPECT_NE(error_of([&] { enc.encode({"look <image> here"}, {img}); }).find("2 <image> tokens"), std::string::npos);
}

TEST(HunyuanClipL, PooledOutputIsTheEndOfTextRowAndPaddingFree) {
  const auto clip = ClipLTextEncoder::from_folder(tiny_root(3) + "/text_encoder_2");
  EXPECT_FALSE(clip.has_vision());
  at::Tensor p77 = clip.pooled({"The red cat!", "cats"});
  ASSERT_EQ(p77.sizes(), at::IntArrayRef({2, 16}));
  // Unpadded run: BOS ... EOS; the pooled vector is its last row (causal attention: padding never reaches it).
  const auto ids = clip.tokenizer().encode("The red cat!");
  at::Tensor t = at::tensor(ids, at::kLong).view({1, -1});
  at::Tensor h = clip.text_model().forward(t, at::ones_like(t));
  EXPECT_LT(max_abs(p77[0], h[0][static_cast<int64_t>(ids.size()) - 1]), 1e-5);
  EXPECT_LT(max_abs(clip.pooled({"The red cat!"}, 12)[0], p77[0]), 1e-5);
  EXPECT_GT(max_abs(p77[0], p77[1]), 1e-4);
  // With the vision tower and projections (the CLIP of Eq. 6 / the visual anchors).
  const auto full = ClipLTextEncoder::from_folder(tiny_root(3) + "/text_encoder_2", /*load_vision=*/true);
  EXPECT_EQ(full.text_embeds({"the red cat"}).sizes(), at::IntArrayRef({1, 8}));
  at::Tensor ie = full.image_embeds(full.pixel_values(pattern_image(30, 40)));
  EXPECT_EQ(ie.sizes(), at::IntArrayRef({1, 8}));
  EXPECT_TRUE(at::isfinite(ie).all().item<bool>());
}

TEST(HunyuanI2VText, BadFoldersFailWithOneLineNamingFileAndKey) {
  auto one_line = [](const std::string& e) { return !e.empty() && e.find('\n') == std::string::npos; };
  const std::string root = focalscope::testing::temp_dir("hy_text_bad");
  write_tiny_text_encoder_folders(root, {});
  const std::string dir = root + "/text_encoder_i2v";
  auto load = [&] { LlavaI2VTextEncoder::from_folder(dir, tiny_opts()); };
  ASSERT_EQ(error_of(load), "");
  // a misshaped tensor in a shard
  {
    auto set = load_safetensors(dir + "/model-00002-of-00002.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> w;
    for (const auto& n : set.names()) w.emplace_back(n, n == "language_model.model.layers.0.self_attn.k_proj.weight" ? at::zeros({8, 32}) : set.get(n).clone());
    save_safetensors(dir + "/model-00002-of-00002.safetensors", w);
    const std::string e = error_of(load);
    EXPECT_TRUE(one_line(e));
    EXPECT_NE(e.find("model-00002-of-00002.safetensors: LLaVA tensor 'language_model.model.layers.0.self_attn.k_proj.weight' has shape [8,32], expected [16,32]"),
              std::string::npos) << e;
    write_tiny_text_encoder_folders(root, {});
  }
  // config keys
  {
    nlohmann::json cfg = read_hf_config(dir);
    cfg["vision_feature_select_strategy"] = "cls_patch";
    std::ofstream(dir + "/config.json") << cfg.dump();
    const std::string e = error_of(load);
    EXPECT_TRUE(one_line(e));
    EXPECT_NE(e.find(dir + "/config.json: \"vision_feature_select_strategy\" 'cls_patch'"), std::string::npos) << e;
    cfg["vision_feature_select_strategy"] = "default";
    cfg["image_token_index"] = 256;  // "\n\n", not <image>: three of them in the template prefix
    std::ofstream(dir + "/config.json") << cfg.dump();
    EXPECT_NE(error_of(load).find("tokenizer.json: the template's <image> does not tokenise"), std::string::npos) << error_of(load);
    write_tiny_text_encoder_folders(root, {});
  }
  // A tokenizer with the release's special ids must reproduce upstream's constants (crop_start 103, ...): this tiny
  // vocabulary does not, and the loader says so instead of cropping at the wrong rows.
  {
    nlohmann::json tj = read_json_object_file(dir + "/tokenizer.json");
    for (auto& a : tj["added_tokens"]) a["id"] = a["id"].get<int64_t>() - 300 + (a["content"] == "<unk>" ? 127951 : 128000);
    for (auto& a : tj["added_tokens"]) {
      if (a["content"] == "<|start_header_id|>") a["id"] = 128006;
      if (a["content"] == "<|end_header_id|>") a["id"] = 128007;
      if (a["content"] == "<|eot_id|>") a["id"] = 128009;
      if (a["content"] == "<image>") a["id"] = 128257;
      if (a["content"] == "<pad>") a["id"] = 128258;
    }
    tj["post_processor"]["special_tokens"]["<|begin_of_text|>"]["ids"] = {128000};
    std::ofstream(dir + "/tokenizer.json") << tj.dump();
    nlohmann::json cfg = read_hf_config(dir);
    cfg["image_token_index"] = 128257;
    cfg["pad_token_id"] = 128258;
    std::ofstream(dir + "/config.json") << cfg.dump();
    const std::string e = error_of(load);
    EXPECT_TRUE(one_line(e));
    EXPECT_NE(e.find(dir + "/tokenizer.json: the template tokenises to crop_start"), std::string::npos) << e;
    EXPECT_NE(e.find("upstream's constants are 103, 5, 271"), std::string::npos) << e;
    write_tiny_text_encoder_folders(root, {});
  }
  // tokenizer / processor files
  std::ofstream(dir + "/tokenizer_config.json") << "{\"bos_token\": \"<|begin_of_text|>\"}";
  EXPECT_NE(error_of(load).find(dir + "/tokenizer_config.json: no \"pad_token\""), std::string::npos) << error_of(load);
  std::filesystem::remove(dir + "/preprocessor_config.json");
  write_tiny_text_encoder_folders(root, {});
  std::filesystem::remove(dir + "/preprocessor_config.json");
  EXPECT_NE(error_of(load).find(dir + "/preprocessor_config.json"), std::string::npos) << error_of(load);
  std::filesystem::remove(dir + "/model.safetensors.index.json");
  write_tiny_text_encoder_folders(root, {});
  std::filesystem::remove(dir + "/model.safetensors.index.json");
  EXPECT_NE(error_of(load).find(dir + ": no model.safetensors"), std::string::npos) << error_of(load);
  // CLIP-L: an unexpected tensor in the whole-CLIP file is named
  const std::string c2 = root + "/text_encoder_2";
  auto set = load_safetensors(c2 + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> w;
  for (const auto& n : set.names()) w.emplace_back(n, set.get(n).clone());
  w.emplace_back("text_model.extra.weight", at::zeros({2}));
  save_safetensors(c2 + "/model.safetensors", w);
  const std::string e = error_of([&] { ClipLTextEncoder::from_folder(c2); });
  EXPECT_TRUE(one_line(e));
  EXPECT_NE(e.find("model.safetensors: unexpected CLIP tensor 'text_model.extra.weight'"), std::string::npos) << e;
}
