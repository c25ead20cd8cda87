// Wan's CLIP text tower (XLM-R, engine/clip/xlmr_text.h) and its tokenizer (engine/text/xlmr_tokenizer.h): Eq. 6 on
// the real Wan models. No upstream output of the text tower exists here (the shared layout fixture holds its tiny random
// weights, not its outputs; transformers is not installed), so the forward is checked against its definition written
// out again below in another form (keys restricted to the real tokens instead of an additive mask, LayerNorm and GELU
// by hand), plus invariants; the tokenizer against ids worked by hand on tests/data/xlmr_tiny (make_spm.py).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/clip/xlmr_text.h"
#include "engine/core/weights.h"
#include "engine/guidance/focal_guidance.h"
#include "engine/pipeline/model_bundle.h"
#include "tests/layout_bundle.h"
#include "tests/test_util.h"

using namespace focalscope;
namespace fs = std::filesystem;

namespace {

const std::string kSpm = std::string(FOCALSCOPE_SOURCE_DIR) + "/tests/data/xlmr_tiny/sentencepiece.bpe.model";
const std::string kPrompt = "A cat walks on the grass";

std::string clip_pth() { return focalscope::testing::layout_dir() + "/models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"; }

at::Tensor ln(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const at::Tensor mu = x.mean(-1, true);
  const at::Tensor var = (x - mu).pow(2).mean(-1, true);
  return (x - mu) / (var + 1e-5).sqrt() * w + b;
}
at::Tensor gelu_by_hand(const at::Tensor& x) { return 0.5 * x * (1 + at::erf(x / std::sqrt(2.0))); }

// The tower's definition for the n real tokens of one prompt (no padding at all), in float64.
at::Tensor reference_states(const XlmrTextTower& t, const std::vector<int64_t>& ids) {
  auto d = [](const at::Tensor& x) { return x.to(at::kDouble); };
  const int64_t n = static_cast<int64_t>(ids.size()), H = t.cfg.num_heads, Dh = t.cfg.dim / H;
  at::Tensor x = at::zeros({n, t.cfg.dim}, at::kDouble);
  for (int64_t i = 0; i < n; ++i)  // position ids: pad_id + 1 + i
    x[i] = d(t.token_embedding[ids[static_cast<size_t>(i)]]) + d(t.type_embedding[0]) + d(t.pos_embedding[t.cfg.pad_id + 1 + i]);
  x = ln(x, d(t.norm_w), d(t.norm_b));
  for (const auto& b : t.blocks) {
    const at::Tensor q = at::matmul(x, d(b.q_w).t()) + d(b.q_b), k = at::matmul(x, d(b.k_w).t()) + d(b.k_b),
                     v = at::matmul(x, d(b.v_w).t()) + d(b.v_b);
    at::Tensor a = at::zeros_like(x);
    for (int64_t h = 0; h < H; ++h) {
      const auto sl = [&](const at::Tensor& m) { return m.narrow(1, h * Dh, Dh); };
      const at::Tensor s = at::matmul(sl(q), sl(k).t()) / std::sqrt(double(Dh));
      a.narrow(1, h * Dh, Dh).copy_(at::matmul(at::exp(s - std::get<0>(s.max(1, true))) /
                                                   at::exp(s - std::get<0>(s.max(1, true))).sum(1, true), sl(v)));
    }
    x = ln(x + at::matmul(a, d(b.o_w).t()) + d(b.o_b), d(b.norm1_w), d(b.norm1_b));
    x = ln(x + at::matmul(gelu_by_hand(at::matmul(x, d(b.ffn0_w).t()) + d(b.ffn0_b)), d(b.ffn2_w).t()) + d(b.ffn2_b), d(b.norm2_w), d(b.norm2_b));
  }
  return x;
}
at::Tensor reference_head(const XlmrTextTower& t, const at::Tensor& x) {
  return at::matmul(gelu_by_hand(at::matmul(x, t.head0_w.to(at::kDouble).t())), t.head2_w.to(at::kDouble).t());
}

}  // namespace

