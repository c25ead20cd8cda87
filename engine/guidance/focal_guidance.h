// Focal Guidance (arXiv 2601.07287 §4) as a probe listener on the DiT.
//
//   FSG, Fine-grained Semantic Guidance (§4.1), planned once per run from the reference image:
//     Eq. 6  S[m, n] = sign * cos(t_m, v_n): CLIP word embeddings t_m vs the image's patch tokens v_n (penultimate layer,
//            projected to the joint space); words with max_n S > tau_sel become keywords k.
//            A multi-piece word uses the mean of its pieces' embeddings.
//            Sign: the paper prints a negative cosine (after CLIP Surgery, whose raw CLIP maps are "inverted"); our
//            grounding-trained CLIP is not inverted, so the default sign is +1 (GuidanceConfig::sim_sign).
//     anchor v_anchor,k = sum_n w[k, n] v_n over the patch tokens in clip_fea space, w = max(S, 0) normalised to sum 1
//            (a similarity-weighted mean: unrelated patches neither add nor subtract).
//     Eq. 7  projections into the DiT space are the model's own: v^ = img_emb(v_anchor); t^ = text_embedding (already
//            inside the DiT's text context).
//     Eq. 8  in weak layers: V_text rows of keyword k += lambda_txt * V_vis,k with V_vis,k = cross_attn.v_img(v^_k)
//            (this layer's image value projection); queries and keys untouched.
//     Eq. 9  in weak layers: reference-frame tokens (latent frame 0) in region R_k (S normalised to [0, 1] on the token
//            grid > tau_region) get x += lambda_lat * w_k(u, v) * V_vis,k, w_k the normalised similarity.
//   Attention Cache (§4.2), per denoising step:
//     Eq. 10 A_l,k = cos(V(k)_l, z_l) over the token grid in responsive (non-weak) layers (z = norm3(x), as capture).
//     Eq. 11 A_cache,k = mean over responsive layers (alpha_l = 1 / (L - m)); source per GuidanceConfig::cache_source.
//     Eq. 12 keep values > tau_cache.
//     Eq. 13 in weak layers: x += lambda_cache * sum_k A_cache,k(u) * V_vis,k on every token.
// Only the conditional CFG rows are touched by default (the negative prompt has no keywords).
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "engine/models/probe.h"
#include "engine/guidance/guidance_config.h"

namespace focalscope {

struct ModelBundle;
class WanModel;

// Articles, conjunctions, pronouns, prepositions (a fixed list): never keywords by Eq. 6 (CLIP's contextual "the" scores
// as high as the nouns it introduces). Takes a lower-cased word; trailing punctuation is ignored.
bool is_function_word(const std::string& lowered_word);

// One prompt word with its CLIP similarity to the reference image (the GUI's keyword chips).
struct WordScore {
  std::string word;
  std::vector<int64_t> tokens;  // rows of the DiT text context (umT5 pieces) carrying the word
  double clip_max = 0;          // max over patches of S (Eq. 6); NaN when the model has no CLIP text tower
  bool selected = false;
};

struct KeywordAnchor {
  std::string word;
  std::vector<int64_t> tokens;  // text-context rows
  double clip_max = 0;
  at::Tensor sim;               // [g, g] S over the CLIP patch grid
  at::Tensor anchor;            // [clip_dim] v_anchor in clip_fea space
  at::Tensor region;            // [H', W'] w_k on the DiT token grid (0 outside R_k)
};

struct FsgPlan {
  std::vector<WordScore> words;        // every word of the prompt, in order
  std::vector<KeywordAnchor> keywords;  // the selected (or given) ones
};

// Eq. 6 + anchors for one prompt and reference image. clip_fea: [1, 1 + g*g, clip_dim] as fed to the DiT.
// grid_hw: the DiT token grid (H', W') of the run. Throws Error when a given keyword is not in the prompt or the model
// has no CLIP text tower and no keywords are given.
FsgPlan plan_focal_guidance(const ModelBundle& m, const std::string& prompt, const at::Tensor& clip_fea,
                            const GuidanceConfig& cfg, int64_t grid_h, int64_t grid_w);

// What guidance actually did during a run (for the no-op warnings and the app's per-run readout).
struct GuidanceStats {
  struct Layer {
    int layer = 0;
    int64_t ac_applications = 0;   // forwards in which Eq. 13 ran in this weak layer
    int64_t ac_tokens_touched = 0; // sum over those forwards of tokens with a non-zero thresholded cache value
    int64_t ac_tokens_seen = 0;    // sum over those forwards of tokens (for the fraction)
    int64_t fsg_applications = 0;  // forwards in which Eq. 8 / Eq. 9 ran in this weak layer
  };
  std::vector<Layer> weak;         // one per weak layer, in order
  double cache_max = -1;           // largest aggregated cache value (Eq. 11) seen before the threshold; -1 = none built
  int64_t cache_values = 0;        // aggregated cache values seen (token x keyword x application)
  int64_t cache_above = 0;         // ... of which above tau_cache
  std::vector<float> cache_samples;  // every aggregated cache value, when FocalGuidance::record_cache_values() is on
  int64_t ac_tokens_touched() const;
};

// One line per switched-on part of `cfg` that did nothing in this run, saying why (no keyword reached tau_sel: the
// best word and its score; the Attention Cache kept 0 tokens: the share above tau_cache and the largest value;
// strengths at 0). Empty when every switched-on part acted or guidance is off.
std::vector<std::string> guidance_noops(const GuidanceConfig& cfg, const FsgPlan& plan, const GuidanceStats& stats);

// Eq. 7 for Wan2.1: img_emb(v_anchor) of every keyword, [K, dim] (undefined without keywords): the anchor form
// the Wan block view projects into V_vis.
at::Tensor wan_visual_anchors(const WanModel& dit, const FsgPlan& plan);

class FocalGuidance : public ProbeListener {
 public:
  // Wan2.1 bundle: the model's weak layers by default, anchors by wan_visual_anchors.
  FocalGuidance(const ModelBundle& m, GuidanceConfig cfg, FsgPlan plan, int num_layers);
  // Any architecture: `anchors` in the form its BlockView::visual_values reads (one row per keyword of the plan;
  // keywords' `tokens` are rows of the text the probe's text_v holds); model_weak_layers when cfg names none.
  FocalGuidance(GuidanceConfig cfg, int num_layers, const std::vector<int>& model_weak_layers, at::Tensor anchors,
                FsgPlan plan);

