#include "engine/guidance/focal_guidance.h"


#include <cctype>
#include <cmath>
#include <limits>
#include <set>

#include "engine/clip/xlmr_text.h"
#include "engine/core/error.h"
#include "engine/guidance/fg_equations.h"
#include "engine/pipeline/model_bundle.h"

namespace focalscope {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Text-context rows of a word: its pieces, dropping a bare "▁" boundary piece when the word has others (it carries
// the space, not the word) — the same rule as similarity capture.
std::vector<int64_t> word_rows(const WanTokenizer& tok, const Tokenized& t, const WordSpan& w) {
  std::vector<int64_t> rows;
  for (int64_t i : w.tokens)
    if (!(w.tokens.size() > 1 && tok.id_to_piece(t.ids[static_cast<size_t>(i)]) == "\xE2\x96\x81")) rows.push_back(i);
  return rows.empty() ? w.tokens : rows;
}

at::Tensor unit_rows(const at::Tensor& x) { return x / at::linalg_vector_norm(x, 2, {-1}, true).clamp_min(1e-12); }

// Function words are never keywords by Eq. 6. CLIP's text tokens are contextual: "the" in "the red ball" carries
// its noun phrase and scores as high as the nouns (measured on the embedded model: 0.82-0.85 vs 0.62-0.88 for
// object words), so a threshold alone cannot separate them. Given keywords may still name any word.
}  // namespace

bool is_function_word(const std::string& lowered_word) {
  static const std::set<std::string> kWords = {
      "a", "an", "the", "and", "or", "but", "it", "its", "itself", "this", "that", "these", "those", "is", "are", "be",
      "was", "were", "in", "into", "on", "onto", "of", "off", "to", "toward", "towards", "at", "by", "with", "from",
      "along", "around", "behind", "across", "over", "under", "up", "down", "then", "while", "as", "so", "until"};
  std::string w = lowered_word;
  while (!w.empty() && !std::isalnum(static_cast<unsigned char>(w.back()))) w.pop_back();
  return kWords.count(w) != 0;
}


FsgPlan plan_focal_guidance(const ModelBundle& m, const std::string& prompt, const at::Tensor& clip_fea,
                            const GuidanceConfig& cfg, int64_t grid_h, int64_t grid_w) {
  FsgPlan plan;
  const WanTokenizer& tok = *m.tokenizer;
  Tokenized t = tok.encode(prompt, m.text_len);
  std::vector<WordSpan> words = WanTokenizer::words(t);

  // Patch tokens v_n (clip_fea without the class token) on a g x g grid. Without them (a Wan2.2 expert: no CLIP
  // image encoder) there is no map: keywords must be given, and each gets no sim / anchor and a whole-frame region.
  at::Tensor patches;  // [N, clip_dim]
  int64_t n_patch = 0, g = 0;
  if (clip_fea.defined()) {
    at::Tensor fea = clip_fea.to(at::kCPU, at::kFloat).reshape({-1, clip_fea.size(-1)});
    n_patch = fea.size(0) - 1;
    g = static_cast<int64_t>(std::llround(std::sqrt(double(n_patch))));
    if (g * g != n_patch) fail("focal guidance", "CLIP tokens do not form a square patch grid");
    patches = fea.narrow(0, 1, n_patch);
  } else if (cfg.keywords.empty()) {
    fail("focal guidance", "this model has no CLIP image encoder to select keywords (Eq. 6): give them with keywords / --keywords");
  }

  // Eq. 6: word embeddings vs projected patches in the joint space.
  at::Tensor S_words;  // [W, N]
  if (m.clip_text && patches.defined()) {
    const auto& ct = *m.clip_text;
    Tokenized tc = tok.encode(prompt, ct.cfg.text_len);
    at::Tensor emb = ct.token_embeddings(tc.ids_tensor().to(ct.token_embedding.device()),
                                         tc.mask_tensor().to(ct.token_embedding.device()))[0].to(at::kCPU, at::kFloat);
    std::vector<WordSpan> cwords = WanTokenizer::words(tc);
    at::Tensor proj = unit_rows(m.clip.project(patches.to(m.clip.patch_w.device(), m.clip.patch_w.scalar_type())).to(at::kCPU, at::kFloat));
    std::vector<at::Tensor> rows;
    for (const auto& w : cwords) {
      auto r = word_rows(tok, tc, w);
      at::Tensor idx = at::tensor(r, at::TensorOptions().dtype(at::kLong));
      rows.push_back(unit_rows(emb.index_select(0, idx).mean(0)));
    }
    if (!rows.empty()) S_words = fg::word_patch_similarity(at::stack(rows), proj, cfg.sim_sign);
    if (cwords.size() != words.size()) fail("focal guidance", "CLIP text and DiT tokenisations disagree on the words of the prompt");
  } else if (m.xlmr_text && patches.defined()) {
    // Wan's own CLIP: the XLM-R text tower and its tokenizer (engine/clip/xlmr_text.h), the same joint space.
    std::vector<WordSpan> cwords;
    const at::Tensor emb = m.xlmr_text->word_embeddings(prompt, cwords);
    at::Tensor proj = unit_rows(m.clip.project(patches.to(m.clip.head.device(), m.clip.head.scalar_type())).to(at::kCPU, at::kFloat));
    if (cwords.size() != words.size()) fail("focal guidance", "CLIP (XLM-R) and DiT tokenisations disagree on the words of the prompt");
    if (!cwords.empty()) S_words = fg::word_patch_similarity(unit_rows(emb), proj, cfg.sim_sign);
  }

  std::vector<std::string> wanted;
  for (const auto& k : cfg.keywords) wanted.push_back(lower(k));
  if (!m.clip_text && !m.xlmr_text && wanted.empty())
    fail("focal guidance", "this model has no CLIP text tower to select keywords (Eq. 6): give them with keywords / --keywords");

  for (size_t i = 0; i < words.size(); ++i) {
    WordScore ws;
    ws.word = words[i].word;
    ws.tokens = word_rows(tok, t, words[i]);
    ws.clip_max = S_words.defined() ? S_words[static_cast<int64_t>(i)].max().item<double>() : std::nan("");
    if (words[i].truncated || ws.tokens.empty()) {
      plan.words.push_back(ws);
      continue;
    }
    if (!wanted.empty()) {
      for (const auto& w : wanted) ws.selected = ws.selected || lower(ws.word) == w;
    } else {
      ws.selected = ws.clip_max > cfg.tau_sel && !is_function_word(lower(ws.word));
    }
    plan.words.push_back(ws);
  }
  for (const auto& w : wanted) {
    bool found = false;
    for (const auto& ws : plan.words) found = found || lower(ws.word) == w;
    if (!found) fail("keyword '" + w + "'", "is not a word of the prompt");
  }

  for (size_t i = 0; i < plan.words.size(); ++i) {
    if (!plan.words[i].selected) continue;
    KeywordAnchor k;
    k.word = plan.words[i].word;
    k.tokens = plan.words[i].tokens;
    k.clip_max = plan.words[i].clip_max;
    if (!patches.defined()) {  // no CLIP: a flat map, so the region is the whole reference frame (as a zero map gives)
      k.region = fg::region_weights(at::zeros({1, 1}), grid_h, grid_w, cfg.tau_region);
      plan.keywords.push_back(std::move(k));
      continue;
    }
    at::Tensor s = S_words.defined() ? S_words[static_cast<int64_t>(i)] : at::zeros({n_patch});
    k.sim = s.view({g, g}).clone();
    k.anchor = fg::visual_anchor(s, patches);                                   // [clip_dim]
    k.region = fg::region_weights(k.sim, grid_h, grid_w, cfg.tau_region);     // R_k and w_k (Eq. 9)
    plan.keywords.push_back(std::move(k));
  }
  return plan;
}

at::Tensor wan_visual_anchors(const WanModel& d, const FsgPlan& plan) {
  if (plan.keywords.empty()) return {};
  // Eq. 7: the DiT's own image projection img_emb applied to each anchor.
  std::vector<at::Tensor> a;
  for (const auto& k : plan.keywords) a.push_back(k.anchor);
  at::Tensor anchors = at::stack(a).to(d.img_lin1.w.device());  // [K, clip_dim]
  at::Tensor h = at::layer_norm(anchors.to(at::kFloat), {d.cfg.clip_dim}, d.img_norm0.w, d.img_norm0.b, 1e-5);
  h = d.img_lin3(at::gelu(d.img_lin1(h.to(d.img_lin1.w.scalar_type()))));
  return at::layer_norm(h.to(at::kFloat), {d.cfg.dim}, d.img_norm4.w, d.img_norm4.b, 1e-5);  // [K, dim]
}

FocalGuidance::FocalGuidance(const ModelBundle& m, GuidanceConfig cfg, FsgPlan plan, int num_layers)
    : FocalGuidance(std::move(cfg), num_layers, m.weak_layers, wan_visual_anchors(m.dit, plan), plan) {}  // plan copied: argument order is unspecified

FocalGuidance::FocalGuidance(GuidanceConfig cfg, int num_layers, const std::vector<int>& model_weak_layers,
                             at::Tensor anchors, FsgPlan plan)
    : cfg_(std::move(cfg)), plan_(std::move(plan)) {
  cfg_.validate();
  weak_ = cfg_.weak_layers.empty() ? model_weak_layers : cfg_.weak_layers;
  weak_mask_.assign(static_cast<size_t>(num_layers), 0);
  for (int l : weak_) {
    if (l < 0 || l >= num_layers) fail("weak layers", "layer " + std::to_string(l) + " does not exist (model has " + std::to_string(num_layers) + ")");
    weak_mask_[static_cast<size_t>(l)] = 1;
  }
  if (cfg_.active() && weak_.empty())
    fail("focal guidance", "no semantic-weak layers: run `focalscope analyze` on this model or give weak_layers");
  if (cfg_.active() && static_cast<int>(weak_.size()) == num_layers && cfg_.ac)
    fail("focal guidance", "every layer is marked weak: the Attention Cache needs responsive layers");
  vvis_.resize(static_cast<size_t>(num_layers));
  for (int l : weak_) stats_.weak.push_back({l});
  const int64_t K = static_cast<int64_t>(plan_.keywords.size());
  if (K == 0) return;
  if (!anchors.defined() || anchors.dim() != 2 || anchors.size(0) != K)
    fail("focal guidance", "the model's visual anchors must be one row per keyword (" + std::to_string(K) + ")");
  anchors_dit_ = std::move(anchors);
  // Averaging matrix over each keyword's text rows (for V(k) in the cache maps).
  std::vector<int64_t> idx;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const auto& k : plan_.keywords) {
    ranges.emplace_back(static_cast<int64_t>(idx.size()), static_cast<int64_t>(k.tokens.size()));
    idx.insert(idx.end(), k.tokens.begin(), k.tokens.end());
  }
  token_index_ = at::tensor(idx, at::TensorOptions().dtype(at::kLong));
  token_mean_ = at::zeros({K, static_cast<int64_t>(idx.size())});
  for (int64_t k = 0; k < K; ++k)
    token_mean_[k].narrow(0, ranges[static_cast<size_t>(k)].first, ranges[static_cast<size_t>(k)].second).fill_(1.0 / double(ranges[static_cast<size_t>(k)].second));
}

