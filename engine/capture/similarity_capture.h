// Similarity capture (paper Eq. 10): a ProbeListener that records, for chosen keywords, layers, steps and
// passes, the map
//     A_{l,k}(u) = V(k)_l . z_l(u) / (|V(k)_l| |z_l(u)|)
// over the latent token grid F' x H' x W', while a run denoises. Read-only: the model output is bit-identical
// with and without it.
//
// V(k)_l  the keyword's value vector in layer l's text cross-attention: rows `keyword.tokens` of the layer's
//         text values (BlockProbe::text_v, i.e. cross_attn.v applied to the projected umT5 context), averaged
//         when the word has several pieces (see capture_keywords.h). It is taken from the CONDITIONAL row:
//         the unconditional pass sees the negative prompt, which does not contain the keyword, so its maps
//         compare the same V(k) with the unconditional pass's visual state. (If a listener earlier in a
//         ProbeChain replaces text_v, e.g. Focal Guidance's value fusion, the capture sees the fused values.)
// z_l     the visual hidden state at the cross-attention, one of (CaptureSource):
//         NormedInput (default): x_norm = norm3(x), the cross-attention's own input, from which its queries are
//           made. LayerNorm removes each token's mean over channels and the affine weights bring the channels
//           to the scale the cross-attention reads, so the cosine reflects the content the layer attends
//           with rather than the residual stream's shared offset and growing magnitude.
//         Residual: x, the residual stream entering the cross-attention (the z that Eq. 13 updates).
//
// Storage: fp16 in a buffer preallocated from the CaptureLayout, indexed [step][pass][layer][keyword][F'][H'][W']
// (slots, see CaptureLayout); memory = CaptureLayout::bytes(). Unfilled slots stay 0.
//
// Threading: one writer (the thread running the sampler) and any number of readers. A step slot is published
// when all its (pass, layer) maps are written, or when the sampler moves on to a later step, or by finish().
// ready_steps() (acquire) counts the published leading step slots; their maps are immutable from then on, so a
// reader (e.g. the GUI polling each frame) may read them without locks while the run continues.
// One capture belongs to one run: maps of a step that is already published are never overwritten. Lay it out only
// for passes the run has (no uncond when the guidance scale is 1): a missing pass delays a step's publication
// until the next step starts (or finish()).
#pragma once
#include <ATen/ATen.h>

#include <atomic>
#include <string>
#include <vector>

#include "engine/capture/capture_keywords.h"
#include "engine/capture/capture_layout.h"
#include "engine/models/probe.h"

namespace focalscope {

enum class CaptureSource { NormedInput, Residual };
const char* capture_source_name(CaptureSource s);             // "x_norm" | "x"
CaptureSource parse_capture_source(const std::string& name);  // throws Error("--z", ...) otherwise

// The null model of a keyword map: maps of cos(r, z) for random directions r of the value space (one fixed set per
// layer, N(0, I) normalised, seeded). They keep z's own spatial structure, so their Moran's I is not zero: a
// keyword's map is semantically structured only in so far as it beats these (docs/statistics.md).
struct RandomDirections {
  int count = 20;
  uint64_t seed = 0x52414e44;
};

// Directions given per layer, e.g. the value vectors V(w)_l of words that are not in the run's prompt (a keyword's
// matched control: the same word class, naming nothing in the image), computed from another text context.
// per_layer[l] is [K, dim] for every model layer l the capture lays out; names has K entries.
struct FixedDirections {
  std::vector<std::string> names;
  std::vector<at::Tensor> per_layer;
};

class SimilarityCapture : public ProbeListener {
 public:
  // Allocates layout.bytes() of fp16 storage (zeroed). keywords.size() must equal layout.keywords.
  SimilarityCapture(std::vector<CaptureKeyword> keywords, CaptureLayout layout,
                    CaptureSource source = CaptureSource::NormedInput);
  // Random-direction baseline: layout.keywords must equal dirs.count; "keyword" j is random direction j (named
  // "random_j"), the same directions at every step and sample, independent per layer.
  SimilarityCapture(RandomDirections dirs, CaptureLayout layout, CaptureSource source = CaptureSource::NormedInput);
  bool is_random_baseline() const { return random_.count > 0; }
  // Given directions: "keyword" j is dirs.names[j], its direction at layer l is row j of dirs.per_layer[l].
  SimilarityCapture(FixedDirections dirs, CaptureLayout layout, CaptureSource source = CaptureSource::NormedInput);

  // Bytes the maps of `layout` take: the number to show before a run starts.
  static int64_t estimate_bytes(const CaptureLayout& layout) { return layout.bytes(); }

  // ---- ProbeListener (writer thread) ----
  bool wants(const ForwardInfo& info, int layer) const override;
  void on_cross_attn_values(BlockProbe& p) override;
  // Publishes every step slot written so far (call when the run ends, finished or cancelled).
  void finish();

  // ---- readers (any thread) ----
  const CaptureLayout& layout() const { return layout_; }
  const std::vector<CaptureKeyword>& keywords() const { return keywords_; }
  CaptureSource source() const { return source_; }
  // Step slots [0, ready_steps()) are final.
  int ready_steps() const { return ready_.load(std::memory_order_acquire); }
  // Slot of sampler step `step` when its maps are final, else -1 (not captured, or not finished yet).
  int ready_slot(int step) const {
    const int s = layout_.step_slot(step);
    return s >= 0 && s < ready_steps() ? s : -1;
  }
  // Whether the map of (step slot, pass slot, layer slot) was written (meaningful for ready step slots).
  bool filled(int step_slot, int pass_slot, int layer_slot) const;
  // The F'H'W' fp16 values of one map (row-major f, h, w). Only for ready step slots.
  const c10::Half* map_data(int step_slot, int pass_slot, int layer_slot, int keyword) const;
  // Same, converted to float into out[F'H'W'].
  void copy_map(int step_slot, int pass_slot, int layer_slot, int keyword, float* out) const;
  std::vector<float> map(int step_slot, int pass_slot, int layer_slot, int keyword) const;
  // The whole buffer as a [S, P, L, K, F', H', W'] fp16 CPU tensor (shares storage; treat as read-only).
  at::Tensor maps() const;

 private:
  void allocate();
  void check_slots(int step_slot, int pass_slot, int layer_slot, int keyword) const;
  void publish(int ready);
  int64_t offset(int step_slot, int pass_slot, int layer_slot) const;

  std::vector<CaptureKeyword> keywords_;
  CaptureLayout layout_;
  CaptureSource source_;
  at::Tensor buffer_;                 // [S, P, L, K, F'H'W'] fp16, CPU
  std::vector<uint8_t> filled_;       // [S, P, L]
  std::vector<int> step_of_slot_;     // sampler step -> slot (-1), dense lookups for wants()
  std::vector<int> layer_of_slot_;
  at::Tensor token_index_;            // [T] int64: every row any keyword uses
  int64_t max_token_ = 0;
  at::Tensor token_mean_;             // [K, T] float: row k averages keyword k's rows
  std::vector<at::Tensor> last_values_;  // per layer slot: [K, dim] unit-norm V(k) from the latest cond row
                                         // (random baseline: the layer's fixed random directions)
  RandomDirections random_{0, 0};
  std::vector<at::Tensor> fixed_;     // per model layer: [K, dim] given directions (empty unless FixedDirections)
  std::vector<int> written_;          // per step slot: (pass, layer) maps written
  int highest_touched_ = -1;          // highest step slot written so far (writer only)
  std::atomic<int> ready_{0};
};

}  // namespace focalscope