  bool wants(const ForwardInfo& info, int layer) const override;
  void on_cross_attn_input(BlockProbe& p) override;
  void on_cross_attn_values(BlockProbe& p) override;

  const GuidanceConfig& config() const { return cfg_; }
  const FsgPlan& plan() const { return plan_; }
  const std::vector<int>& weak_layers() const { return weak_; }
  // Aggregated cache maps of the last step (for display): [K, L] or undefined.
  at::Tensor last_cache() const { return prev_cache_; }
  const GuidanceStats& stats() const { return stats_; }
  // Keep every aggregated cache value in stats().cache_samples (`focalscope calibrate` reads their distribution).
  void record_cache_values(bool on) { record_cache_ = on; }

 private:
  bool is_weak(int layer) const { return layer >= 0 && layer < static_cast<int>(weak_mask_.size()) && weak_mask_[layer]; }
  at::Tensor visual_values(const BlockProbe& p);  // [K, dim] V_vis,k for this layer (cached per layer)
  std::vector<int64_t> guided_rows(const ForwardInfo& info) const;  // batch rows guidance acts on
  at::Tensor cache_maps(int step);  // also counts what it sees into stats_                // [K, L] thresholded A_cache (Eq. 11-12), or undefined

  GuidanceConfig cfg_;
  FsgPlan plan_;
  std::vector<int> weak_;
  std::vector<char> weak_mask_;
  at::Tensor anchors_dit_;            // [K, ...] the model's anchor form (Wan: img_emb(v_anchor) [K, dim])
  std::vector<at::Tensor> vvis_;      // per layer [K, dim]
  // Anchors that read the run's activations (BlockView::visual_values_are_static false): read once per block call at
  // its input point, before Eq. 9 / Eq. 13 move the tokens they are read from, and reused at its values point.
  const BlockProbe* dyn_probe_ = nullptr;
  at::Tensor dyn_vv_;
  at::Tensor token_mean_;             // [K, T] averaging matrix over keyword rows
  at::Tensor token_index_;            // [T] text rows
  // Attention-cache accumulators for the current step and the previous step's final result.
  int cur_step_ = -1;
  at::Tensor cur_sum_;                // [K, L]
  int cur_count_ = 0;
  at::Tensor prev_cache_;             // [K, L]
  GuidanceStats stats_;
  bool record_cache_ = false;
  GuidanceStats::Layer* layer_stats(int layer);
};

}  // namespace focalscope