bool FocalGuidance::wants(const ForwardInfo&, int layer) const {
  if (!cfg_.active() || plan_.keywords.empty()) return false;
  if (is_weak(layer)) return true;
  return cfg_.ac && cfg_.lambda_cache != 0;  // responsive layers feed the cache
}

at::Tensor FocalGuidance::visual_values(const BlockProbe& p) {
  if (!p.view.visual_values_are_static()) {  // [K, dim], read at this block call's input point (see dyn_vv_)
    if (&p != dyn_probe_ || !dyn_vv_.defined()) {
      dyn_vv_ = p.view.visual_values(anchors_dit_, p);
      dyn_probe_ = &p;
    }
    return dyn_vv_;
  }
  at::Tensor& v = vvis_[static_cast<size_t>(p.layer)];
  if (!v.defined()) v = p.view.visual_values(anchors_dit_, p);
  return v;
}

std::vector<int64_t> FocalGuidance::guided_rows(const ForwardInfo& info) const {
  std::vector<int64_t> rows;
  for (size_t b = 0; b < info.roles.size(); ++b)
    if (!cfg_.cond_only || info.roles[b] == PassRole::Cond) rows.push_back(static_cast<int64_t>(b));
  return rows;
}

at::Tensor FocalGuidance::cache_maps(int step) {
  at::Tensor a;
  if (cfg_.cache_source == CacheSource::ThisStepEarlierLayers && cur_step_ == step && cur_count_ > 0)
    a = cur_sum_ / double(cur_count_);  // alpha_l = 1 / (#responsive layers so far)
  else if (prev_cache_.defined())
    a = prev_cache_;
  if (!a.defined()) return a;
  stats_.cache_max = std::max(stats_.cache_max, a.max().item<double>());
  stats_.cache_values += a.numel();
  stats_.cache_above += (a > cfg_.tau_cache).sum().item<int64_t>();
  if (record_cache_) {
    const at::Tensor f = a.to(at::kCPU, at::kFloat).contiguous();
    stats_.cache_samples.insert(stats_.cache_samples.end(), f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  }
  return fg::threshold_cache(a, cfg_.tau_cache);  // Eq. 12
}

GuidanceStats::Layer* FocalGuidance::layer_stats(int layer) {
  for (auto& l : stats_.weak)
    if (l.layer == layer) return &l;
  return nullptr;
}

int64_t GuidanceStats::ac_tokens_touched() const {
  int64_t n = 0;
  for (const auto& l : weak) n += l.ac_tokens_touched;
  return n;
}

std::vector<std::string> guidance_noops(const GuidanceConfig& cfg, const FsgPlan& plan, const GuidanceStats& st) {
  std::vector<std::string> out;
  if (!cfg.fsg && !cfg.ac) return out;
  char b[512];
  if (!cfg.active()) {  // no plan was made: the strengths alone say it
    if (cfg.fsg) out.push_back("FSG is on but lambda_txt = lambda_lat = 0: it did nothing");
    if (cfg.ac) out.push_back("the Attention Cache is on but lambda_cache = 0: it did nothing");
    return out;
  }
  if (plan.keywords.empty()) {
    const WordScore* best = nullptr;
    for (const auto& w : plan.words)  // function words can never be selected: the best candidate is a content word
      if (std::isfinite(w.clip_max) && !is_function_word(lower(w.word)) && (!best || w.clip_max > best->clip_max)) best = &w;
    std::string what = cfg.fsg && cfg.ac ? "FSG and the Attention Cache did" : cfg.fsg ? "FSG did" : "the Attention Cache did";
    if (best)
      std::snprintf(b, sizeof b, "no keyword reached tau_sel %.2f (best word '%s' scores %.2f): %s nothing", cfg.tau_sel,
                    best->word.c_str(), best->clip_max, what.c_str());
    else
      std::snprintf(b, sizeof b, "no keyword was selected: %s nothing", what.c_str());
    out.push_back(b);
    return out;  // nothing else can have run
  }
  if (cfg.fsg && cfg.lambda_txt == 0 && cfg.lambda_lat == 0)
    out.push_back("FSG is on but lambda_txt = lambda_lat = 0: it did nothing");
  if (cfg.ac) {
    if (cfg.lambda_cache == 0) {
      out.push_back("the Attention Cache is on but lambda_cache = 0: it did nothing");
    } else if (st.ac_tokens_touched() == 0) {
      if (st.cache_values == 0)
        std::snprintf(b, sizeof b, "the Attention Cache kept 0 tokens: no responsive layer fed it (weak set covers the layers before every weak layer?)");
      else
        std::snprintf(b, sizeof b, "the Attention Cache kept 0 tokens: %.1f%% of cache values are above tau_cache %.2f, the "
                      "largest is %.3f (calibrate with `focalscope calibrate` or lower --tau-cache)",
                      100.0 * double(st.cache_above) / double(st.cache_values), cfg.tau_cache, st.cache_max);
      out.push_back(b);
    }
  }
  return out;
}

void FocalGuidance::on_cross_attn_input(BlockProbe& p) {
  // New step: close the previous step's cache (Eq. 11 over all of its responsive layers).
  if (p.info.step != cur_step_) {
    if (cur_count_ > 0) prev_cache_ = cur_sum_ / double(cur_count_);
    cur_step_ = p.info.step;
    cur_sum_ = at::Tensor();
    cur_count_ = 0;
  }
  dyn_vv_ = at::Tensor();  // a new block call: activation-read anchors are read afresh
  if (!is_weak(p.layer)) return;
  const std::vector<int64_t> rows = guided_rows(p.info);
  if (rows.empty()) return;
  at::Tensor vv = visual_values(p);  // [K, dim]
  if (cfg_.fsg && cfg_.lambda_lat != 0) {  // Eq. 9: reference-frame tokens (latent frame 0 comes first) in R_k
    std::vector<at::Tensor> regs;
    for (const auto& k : plan_.keywords) regs.push_back(k.region.reshape({-1}));
    p.x = fg::inject_weighted(p.x, rows, at::stack(regs), vv, cfg_.lambda_lat);
  }
  GuidanceStats::Layer* ls = layer_stats(p.layer);
  if (cfg_.fsg && ls) ++ls->fsg_applications;
  if (cfg_.ac && cfg_.lambda_cache != 0) {  // Eq. 13 on every token
    at::Tensor A = cache_maps(p.info.step);
    if (A.defined() && A.size(1) == p.x.size(1)) {
      p.x = fg::inject_weighted(p.x, rows, A, vv, cfg_.lambda_cache);
      if (ls) {
        ++ls->ac_applications;
        ls->ac_tokens_touched += (A != 0).any(0).sum().item<int64_t>() * static_cast<int64_t>(rows.size());
        ls->ac_tokens_seen += A.size(1) * static_cast<int64_t>(rows.size());
      }
    }
  }
}

void FocalGuidance::on_cross_attn_values(BlockProbe& p) {
  const std::vector<int64_t> rows = guided_rows(p.info);
  if (rows.empty()) return;
  if (!is_weak(p.layer)) {
    // Responsive layer: Eq. 10 maps of the keywords (first guided row), accumulated for the cache (Eq. 11).
    if (!cfg_.ac) return;
    at::Tensor tv = p.text_v[rows[0]].index_select(0, token_index_.to(p.text_v.device())).to(at::kFloat);  // [T, dim]
    at::Tensor a = fg::keyword_cosine(at::matmul(token_mean_.to(tv.device()), tv), p.x_norm[rows[0]]);    // [K, L]
    cur_sum_ = cur_sum_.defined() ? cur_sum_ + a : a;
    ++cur_count_;
    return;
  }
  if (!cfg_.fsg || cfg_.lambda_txt == 0) return;
  std::vector<std::vector<int64_t>> krows;
  for (const auto& k : plan_.keywords) krows.push_back(k.tokens);
  p.text_v = fg::fuse_text_values(p.text_v, rows, krows, visual_values(p), cfg_.lambda_txt);  // Eq. 8
}

}  // namespace focalscope
