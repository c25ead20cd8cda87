// KV-Lock's background lock, tensor half (settings and schedule: kv_lock_config.h). The source video's latent, noised
// to the current step's level, runs through the DiT once with a KvLockCache recording every layer's self-attention
// K and V; the edit run's next forward then fuses them into its own on background tokens (probe.h protocol 3).
#pragma once
#include <ATen/ATen.h>

#include <array>
#include <vector>

#include "engine/models/probe.h"

namespace focalscope {

// Pixel mask [F, H, W] (nonzero = edited) -> latent grid [lat_f, lat_h, lat_w] (float 0/1), as the notes describe:
// latent frame 0 is pixel frame 0, latent frame t >= 1 the max over its `temporal_stride` pixel frames, then a max
// over each spatial_stride x spatial_stride block. F must be 1 + temporal_stride * k; H, W multiples of the stride.
at::Tensor latent_mask_from_pixels(const at::Tensor& pixel_mask, int temporal_stride, int spatial_stride);
// Latent grid mask -> token grid [F', H', W'] by a max over each patch (any token touching an edited latent is
// foreground).
at::Tensor token_mask_from_latent(const at::Tensor& latent_mask, const std::array<int64_t, 3>& patch);

// A listener that, per forward, either records each layer's self-attention K/V (the source pass) or fuses the
// recorded ones into the forward's own on background tokens (the edit pass), or does nothing.
class KvLockCache : public ProbeListener {
 public:
  // background: [L] (token order f, h, w), 1 where the lock may act; cache_device: where recorded K/V live.
  KvLockCache(int layers, const at::Tensor& background, c10::Device cache_device);
  void record_next() { mode_ = Mode::Record; }
  void fuse_next(double alpha) { mode_ = Mode::Fuse, alpha_ = alpha; }
  void idle() { mode_ = Mode::Idle; }
  int64_t bytes() const;  // the cache's current size

  bool wants(const ForwardInfo&, int) const override { return false; }
  bool wants_self_kv(const ForwardInfo&, int) const override { return mode_ != Mode::Idle; }
  void on_self_attn_kv(SelfKvProbe& p) override;

 private:
  enum class Mode { Idle, Record, Fuse };
  Mode mode_ = Mode::Idle;
  double alpha_ = 0;
  at::Tensor background_;  // [1, 1, L, 1] float
  c10::Device cache_device_;
  std::vector<at::Tensor> k_, v_;  // per layer [1, heads, L, head_dim]
};

// What the lock costs a run, known before it starts (printed by `focalscope edit`).
struct KvLockCost {
  int64_t cache_bytes = 0;     // K and V of every layer for one batch row
  int source_forwards = 0;     // at most one per locked step (skipped when alpha is 0)
  int edit_forward_rows = 0;   // batch rows of the edit's own forwards (steps x 2 with CFG)
  double extra_fraction() const { return edit_forward_rows > 0 ? double(source_forwards) / edit_forward_rows : 0; }
};
KvLockCost kvlock_cost(int layers, int64_t tokens, int64_t dim, int64_t bytes_per_value, int locked_steps, int steps, bool cfg);

}  // namespace focalscope
