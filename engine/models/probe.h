// Probe points of the DiT forward: the single seam through which analysis (similarity capture, Eq. 10) and
// Focal Guidance (Eq. 8, 9, 13) look into and steer every block. libtorch has no C++ forward hooks, so the
// probes are part of our forward.
//
// Protocol (modelled on ggml's eval callback with an "ask" pass):
//   1. For every block, the model first asks the listener `wants(info, layer)`. If no listener is attached or it
//      answers false, the block runs its plain path: no extra tensors, no copies, nothing measurable.
//   2. For a wanted layer the model calls, in order:
//        on_cross_attn_input(p)   x = residual stream entering the cross-attention (after self-attention).
//                                 The listener may REPLACE p.x (Eq. 9 latent injection, Eq. 13 cache injection).
//        on_cross_attn_values(p)  x_norm = norm3(x) (the cross-attention's query-side input), text_v / img_v the
//                                 value vectors [B, rows, dim] of the text and image context in this layer.
//                                 The listener may REPLACE p.text_v (Eq. 8 value fusion); queries and keys are
//                                 never touched. Similarity capture reads here.
//        on_cross_attn_output(p)  x after the cross-attention residual add (read-only by convention).
//   Replace, don't mutate: tensors handed out may be shared with per-run caches, so a listener assigns a new
//   tensor (p.text_v = p.text_v + delta) instead of writing in place.
//   3. Self-attention keys / values (KV-Lock's background lock, engine/pipeline/kv_lock.h) have their own ask,
//      `wants_self_kv(info, layer)`, so a listener of one kind leaves the other path untouched:
//        on_self_attn_kv(p)       k / v of the layer's self-attention, head-major [B, heads, L, head_dim], k after
//                                 RMSNorm and RoPE (the form the attention reads). The listener may read them (a
//                                 cache) or REPLACE them (a fusion); queries are never touched.
//   4. Architectures (docs/architectures.md, "The analysis seam"): a probe sees the same quantities in every model —
//      x the image tokens' residual stream, x_norm their normalised input (z of Eq. 10), text_v the text tokens'
//      values in the layer's attention that reads the text, img_v the values of the visual context tokens — and
//      anything model-specific it needs from the block goes through BlockView. Wan2.1 (CrossDiT): one layer per
//      block, the text cross-attention. HunyuanVideo (MMDiT): double-stream blocks then single-stream blocks, one
//      index; the joint attention's text rows (double: the text stream's v; single: the shared v).
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <vector>

namespace focalscope {

struct Linear;
struct Norm;
struct BlockProbe;

// A layer's separate text cross-attention (CrossDiT), for analyses that recompute its queries (text response).
struct TextCrossAttention {
  const Linear* q = nullptr;       // query projection of x_norm
  const Norm* norm_q = nullptr;    // RMSNorm on the queries
  const Linear* o = nullptr;       // output projection
  int64_t heads = 0, head_dim = 0;
  double eps = 1e-6;
};

// What a probe may ask of the block it is in, beyond the tensors it is handed: each architecture implements it
// (engine/models/wan/wan_model.cpp, engine/models/hunyuan/hunyuan_forward.cpp), so analyses never test which model they run on.
class BlockView {
 public:
  virtual ~BlockView() = default;
  // V_vis,k of FSG / AC (Eq. 8, 9, 13) in this layer: [K, dim] float32 from K visual anchors in the form the model's
  // anchor builder makes (Wan: img_emb(v_anchor) [K, dim], projected by this layer's image value projection;
  // HunyuanVideo: weights [K, n] over the n visual-context rows of p.img_v, read on the conditional row).
  virtual at::Tensor visual_values(const at::Tensor& anchors, const BlockProbe& p) const = 0;
  // True when visual_values depends only on the layer (a listener may cache it per layer); false when it reads the
  // run's activations (HunyuanVideo: the visual tokens' values change with the step).
  virtual bool visual_values_are_static() const = 0;
  // The layer's separate text cross-attention, or null when text and image share one joint attention.
  virtual const TextCrossAttention* text_cross_attention() const { return nullptr; }
};

// What each batch row of a forward is: CFG runs the conditional and unconditional passes (as one batch of 2 or
// as two forwards); listeners keep them apart.
enum class PassRole { Cond, Uncond };

struct ForwardInfo {
  int step = -1;                  // denoising step index (0-based), -1 outside a sampling loop
  double timestep = 0;            // the model's timestep value for this step
  std::vector<PassRole> roles;    // one per batch row
  std::array<int64_t, 3> grid{};  // token grid (F', H', W') after patchify; tokens are in row-major (f, h, w) order
  int expert = -1;                // Wan2.2 two-expert runs: 1 = high-noise expert, 0 = low-noise; -1 = the one DiT
};

struct BlockProbe {
  const ForwardInfo& info;
  int layer;
  const BlockView& view;         // model-specific questions about this block (visual values, its text attention)
  at::Tensor x;                  // [B, L, dim] image tokens' residual stream (MMDiT: the image rows only)
  at::Tensor x_norm;             // [B, L, dim], set before on_cross_attn_values
  at::Tensor text_v;             // [B, text_len, dim], set before on_cross_attn_values
  at::Tensor img_v;              // [B, n_img, dim] visual context values (undefined without one), set before on_cross_attn_values
};

// Self-attention keys / values of one block (see protocol 3 above).
struct SelfKvProbe {
  const ForwardInfo& info;
  int layer;
  at::Tensor k;  // [B, heads, L, head_dim]; may be a strided view of a reused buffer: copy what you keep
  at::Tensor v;  // [B, heads, L, head_dim]
};

class ProbeListener {
 public:
  virtual ~ProbeListener() = default;
  virtual bool wants(const ForwardInfo& info, int layer) const = 0;
  virtual bool wants_self_kv(const ForwardInfo&, int) const { return false; }
  virtual void on_self_attn_kv(SelfKvProbe&) {}
  virtual void on_cross_attn_input(BlockProbe&) {}
  virtual void on_cross_attn_values(BlockProbe&) {}
  virtual void on_cross_attn_output(BlockProbe&) {}
};

// Fans one probe out to several listeners (capture + guidance at once), in order.
class ProbeChain : public ProbeListener {
 public:
  void add(ProbeListener* l) { if (l) list_.push_back(l); }
  bool empty() const { return list_.empty(); }
  bool wants(const ForwardInfo& info, int layer) const override {
    for (auto* l : list_) if (l->wants(info, layer)) return true;
    return false;
  }
  void on_cross_attn_input(BlockProbe& p) override { for (auto* l : list_) if (l->wants(p.info, p.layer)) l->on_cross_attn_input(p); }
  void on_cross_attn_values(BlockProbe& p) override { for (auto* l : list_) if (l->wants(p.info, p.layer)) l->on_cross_attn_values(p); }
  void on_cross_attn_output(BlockProbe& p) override { for (auto* l : list_) if (l->wants(p.info, p.layer)) l->on_cross_attn_output(p); }
  bool wants_self_kv(const ForwardInfo& info, int layer) const override {
    for (auto* l : list_) if (l->wants_self_kv(info, layer)) return true;
    return false;
  }
  void on_self_attn_kv(SelfKvProbe& p) override { for (auto* l : list_) if (l->wants_self_kv(p.info, p.layer)) l->on_self_attn_kv(p); }

 private:
  std::vector<ProbeListener*> list_;
};

}  // namespace focalscope