TEST(XlmrTokenizer, FairseqIdsSpecialsPaddingTruncationAndWords) {
  XlmrTokenizer tok(kSpm);
  EXPECT_EQ(tok.vocab_size(), 24);  // 22 SentencePiece pieces + the offset + <mask>
  // SentencePiece ids 3 5 6 7 8 9 (▁A ▁cat ▁walks ▁on ▁the ▁grass) + 1, between <s> 0 and </s> 2, padding 1.
  const Tokenized t = tok.encode("A cat walks  on the grass", 10);
  EXPECT_EQ(t.ids, (std::vector<int64_t>{0, 4, 6, 7, 8, 9, 10, 2, 1, 1}));
  EXPECT_EQ(t.mask, (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0}));
  EXPECT_FALSE(t.truncated);
  const auto words = WanTokenizer::words(t);
  ASSERT_EQ(words.size(), 6u);
  EXPECT_EQ(words[1].word, "cat");
  EXPECT_EQ(words[1].tokens, (std::vector<int64_t>{2}));
  EXPECT_EQ(words[5].tokens, (std::vector<int64_t>{6}));
  // "zebras": ▁ (spm 18) z (unknown: 0 -> <unk> 3) e (20) bra (unknown) s (19); the last piece and the comma's word
  // boundary as spm_encode gives them; 10 positions keep 8 pieces: <s> 8 pieces </s>.
  const Tokenized u = tok.encode("a red ball, zebras", 10);
  EXPECT_EQ(u.ids, (std::vector<int64_t>{0, 5, 11, 12, 22, 19, 3, 21, 3, 2}));
  EXPECT_TRUE(u.truncated);
  const auto uw = WanTokenizer::words(u);
  ASSERT_EQ(uw.size(), 4u);
  EXPECT_EQ(uw[2].word, "ball");
  EXPECT_EQ(uw[2].tokens, (std::vector<int64_t>{3})) << "the comma is not part of the word";
  EXPECT_EQ(uw[3].tokens, (std::vector<int64_t>{5, 6, 7, 8}));
  EXPECT_TRUE(uw[3].truncated);
  std::string msg = focalscope::testing::error_of([] { XlmrTokenizer bad("/nonexistent/sentencepiece.bpe.model"); });
  EXPECT_NE(msg.find("/nonexistent/sentencepiece.bpe.model"), std::string::npos) << msg;
  msg = focalscope::testing::error_of([&] { tok.encode("a", 1); });
  EXPECT_NE(msg.find("seq_len"), std::string::npos) << msg;
}

TEST(XlmrTextTower, LoadsTheReleaseFilesTextTowerAndChecksEveryTensor) {
  const TensorSet set = load_tensor_file(clip_pth());
  ASSERT_TRUE(XlmrTextTower::present(set));
  const XlmrTextTower t = XlmrTextTower::load(set);
  EXPECT_EQ(t.cfg.vocab, 24);
  EXPECT_EQ(t.cfg.dim, 16);
  EXPECT_EQ(t.cfg.num_layers, 1);
  EXPECT_EQ(t.cfg.num_heads, 1) << "16 wide: not a multiple of XLM-R's 64-wide heads";
  EXPECT_EQ(t.cfg.max_positions, 12);
  EXPECT_EQ(t.cfg.max_text_len(), 10);
  EXPECT_EQ(t.cfg.mid_dim, 24);
  EXPECT_EQ(t.cfg.out_dim, 32);

  auto without = [&](const std::string& drop, const std::string& add, const std::vector<int64_t>& add_shape) {
    TensorSet s;
    s.origin = "clip.pth";
    for (const auto& n : set.names())
      if (n != drop) s.add(n, n == add ? at::zeros(add_shape) : set.get(n), "clip.pth");
    if (!add.empty() && !set.has(add)) s.add(add, at::zeros(add_shape), "clip.pth");
    return focalscope::testing::error_of([&] { XlmrTextTower::load(s); });
  };
  std::string msg = without("textual.blocks.0.ffn.2.bias", "", {});
  EXPECT_NE(msg.find("textual.blocks.0.ffn.2.bias"), std::string::npos) << msg;
  msg = without("", "textual.blocks.0.norm2.weight", {17});
  EXPECT_NE(msg.find("textual.blocks.0.norm2.weight"), std::string::npos) << msg;
  msg = without("", "textual.blocks.0.attn.extra", {4});
  EXPECT_NE(msg.find("unexpected"), std::string::npos) << msg;
  EXPECT_NE(msg.find("textual.blocks.0.attn.extra"), std::string::npos) << msg;
}

TEST(XlmrTextTower, ForwardPooledAndWordVectorsFollowTheirDefinition) {
  const XlmrTextTower t = XlmrTextTower::load(load_tensor_file(clip_pth()));
  XlmrTokenizer tok(kSpm);
  const Tokenized tk = tok.encode(kPrompt, 10);
  const std::vector<int64_t> real(tk.ids.begin(), tk.ids.begin() + tk.length());
  const at::Tensor want = reference_states(t, real);
  const at::Tensor got = t.forward(tk.ids_tensor())[0];
  EXPECT_LT((got.narrow(0, 0, tk.length()).to(at::kDouble) - want).abs().max().item<double>(), 1e-5);
  // Padding never reaches a real token: the same prompt without padding gives the same rows.
  const at::Tensor unpadded = t.forward(at::tensor(real, at::kLong).unsqueeze(0))[0];
  EXPECT_LT((unpadded - got.narrow(0, 0, tk.length())).abs().max().item<double>(), 1e-6);
  // Positions start at pad_id + 1 = 2: rows 0-1 of the position table are never read.
  XlmrTextTower t2 = t;
  t2.pos_embedding = t.pos_embedding.clone();
  t2.pos_embedding.narrow(0, 0, 2).fill_(100.0f);
  EXPECT_TRUE(at::equal(t2.forward(tk.ids_tensor())[0].narrow(0, 0, tk.length()), got.narrow(0, 0, tk.length())));
  // pooled = head(mean over the real tokens, <s> and </s> included).
  const at::Tensor pooled_want = reference_head(t, want.mean(0));
  EXPECT_LT((t.pooled(tk.ids_tensor())[0].to(at::kDouble) - pooled_want).abs().max().item<double>(), 1e-5);
  // A word's vector: head(mean of its tokens' states) — "cat" is token 2 alone.
  XlmrClipText x;
  x.tower = t;
  x.tokenizer = std::make_shared<XlmrTokenizer>(kSpm);
  x.check_vocabulary();
  std::vector<WordSpan> words;
  const at::Tensor emb = x.word_embeddings(kPrompt, words);
  ASSERT_EQ(emb.size(0), 6);
  EXPECT_LT((emb[1].to(at::kDouble) - reference_head(t, want[2])).abs().max().item<double>(), 1e-5);
  // Ids beyond the tower's vocabulary are refused, not read out of bounds.
  const std::string msg = focalscope::testing::error_of([&] { t.forward(at::tensor({0, 30, 2}, at::kLong).unsqueeze(0)); });
  EXPECT_NE(msg.find("vocabulary"), std::string::npos) << msg;
}

