#include "engine/pipeline/kv_lock.h"

#include "engine/core/error.h"

namespace focalscope {

at::Tensor latent_mask_from_pixels(const at::Tensor& pixel_mask, int temporal_stride, int spatial_stride) {
  if (!pixel_mask.defined() || pixel_mask.dim() != 3) fail("mask", "expected a pixel mask [frames, height, width]");
  const int64_t F = pixel_mask.size(0), H = pixel_mask.size(1), W = pixel_mask.size(2);
  if ((F - 1) % temporal_stride != 0) fail("mask", std::to_string(F) + " frames is not 1 + " + std::to_string(temporal_stride) + "k");
  if (H % spatial_stride != 0 || W % spatial_stride != 0)
    fail("mask", std::to_string(W) + "x" + std::to_string(H) + " is not a multiple of the VAE stride " + std::to_string(spatial_stride));
  const at::Tensor m = (pixel_mask != 0).to(at::kFloat);
  // Temporal: frame 0 alone, then groups of temporal_stride frames.
  std::vector<at::Tensor> frames{m.narrow(0, 0, 1)};
  if (F > 1) frames.push_back(std::get<0>(m.narrow(0, 1, F - 1).view({(F - 1) / temporal_stride, temporal_stride, H, W}).max(1)));
  const at::Tensor t = at::cat(frames, 0);  // [lat_f, H, W]
  return at::max_pool2d(t.unsqueeze(1), {spatial_stride, spatial_stride}).squeeze(1);
}

at::Tensor token_mask_from_latent(const at::Tensor& latent_mask, const std::array<int64_t, 3>& patch) {
  const at::Tensor m = latent_mask.to(at::kFloat).unsqueeze(0).unsqueeze(0);  // [1, 1, F, H, W]
  return at::max_pool3d(m, {patch[0], patch[1], patch[2]}).squeeze(0).squeeze(0);
}

KvLockCache::KvLockCache(int layers, const at::Tensor& background, c10::Device cache_device)
    : background_(background.to(at::kFloat).reshape({1, 1, -1, 1})), cache_device_(cache_device), k_(layers), v_(layers) {}

int64_t KvLockCache::bytes() const {
  int64_t n = 0;
  for (size_t i = 0; i < k_.size(); ++i)
    if (k_[i].defined()) n += (k_[i].numel() + v_[i].numel()) * int64_t(k_[i].element_size());
  return n;
}

void KvLockCache::on_self_attn_kv(SelfKvProbe& p) {
  const size_t l = static_cast<size_t>(p.layer);
  if (l >= k_.size()) fail("kv lock", "layer " + std::to_string(p.layer) + " is beyond the cache");
  if (mode_ == Mode::Record) {
    if (p.k.size(0) != 1) fail("kv lock", "the source pass must have one batch row");
    // The probe's tensors may be views of buffers the next layer reuses: copy.
    k_[l] = p.k.to(cache_device_, /*non_blocking=*/false, /*copy=*/true).contiguous();
    v_[l] = p.v.to(cache_device_, false, true).contiguous();
    return;
  }
  if (mode_ != Mode::Fuse || alpha_ <= 0) return;
  if (!k_[l].defined()) fail("kv lock", "layer " + std::to_string(p.layer) + " has no recorded source K/V");
  if (k_[l].size(2) != p.k.size(2)) fail("kv lock", "the source and edit token counts differ");
  const at::Tensor w = background_.to(p.k.device()) * alpha_;  // [1, 1, L, 1]: 0 on edited tokens
  const at::Tensor ks = k_[l].to(p.k.device()), vs = v_[l].to(p.v.device());
  // k + w (k_src - k): the notes' m k + (1 - m)(alpha k_src + (1 - alpha) k), rows broadcast over the batch.
  p.k = p.k + w * (ks - p.k);
  p.v = p.v + w * (vs - p.v);
}

KvLockCost kvlock_cost(int layers, int64_t tokens, int64_t dim, int64_t bytes_per_value, int locked_steps, int steps, bool cfg) {
  KvLockCost c;
  c.cache_bytes = int64_t(2) * layers * tokens * dim * bytes_per_value;
  c.source_forwards = locked_steps;
  c.edit_forward_rows = steps * (cfg ? 2 : 1);
  return c;
}

}  // namespace focalscope
