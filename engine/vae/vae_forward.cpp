// Forward pass of the Wan VAE blocks on [B, C, T, H, W] tensors, with the causal feature cache.
#include <ATen/ATen.h>

#include <cmath>

#include "engine/vae/vae_internal.h"

namespace focalscope::vae {

bool no_grad() { return !at::GradMode::is_enabled(); }

namespace {

at::Tensor silu_act(at::Tensor x) { return no_grad() ? at::silu_(x) : at::silu(x); }

// Last n frames as an owned tensor (a view would keep the whole chunk alive across chunks).
at::Tensor last_frames(const at::Tensor& x, int64_t n) { return x.slice(2, x.size(2) - n).clone(); }

at::Tensor norm_silu(const RMSNorm& n, const at::Tensor& x) { return silu_act(rms_norm(n, x)); }

// Nearest x2 in H and W (upstream nearest-exact; identical to nearest for an integer factor of 2).
at::Tensor upsample2x(const at::Tensor& x) {
  const auto B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  return x.view({B, C, T, H, 1, W, 1}).expand({B, C, T, H, 2, W, 2}).reshape({B, C, T, 2 * H, 2 * W});
}

// upsample3d time_conv: C -> 2C channels per frame, split into two consecutive frames (channels 0..C-1 first).
at::Tensor time_upsample(const Resample& r, const at::Tensor& x, FeatCache::Slot* slot) {
  const auto B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  at::Tensor y = causal_conv(r.time_conv, x, slot);  // [B, 2C, T, H, W]
  return y.view({B, 2, C, T, H, W}).permute({0, 2, 3, 1, 4, 5}).reshape({B, C, 2 * T, H, W});
}

}  // namespace

at::Tensor conv(const Conv& c, const at::Tensor& x) {
  const at::Tensor w = c.is2d ? c.weight.unsqueeze(2) : c.weight;
  return at::conv3d(x, w, c.bias, {c.stride[0], c.stride[1], c.stride[2]}, {0, c.pad_hw[0], c.pad_hw[1]});
}

at::Tensor causal_conv(const Conv& c, const at::Tensor& x, FeatCache::Slot* slot) {
  if (c.pad_front == 0) return conv(c, x);
  const int64_t have = (slot && slot->frames.defined()) ? slot->frames.size(2) : 0;
  const int64_t zeros = c.pad_front - have;
  std::vector<at::Tensor> parts;
  if (zeros > 0) {
    auto sz = x.sizes().vec();
    sz[2] = zeros;
    parts.push_back(at::zeros(sz, x.options()));
  }
  if (have) parts.push_back(slot->frames);
  parts.push_back(x);
  at::Tensor in = at::cat(parts, 2);
  // The history the next chunk needs: the last pad_front frames of (zeros | cache | x). Upstream keeps the last
  // CACHE_T = 2 real frames and pads the rest with zeros, which is the same sequence.
  if (slot) slot->frames = last_frames(in, c.pad_front);
  return conv(c, in);
}

at::Tensor rms_norm(const RMSNorm& n, const at::Tensor& x) {
  // F.normalize(x, dim=1) * sqrt(C) * gamma: L2 over channels, clamped at 1e-12.
  const at::Tensor denom = at::linalg_vector_norm(x, 2, {1}, /*keepdim=*/true).clamp_min(1e-12);
  const at::Tensor g = n.images ? n.gamma.unsqueeze(1) : n.gamma;  // [C,1,1] -> [C,1,1,1]
  const double scale = std::sqrt(static_cast<double>(n.dim));
  if (no_grad()) {
    at::Tensor y = x / denom;
    y.mul_(scale);
    return y.mul_(g);
  }
  return x / denom * scale * g;
}

at::Tensor res_block(const ResBlock& b, const at::Tensor& x, FeatCache* cache) {
  at::Tensor y = norm_silu(b.norm1, x);
  y = causal_conv(b.conv1, y, cache ? &cache->next() : nullptr);
  y = norm_silu(b.norm2, y);
  y = causal_conv(b.conv2, y, cache ? &cache->next() : nullptr);
  const at::Tensor h = b.has_shortcut ? conv(b.shortcut, x) : x;
  return no_grad() ? y.add_(h) : y + h;
}

at::Tensor attn_block(const AttnBlock& a, const at::Tensor& x) {
  const auto B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  const at::Tensor qkv = conv(a.to_qkv, rms_norm(a.norm, x))  // [B, 3C, T, H, W]
                             .permute({0, 2, 3, 4, 1})
                             .reshape({B * T, H * W, 3 * C});
  const double scale = 1.0 / std::sqrt(static_cast<double>(C));
  // Single-head attention over the H*W positions of each frame, one frame at a time (bounded memory).
  std::vector<at::Tensor> outs;
  outs.reserve(B * T);
  for (int64_t n = 0; n < B * T; ++n) {
    const at::Tensor f = qkv.select(0, n);
    const at::Tensor q = f.slice(1, 0, C), k = f.slice(1, C, 2 * C), v = f.slice(1, 2 * C, 3 * C);
    at::Tensor p = at::softmax(at::mm(q, k.t()).mul_(scale), -1);
    outs.push_back(at::mm(p, v));  // [HW, C]
  }
  at::Tensor o = at::stack(outs, 0).view({B, T, H, W, C}).permute({0, 4, 1, 2, 3}).contiguous();
  o = conv(a.proj, o);
  return no_grad() ? o.add_(x) : o + x;
}

at::Tensor resample(const Resample& r, const at::Tensor& x_in, FeatCache* cache) {
  at::Tensor x = x_in;
  const bool up = r.mode == ResampleMode::Upsample2d || r.mode == ResampleMode::Upsample3d;
  if (r.mode == ResampleMode::Upsample3d) {
    if (cache) {
      auto& slot = cache->next();
      if (!slot.started) {
        slot.started = true;  // first chunk: bypasses time_conv (upstream 'Rep'); history starts empty (zeros)
      } else {
        x = time_upsample(r, x, &slot);
      }
    } else if (x.size(2) > 1) {  // full sequence: frame 0 bypasses, frames 1.. form their own causal stream
      x = at::cat({x.slice(2, 0, 1), time_upsample(r, x.slice(2, 1), nullptr)}, 2);
    }
  }
  if (up) {
    x = conv(r.conv, upsample2x(x));
  } else {
    x = conv(r.conv, at::constant_pad_nd(x, {0, 1, 0, 1}));  // zero-pad right and bottom, 3x3 stride 2
  }
  if (r.mode == ResampleMode::Downsample3d) {
    if (cache) {
      auto& slot = cache->next();
      if (!slot.started) {
        slot.started = true;  // first chunk: passes unchanged
        slot.frames = last_frames(x, 1);
      } else {
        at::Tensor in = at::cat({slot.frames, x}, 2);
        slot.frames = last_frames(x, 1);
        x = conv(r.time_conv, in);
      }
    } else if (x.size(2) >= 3) {  // full sequence: frame 0 unchanged, then stride-2 windows from frame 0
      x = at::cat({x.slice(2, 0, 1), conv(r.time_conv, x)}, 2);
    } else {
      x = x.slice(2, 0, 1);
    }
  }
  return x;
}

namespace {
at::Tensor run_layer(const Layer& l, const at::Tensor& x, FeatCache* cache) {
  switch (l.kind) {
    case Layer::Kind::Res: return res_block(l.res, x, cache);
    case Layer::Kind::Attn: return attn_block(l.attn, x);
    case Layer::Kind::Resample: return resample(l.resample, x, cache);
  }
  return x;
}
at::Tensor head(const RMSNorm& n, const Conv& c, const at::Tensor& x, FeatCache* cache) {
  return causal_conv(c, norm_silu(n, x), cache ? &cache->next() : nullptr);
}
}  // namespace

at::Tensor encoder_forward(const Encoder& e, const at::Tensor& x_in, FeatCache* cache) {
  at::Tensor x = causal_conv(e.conv1, x_in, cache ? &cache->next() : nullptr);
  for (const auto& l : e.downsamples) x = run_layer(l, x, cache);
  x = res_block(e.mid0, x, cache);
  x = attn_block(e.mid1, x);
  x = res_block(e.mid2, x, cache);
  return head(e.head_norm, e.head_conv, x, cache);
}

at::Tensor decoder_forward(const Decoder& d, const at::Tensor& x_in, FeatCache* cache) {
  at::Tensor x = causal_conv(d.conv1, x_in, cache ? &cache->next() : nullptr);
  x = res_block(d.mid0, x, cache);
  x = attn_block(d.mid1, x);
  x = res_block(d.mid2, x, cache);
  for (const auto& l : d.upsamples) x = run_layer(l, x, cache);
  return head(d.head_norm, d.head_conv, x, cache);
}

}  // namespace focalscope::vae