// The release layout with the xlm-roberta-large/ tokenizer folder beside it: the bundle carries the text tower, and
// Focal Guidance selects its keywords by Eq. 6 (CLIP word vectors against the reference's patch tokens). Without the
// folder, Eq. 6 is off with a load note saying which file is missing, and FSG asks for --keywords.
TEST(XlmrClip, Eq6SelectsKeywordsOnTheReleaseLayout) {
  const fs::path dir = focalscope::testing::temp_dir("xlmr_layout");
  for (const auto& e : fs::directory_iterator(focalscope::testing::layout_dir()))
    fs::copy(e.path(), dir / e.path().filename(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  fs::create_directories(dir / "xlm-roberta-large");
  fs::copy_file(kSpm, dir / "xlm-roberta-large" / "sentencepiece.bpe.model", fs::copy_options::overwrite_existing);
  LoadOptions opt;
  opt.check = false;  // the fixture's DiT expects 1280-wide CLIP tokens (tests/layout_bundle.h); the plan needs no DiT run
  auto b = load_model_bundle(dir.string(), opt);
  ASSERT_TRUE(b->xlmr_text != nullptr);
  EXPECT_EQ(b->layout.clip_tokenizer, (dir / "xlm-roberta-large" / "sentencepiece.bpe.model").string());

  const at::Tensor image = at::rand({3, 40, 48}, at::detail::createCPUGenerator(3)) * 2 - 1;
  const at::Tensor clip_fea = b->clip.clip_fea(image).to(at::kFloat);  // [1, 1 + 4 x 4, 64]
  GuidanceConfig cfg;
  cfg.tau_sel = -1;  // every content word passes the threshold; function words never do
  const FsgPlan plan = plan_focal_guidance(*b, kPrompt, clip_fea, cfg, 6, 6);
  ASSERT_EQ(plan.words.size(), 6u);
  std::vector<std::string> picked;
  for (const auto& k : plan.keywords) picked.push_back(k.word);
  EXPECT_EQ(picked, (std::vector<std::string>{"cat", "walks", "grass"}));
  // Each keyword's map is the cosine of its word vector with every projected patch token, recomputed here.
  std::vector<WordSpan> words;
  const at::Tensor emb = b->xlmr_text->word_embeddings(kPrompt, words);
  const at::Tensor patches = b->clip.project(clip_fea[0].narrow(0, 1, 16));
  const at::Tensor p = patches / patches.norm(2, {-1}, true);
  for (const auto& k : plan.keywords) {
    SCOPED_TRACE(k.word);
    size_t i = 0;
    while (words[i].word != k.word) ++i;
    const at::Tensor w = emb[static_cast<int64_t>(i)] / emb[static_cast<int64_t>(i)].norm();
    ASSERT_TRUE(k.sim.defined());
    EXPECT_LT((k.sim.reshape({-1}) - at::matmul(p, w)).abs().max().item<double>(), 1e-5);
    EXPECT_NEAR(k.clip_max, at::matmul(p, w).max().item<double>(), 1e-5);
  }
  fs::remove_all(dir);

  // The shared folder itself has no xlm-roberta-large/: no tower, a note, and FSG without keywords is refused.
  auto plain = load_model_bundle(focalscope::testing::layout_dir(), opt);
  EXPECT_EQ(plain->xlmr_text, nullptr);
  bool noted = false;
  for (const auto& n : plain->load_notes) noted = noted || n.find("xlm-roberta-large/sentencepiece.bpe.model") != std::string::npos;
  EXPECT_TRUE(noted);
  const std::string msg = focalscope::testing::error_of([&] { plan_focal_guidance(*plain, kPrompt, clip_fea, cfg, 6, 6); });
  EXPECT_NE(msg.find("--keywords"), std::string::npos) << msg;
}
