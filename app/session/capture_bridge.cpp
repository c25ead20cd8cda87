#include "app/session/capture_bridge.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "app/session/prompt_words.h"
#include "engine/capture/capture_keywords.h"
#include "engine/capture/capture_layout.h"
#include "engine/capture/similarity_capture.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/text/tokenizer.h"
#include "render/colormap.h"

namespace focalscope::session {

std::vector<int> sample_steps(int steps, int max_columns) {
  std::vector<int> out;
  if (steps <= 0) return out;
  max_columns = std::max(2, max_columns);
  if (steps <= max_columns) {
    for (int i = 0; i < steps; ++i) out.push_back(i);
    return out;
  }
  for (int c = 0; c < max_columns; ++c) {
    int s = static_cast<int>(std::lround(double(c) * (steps - 1) / (max_columns - 1)));
    if (out.empty() || out.back() != s) out.push_back(s);
  }
  return out;
}

MapPtr make_similarity_map(int frames, int height, int width, std::vector<float> cond, std::vector<float> uncond) {
  auto m = std::make_shared<SimilarityMap>();
  m->frames = frames;
  m->height = height;
  m->width = width;
  m->cond = std::move(cond);
  m->uncond = std::move(uncond);
  const size_t n = static_cast<size_t>(frames) * height * width;
  if (m->cond.size() == n && n > 0) {
    m->cond_stats = analysis::frame_mean_stats(m->cond.data(), frames, height, width);
    std::tie(m->cond_min, m->cond_max) = render::finite_range(m->cond.data(), n);
  } else {
    m->cond.clear();
  }
  if (m->uncond.size() == n && n > 0) {
    m->uncond_stats = analysis::frame_mean_stats(m->uncond.data(), frames, height, width);
    std::tie(m->uncond_min, m->uncond_max) = render::finite_range(m->uncond.data(), n);
  } else {
    m->uncond.clear();
  }
  return m;
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Captures every content word of the prompt (up to kMaxAutoWords, plus the words asked for) at all layers and
// the sampled steps, for the conditional and (with CFG) the unconditional pass.
class SimilarityBridge : public CaptureBridge {
 public:
  static constexpr size_t kMaxAutoWords = 12;

  SimilarityBridge(const ModelBundle& m, const GenerateRequest& req, const RunParams& P,
                   const std::vector<std::string>& extra, const std::vector<int>& sampled) {
    const int64_t seq_len = m.text_len;
    // Chips: the tokenizer's words of the prompt (so every chip resolves), function words left out.
    std::vector<std::string> words;
    for (const WordSpan& w : m.tokenizer->words(req.prompt, seq_len)) {
      const std::string lw = lower(w.word);
      if (w.truncated || w.tokens.empty() || is_stop_word(lw)) continue;
      bool digits = std::all_of(lw.begin(), lw.end(), [](unsigned char c) { return std::isdigit(c); });
      if (digits) continue;
      bool dup = false;
      for (const auto& k : kw_) dup = dup || lower(k.word) == lw;
      if (dup) continue;
      KeywordInfo k;
      k.word = w.word;
      kw_.push_back(k);
    }
    for (size_t i = 0; i < kw_.size(); ++i)
      if (words.size() < kMaxAutoWords) words.push_back(kw_[i].word);
    for (const auto& e : extra) {
      bool have = false;
      for (const auto& w : words) have = have || lower(w) == lower(e);
      bool in_prompt = false;
      for (const auto& k : kw_) in_prompt = in_prompt || lower(k.word) == lower(e);
      if (!have && in_prompt) words.push_back(e);
    }
    if (words.empty()) return;
    std::vector<CaptureKeyword> keys = resolve_keywords(*m.tokenizer, req.prompt, words, seq_len, m.text_row_offset());
    CaptureSelection sel;
    sel.steps = sampled;
    sel.cond = true;
    sel.uncond = P.guide_scale != 1.0;
    const auto& ps = m.patch_size();
    CaptureLayout layout = make_capture_layout(sel, m.num_layers(), P.steps, static_cast<int64_t>(keys.size()),
                                               token_grid(P.lat_f, P.lat_h, P.lat_w, {ps[0], ps[1], ps[2]}));
    for (const auto& k : keys)
      for (size_t i = 0; i < kw_.size(); ++i)
        if (lower(kw_[i].word) == lower(k.word)) {
          kw_[i].captured = true;
          slots_.push_back(static_cast<int>(i));
        }
    cap_ = std::make_unique<SimilarityCapture>(std::move(keys), std::move(layout));
  }

  ProbeListener* listener() override { return cap_.get(); }
  std::vector<KeywordInfo> keywords() const override { return kw_; }
  std::vector<int> capture_keywords() const override { return slots_; }

  std::vector<std::vector<MapPtr>> collect(int step) override {
    std::vector<std::vector<MapPtr>> out;
    if (!cap_) return out;
    const CaptureLayout& L = cap_->layout();
    const int ss = L.step_slot(step);
    if (ss < 0) return out;
    if (cap_->ready_steps() <= ss) cap_->finish();  // the step ended: publish what it wrote
    if (cap_->ready_steps() <= ss) return out;
    const int pc = L.pass_slot(PassRole::Cond), pu = L.pass_slot(PassRole::Uncond);
    const int F = static_cast<int>(L.grid[0]), H = static_cast<int>(L.grid[1]), W = static_cast<int>(L.grid[2]);
    const int nl = m_layers();
    out.assign(slots_.size(), std::vector<MapPtr>(static_cast<size_t>(nl)));
    for (size_t k = 0; k < slots_.size(); ++k) {
      for (size_t li = 0; li < L.layers.size(); ++li) {
        const int layer = L.layers[li];
        std::vector<float> c, u;
        if (pc >= 0 && cap_->filled(ss, pc, static_cast<int>(li)))
          c = cap_->map(ss, pc, static_cast<int>(li), static_cast<int>(k));
        if (pu >= 0 && cap_->filled(ss, pu, static_cast<int>(li)))
          u = cap_->map(ss, pu, static_cast<int>(li), static_cast<int>(k));
        if (c.empty() && u.empty()) continue;
        if (layer >= 0 && layer < nl) out[k][layer] = make_similarity_map(F, H, W, std::move(c), std::move(u));
      }
    }
    return out;
  }

 private:
  int m_layers() const { return cap_ && !cap_->layout().layers.empty() ? cap_->layout().layers.back() + 1 : 0; }

  std::vector<KeywordInfo> kw_;
  std::vector<int> slots_;
  std::unique_ptr<SimilarityCapture> cap_;
};

}  // namespace

std::unique_ptr<CaptureBridge> make_capture_bridge(const ModelBundle& model, const GenerateRequest& req,
                                                   const RunParams& params, const std::vector<std::string>& words,
                                                   const std::vector<int>& sampled, float /*tau_sel*/) {
  return std::make_unique<SimilarityBridge>(model, req, params, words, sampled);
}

}  // namespace focalscope::session
