#include "engine/guidance/hunyuan_release_guidance.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "engine/core/error.h"
#include "engine/guidance/fg_equations.h"

namespace focalscope {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Words of the prompt: whitespace-separated, trailing / leading punctuation not part of the word. [begin, end) bytes.
struct Span {
  size_t begin, end;
};
std::vector<Span> word_spans(const std::string& p) {
  std::vector<Span> out;
  size_t i = 0;
  while (i < p.size()) {
    while (i < p.size() && std::isspace(static_cast<unsigned char>(p[i]))) ++i;
    size_t j = i;
    while (j < p.size() && !std::isspace(static_cast<unsigned char>(p[j]))) ++j;
    size_t b = i, e = j;
    while (b < e && std::ispunct(static_cast<unsigned char>(p[b]))) ++b;
    while (e > b && std::ispunct(static_cast<unsigned char>(p[e - 1]))) --e;
    if (e > b) out.push_back({b, e});
    i = j;
  }
  return out;
}

std::string rstrip(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// Token ranges of each word in `encode_raw(prefix + prompt)`, from prefix tokenisations (prefix-stability checked).
template <class Tok>
std::vector<std::pair<int64_t, int64_t>> word_token_ranges(const Tok& tok, const std::string& prefix, const std::string& prompt,
                                                           const std::vector<Span>& spans, const char* what) {
  const std::vector<int64_t> full = tok.encode_raw(prefix + prompt);
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& s : spans) {
    const auto before = tok.encode_raw(prefix + rstrip(prompt.substr(0, s.begin)));
    const auto upto = tok.encode_raw(prefix + prompt.substr(0, s.end));
    if (upto.size() > full.size() || !std::equal(upto.begin(), upto.end(), full.begin()) || before.size() > upto.size())
      fail("focal guidance", std::string(what) + ": the prompt's tokenisation is not prefix-stable at the word '" +
                                 prompt.substr(s.begin, s.end - s.begin) + "'");
    out.emplace_back(static_cast<int64_t>(before.size()), static_cast<int64_t>(upto.size()));
  }
  return out;
}

at::Tensor unit_rows(const at::Tensor& x) { return x / at::linalg_vector_norm(x, 2, {-1}, true).clamp_min(1e-12); }

}  // namespace

std::vector<HunyuanWordRows> hunyuan_prompt_word_rows(const LlavaI2VTextEncoder& mllm, const std::string& prompt, int64_t image_rows) {
  const HunyuanPromptTemplate& T = mllm.prompt_template();
  const HfBpeTokenizer& tok = mllm.tokenizer();
  const std::vector<Span> spans = word_spans(prompt);
  const auto ranges = word_token_ranges(tok, T.prefix(), prompt, spans, "LLaVA tokenizer");
  const int64_t bos = tok.prefix_length();
  if (static_cast<int64_t>(tok.encode_raw(T.prefix()).size()) + bos != T.crop_start)
    fail("focal guidance", "the template prefix tokenises to a length other than its crop_start " + std::to_string(T.crop_start));
  // The crop keeps input positions [crop_start, i - 4), i the last "\n\n" within max_length; the prompt's words come
  // before the template's suffix, so a word is cut only when the prompt itself is truncated at max_length - 5.
  const int64_t limit = mllm.max_length() - 5;
  const std::vector<int64_t> full = tok.encode_raw(T.prefix() + prompt);
  auto blank = [&](int64_t t) {  // a token that decodes to whitespace only (a space the vocabulary did not merge)
    const std::string d = tok.decode({full[static_cast<size_t>(t)]});
    return std::all_of(d.begin(), d.end(), [](char ch) { return std::isspace(static_cast<unsigned char>(ch)); });
  };
  std::vector<HunyuanWordRows> out;
  for (size_t w = 0; w < spans.size(); ++w) {
    HunyuanWordRows r;
    r.word = prompt.substr(spans[w].begin, spans[w].end - spans[w].begin);
    int64_t t0 = ranges[w].first;
    // The separating space carries the boundary, not the word (as the Wan tokenizer's bare "▁" piece).
    while (t0 + 1 < ranges[w].second && blank(t0)) ++t0;
    for (int64_t t = t0; t < ranges[w].second; ++t) {
      const int64_t p = bos + t;
      if (p >= limit) {
        r.truncated = true;
        break;
      }
      r.rows.push_back(image_rows + (p - T.crop_start));
    }
    out.push_back(std::move(r));
  }
  return out;
}

