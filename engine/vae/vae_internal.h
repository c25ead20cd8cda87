// Internal to engine/vae: the feature cache and the block forward functions (vae_forward.cpp).
#pragma once
#include <ATen/ATen.h>

#include <deque>

#include "engine/vae/wan_vae.h"

namespace focalscope::vae {

// Per-call state of the chunked schedule. Every cached operation owns one slot; slots are claimed in the same
// order on every chunk (begin_chunk() rewinds), exactly like upstream's feat_cache / feat_idx.
class FeatCache {
 public:
  struct Slot {
    at::Tensor frames;     // causal conv: last pad_front input frames; downsample3d: last frame
    bool started = false;  // resample3d: the first chunk has been seen
  };
  void begin_chunk() { next_ = 0; }
  Slot& next() {
    if (next_ == slots_.size()) slots_.emplace_back();
    return slots_[next_++];
  }

 private:
  std::deque<Slot> slots_;  // deque: references stay valid while it grows
  std::size_t next_ = 0;
};

// True when no autograd graph is being recorded (InferenceMode / NoGradGuard): in-place ops are then safe.
bool no_grad();

at::Tensor conv(const Conv& c, const at::Tensor& x);  // plain (no causal padding), 2-D convs as (1,kh,kw)
// Causal conv: pad_front zero frames in front, or the cached history when a slot is given (slot is updated).
at::Tensor causal_conv(const Conv& c, const at::Tensor& x, FeatCache::Slot* slot);
at::Tensor rms_norm(const RMSNorm& n, const at::Tensor& x);
at::Tensor res_block(const ResBlock& b, const at::Tensor& x, FeatCache* cache);
at::Tensor attn_block(const AttnBlock& b, const at::Tensor& x);
// cache == nullptr: the full-sequence formulation (whole clip at once, ARCHITECTURE.md section 9).
at::Tensor resample(const Resample& r, const at::Tensor& x, FeatCache* cache);
at::Tensor encoder_forward(const Encoder& e, const at::Tensor& x, FeatCache* cache);
at::Tensor decoder_forward(const Decoder& d, const at::Tensor& x, FeatCache* cache);

}  // namespace focalscope::vae