HunyuanGuidanceSetup plan_hunyuan_focal_guidance(const HunyuanBundle& b, const std::string& prompt, const at::Tensor& image,
                                                 const GuidanceConfig& cfg, int64_t grid_h, int64_t grid_w) {
  HunyuanGuidanceSetup s;
  s.config = cfg;
  const HunyuanConfig& c = b.dit->cfg;
  const int num_layers = c.mm_double_blocks_depth + c.mm_single_blocks_depth;
  if (!cfg.weak_layers.empty()) {
    s.weak_layers = cfg.weak_layers;
  } else if (c.mm_single_blocks_depth == 40) {
    for (int l = 17; l <= 32; ++l) s.weak_layers.push_back(c.mm_double_blocks_depth + l);
    s.notes.push_back("weak layers: the paper's single-stream blocks 17-32 (our layers " +
                      std::to_string(c.mm_double_blocks_depth + 17) + "-" + std::to_string(c.mm_double_blocks_depth + 32) + ")");
  } else {
    fail("--weak-layers", "this HunyuanVideo model has " + std::to_string(c.mm_single_blocks_depth) +
                              " single-stream blocks, not the release's 40 the paper's 17-32 refer to: give the layers (0-" +
                              std::to_string(num_layers - 1) + ")");
  }
  for (int l : s.weak_layers)
    if (l < 0 || l >= num_layers) fail("--weak-layers", "layer " + std::to_string(l) + " does not exist (model has " + std::to_string(num_layers) + ")");

  const HfClipTowerConfig& vc = b.mllm->vision_tower().cfg;
  const int64_t side = vc.grid(), stride = b.mllm->options().image_embed_interleave;
  const int64_t image_rows = (side * side + stride - 1) / stride;
  const auto words = hunyuan_prompt_word_rows(*b.mllm, prompt, image_rows);

  // Eq. 6 with CLIP-L, when its vision weights are there.
  at::Tensor S;  // [W, g*g]
  int64_t g = 0;
  if (b.clip->has_vision()) {
    const at::Tensor emb = b.clip->token_embeds(prompt);                                      // [L, P]
    const at::Tensor patches = unit_rows(b.clip->patch_embeds(b.clip->pixel_values(image_m11_to_u8_hwc(image))));
    g = static_cast<int64_t>(std::llround(std::sqrt(double(patches.size(0)))));
    if (g * g != patches.size(0)) fail("focal guidance", "CLIP-L patches do not form a square grid");
    const std::vector<Span> spans = word_spans(prompt);
    const auto ranges = word_token_ranges(b.clip->tokenizer(), "", prompt, spans, "CLIP tokenizer");
    std::vector<at::Tensor> rows;
    for (const auto& [t0, t1] : ranges) {
      const int64_t a = 1 + t0, n = std::max<int64_t>(1, t1 - t0);  // +1: BOS
      rows.push_back(a + n <= emb.size(0) ? unit_rows(emb.narrow(0, a, n).mean(0)) : at::zeros({emb.size(1)}));
    }
    if (!rows.empty()) S = fg::word_patch_similarity(at::stack(rows), patches, cfg.sim_sign);
  }
  std::vector<std::string> wanted;
  for (const auto& k : cfg.keywords) wanted.push_back(lower(k));
  if (!S.defined() && wanted.empty())
    fail("focal guidance", b.release.text_encoder_2 + " has no CLIP vision weights to select keywords (Eq. 6): give them with --keywords");
  if (!S.defined()) {
    s.config.lambda_lat = 0;  // Eq. 9 needs the keyword's map
    s.notes.push_back("no CLIP-L vision weights: keyword anchors are uniform over the image rows and Eq. 9 is off");
  }
  for (size_t i = 0; i < words.size(); ++i) {
    WordScore ws;
    ws.word = words[i].word;
    ws.tokens = words[i].rows;
    ws.clip_max = S.defined() ? S[static_cast<int64_t>(i)].max().item<double>() : std::nan("");
    if (!words[i].truncated && !ws.tokens.empty()) {
      if (!wanted.empty()) {
        for (const auto& w : wanted) ws.selected = ws.selected || lower(ws.word) == w;
      } else {
        ws.selected = ws.clip_max > cfg.tau_sel && !is_function_word(lower(ws.word));
      }
    }
    s.plan.words.push_back(ws);
  }
  for (const auto& w : wanted) {
    bool found = false;
    for (const auto& ws : s.plan.words) found = found || lower(ws.word) == w;
    if (!found) fail("keyword '" + w + "'", "is not a word of the prompt");
  }
  std::vector<at::Tensor> sims;
  for (size_t i = 0; i < s.plan.words.size(); ++i) {
    if (!s.plan.words[i].selected) continue;
    KeywordAnchor k;
    k.word = s.plan.words[i].word;
    k.tokens = s.plan.words[i].tokens;
    k.clip_max = s.plan.words[i].clip_max;
    k.sim = S.defined() ? S[static_cast<int64_t>(i)].view({g, g}).clone() : at::zeros({side, side});
    k.region = S.defined() ? fg::region_weights(k.sim, grid_h, grid_w, cfg.tau_region) : at::zeros({grid_h, grid_w});
    sims.push_back(k.sim);
    s.plan.keywords.push_back(std::move(k));
  }
  if (!sims.empty()) s.anchors = hunyuan_visual_anchor_weights(sims, side, stride);
  return s;
}

}  // namespace focalscope
