// HunyuanVideo VAE forward: causal convs with replicate padding, resnets, frame-causal mid attention, down / up
// sampling, encode / decode and upstream's tiled paths with their in-place blends.
// Spec: ../shared/fixtures/hunyuan_reference/ARCHITECTURE.md §11; upstream autoencoder_kl_causal_3d.py:260-531.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/models/hunyuan/hunyuan_vae.h"

namespace focalscope {

namespace hyvae {
namespace {

constexpr double kEps = 1e-6;  // every GroupNorm of the VAE (resnets, attention, conv_norm_out)

void tap(HunyuanVaeTaps* taps, const std::string& name, const at::Tensor& t) {
  if (taps) (*taps)[name] = t;
}

// F.pad(x, (p, p, p, p, pt, 0), mode="replicate") on [B, C, T, H, W] in one allocation, any dtype / device: the
// interior is copied once, then the W edges, the H edges (full padded rows) and the front frames (full padded
// frames) repeat their nearest interior value.
at::Tensor replicate_pad(const at::Tensor& x, int64_t pt, int64_t p) {
  if (pt == 0 && p == 0) return x;
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  const int64_t Hp = H + 2 * p, Wp = W + 2 * p;
  at::Tensor out = at::empty({B, C, T + pt, Hp, Wp}, x.options());
  at::Tensor body = out.narrow(2, pt, T);
  body.narrow(3, p, H).narrow(4, p, W).copy_(x);
  if (p > 0) {
    at::Tensor rows = body.narrow(3, p, H);
    rows.narrow(4, 0, p).copy_(x.narrow(4, 0, 1).expand({B, C, T, H, p}));
    rows.narrow(4, p + W, p).copy_(x.narrow(4, W - 1, 1).expand({B, C, T, H, p}));
    body.narrow(3, 0, p).copy_(body.narrow(3, p, 1).expand({B, C, T, p, Wp}));
    body.narrow(3, p + H, p).copy_(body.narrow(3, p + H - 1, 1).expand({B, C, T, p, Wp}));
  }
  if (pt > 0) out.narrow(2, 0, pt).copy_(out.narrow(2, pt, 1).expand({B, C, pt, Hp, Wp}));
  return out;
}

// CausalConv3d: replicate pad (k//2 in H and W, k-1 frames in front), then Conv3d without padding. The plain
// 1x1x1 quant convs (causal = false) have no padding either.
// Activations stay float32 between layers; a bf16 / fp16 model runs each convolution and linear in its weight
// dtype (input cast down, output cast back up).
at::Tensor to_weight_dtype(const at::Tensor& x, const at::Tensor& w) {
  return x.scalar_type() == w.scalar_type() ? x : x.to(w.scalar_type());
}
at::Tensor to_act(const at::Tensor& y) { return y.scalar_type() == at::kFloat ? y : y.to(at::kFloat); }

at::Tensor conv(const Conv& c, const at::Tensor& x) {
  const at::Tensor xw = to_weight_dtype(x, c.weight);
  const at::Tensor in = c.causal ? replicate_pad(xw, c.k - 1, c.k / 2) : xw;
  return to_act(at::conv3d(in, c.weight, c.bias, {c.stride[0], c.stride[1], c.stride[2]}));
}

at::Tensor linear(const Linear& l, const at::Tensor& x) {
  return to_act(at::linear(to_weight_dtype(x, l.weight), l.weight, l.bias));
}

// GroupNorm(eps 1e-6) computed in float32 (float32 affine), returned in x's dtype.
at::Tensor group_norm(const GroupNorm& n, const at::Tensor& x) {
  if (x.scalar_type() == at::kFloat) return at::group_norm(x, n.groups, n.weight, n.bias, kEps);
  return at::group_norm(x.to(at::kFloat), n.groups, n.weight, n.bias, kEps).to(x.scalar_type());
}

at::Tensor norm_silu(const GroupNorm& n, const at::Tensor& x) { return at::silu(group_norm(n, x)); }

at::Tensor resnet(const Resnet& r, const at::Tensor& x) {
  at::Tensor h = conv(r.conv1, norm_silu(r.norm1, x));
  h = conv(r.conv2, norm_silu(r.norm2, h));  // dropout 0
  const at::Tensor s = r.has_shortcut ? conv(r.shortcut, x) : x;
  return s + h;  // (input + hidden) / output_scale_factor (1)
}

// diffusers Attention (AttnProcessor2_0 math), one head of size C, residual: tokens (f, h, w) row-major; a token
// of frame i sees every token of frames <= i (prepare_causal_attention_mask). Computed frame by frame over exactly
// the visible keys (a -inf mask entry contributes exp(-inf) = 0, so this equals the masked softmax), query rows
// chunked so the score block stays bounded; scores and softmax in float32.
at::Tensor attention(const Attention& a, const at::Tensor& x, HunyuanVaeTaps* taps, const std::string& name) {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4), HW = H * W;
  const at::Tensor residual = x.flatten(2).transpose(1, 2);                                  // [B, L, C]
  const at::Tensor h = group_norm(a.group_norm, x).flatten(2).transpose(1, 2);
  const at::Tensor q = linear(a.to_q, h), k = linear(a.to_k, h), v = linear(a.to_v, h);
  const double scale = 1.0 / std::sqrt(static_cast<double>(C));
  std::vector<at::Tensor> outs;
  for (int64_t f = 0; f < T; ++f) {
    const int64_t keys = (f + 1) * HW;
    const at::Tensor kf = k.narrow(1, 0, keys).transpose(1, 2), vf = v.narrow(1, 0, keys);
    const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(HW, (int64_t(1) << 26) / std::max<int64_t>(1, B * keys)));
    for (int64_t r0 = 0; r0 < HW; r0 += rows) {
      const int64_t nr = std::min(rows, HW - r0);
      const at::Tensor s = at::bmm(q.narrow(1, f * HW + r0, nr), kf).mul_(scale);
      outs.push_back(at::bmm(at::softmax(s, -1), vf));
    }
  }
  at::Tensor o = outs.size() == 1 ? outs[0] : at::cat(outs, 1);
  o = linear(a.to_out, o) + residual;  // to_out.0, dropout (to_out.1), residual; / 1
  tap(taps, name, o);
  return o.transpose(1, 2).reshape({B, C, T, H, W});
}

at::Tensor mid_block(const MidBlock& m, const at::Tensor& x, HunyuanVaeTaps* taps, const std::string& pre) {
  at::Tensor h = resnet(m.res0, x);
  if (m.has_attention) h = attention(m.attn, h, taps, pre + "mid_attn_out");
  h = resnet(m.res1, h);
  tap(taps, pre + "mid_out", h);
  return h;
}

// UpsampleCausal3D: nearest by (ft, fh, fw) with frame 0 upsampled only spatially (T -> 1 + ft (T - 1)), then
// the causal conv.
at::Tensor upsample(const UpBlock& u, const at::Tensor& x) {
  const auto [ft, fh, fw] = u.factor;
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
  at::Tensor y = x;
  if (fh > 1 || fw > 1)
    y = x.unsqueeze(4).unsqueeze(6).expand({B, C, T, H, fh, W, fw}).reshape({B, C, T, H * fh, W * fw});
  if (ft > 1 && T > 1) {
    const int64_t Ho = y.size(3), Wo = y.size(4);
    const at::Tensor rest =
        y.narrow(2, 1, T - 1).unsqueeze(3).expand({B, C, T - 1, ft, Ho, Wo}).reshape({B, C, (T - 1) * ft, Ho, Wo});
    y = at::cat({y.narrow(2, 0, 1), rest}, 2);
  }
  return conv(u.upsampler, y);
}

// blend_v / blend_h / blend_t: for y < e = min(extent, a's size, b's size) along dim,
// b[y] = a[size_a - e + y] * (1 - y/e) + b[y] * (y/e), written into b in place (upstream's tiles are blended in
// place, so a later blend sees already-blended neighbours). Row by row with double weights, as upstream.
void blend(const at::Tensor& a, const at::Tensor& b, int64_t dim, int64_t extent) {
  const int64_t e = std::min({a.size(dim), b.size(dim), extent});
  for (int64_t y = 0; y < e; ++y) {
    const double w = static_cast<double>(y) / static_cast<double>(e);
    at::Tensor by = b.select(dim, y);
    by.copy_(a.select(dim, a.size(dim) - e + y) * (1.0 - w) + by * w);
  }
}

// Python's x[..., :n] along dim.
at::Tensor head(const at::Tensor& x, int64_t dim, int64_t n) { return x.narrow(dim, 0, std::min(n, x.size(dim))); }

// The blend-and-crop of upstream's spatial tiled paths: tiles[i][j] are blended with the tile above (rows) and
// then the tile to the left (cols) over `extent`, cropped to limit x limit, concatenated along W then H.
at::Tensor merge_spatial(std::vector<std::vector<at::Tensor>>& tiles, int64_t extent, int64_t limit) {
  std::vector<at::Tensor> result_rows;
  for (size_t i = 0; i < tiles.size(); ++i) {
    std::vector<at::Tensor> result_row;
    for (size_t j = 0; j < tiles[i].size(); ++j) {
      const at::Tensor& t = tiles[i][j];
      if (i > 0) blend(tiles[i - 1][j], t, 3, extent);
      if (j > 0) blend(tiles[i][j - 1], t, 4, extent);
      result_row.push_back(head(head(t, 3, limit), 4, limit));
    }
    result_rows.push_back(at::cat(result_row, 4));
  }
  return at::cat(result_rows, 3);
}

// The temporal counterpart: tile i > 0 is blended with tile i - 1 over `extent` frames and cropped to limit,
// tile 0 to limit + 1; concatenated along T.
at::Tensor merge_temporal(std::vector<at::Tensor>& tiles, int64_t extent, int64_t limit) {
  std::vector<at::Tensor> parts;
  for (size_t i = 0; i < tiles.size(); ++i) {
    if (i > 0) {
      blend(tiles[i - 1], tiles[i], 2, extent);
      parts.push_back(head(tiles[i], 2, limit));
    } else {
      parts.push_back(head(tiles[i], 2, limit + 1));
    }
  }
  return at::cat(parts, 2);
}

}  // namespace
}  // namespace hyvae

// ---- posterior -----------------------------------------------------------------------------------------
at::Tensor HunyuanVaePosterior::std() const { return at::exp(0.5 * logvar); }
at::Tensor HunyuanVaePosterior::sample(const at::Tensor& noise) const {
  if (!noise.defined() || noise.sizes() != mean.sizes())
    fail("HunyuanVideo VAE sample", "noise has shape " + (noise.defined() ? shape_str(noise.sizes()) : std::string("(undefined)")) +
                                        ", expected " + shape_str(mean.sizes()));
  return mean + std() * noise.to(mean.device(), mean.scalar_type());
}

HunyuanVaePosterior HunyuanVAE::posterior(const at::Tensor& moments) const {
  const int64_t z = cfg.latent_channels;
  if (moments.dim() != 5 || moments.size(1) != 2 * z)
    fail("HunyuanVideo VAE", "moments have shape " + shape_str(moments.sizes()) + ", expected [B," + std::to_string(2 * z) + ",T,h,w]");
  HunyuanVaePosterior p;
  p.moments = moments;
  p.mean = moments.narrow(1, 0, z);
  p.logvar = moments.narrow(1, z, z).clamp(-30.0, 20.0);
  return p;
}

// ---- checks --------------------------------------------------------------------------------------------
void HunyuanVAE::check_video(const at::Tensor& v) const {
  const char* where = "HunyuanVideo VAE encode";
  if (!v.defined()) fail(where, "video tensor is undefined");
  if (v.dim() != 5 || v.size(1) != cfg.in_channels || v.size(0) < 1 || v.size(2) < 1 || v.size(3) < 1 || v.size(4) < 1)
    fail(where, "video has shape " + shape_str(v.sizes()) + ", expected [B," + std::to_string(cfg.in_channels) + ",T,H,W]");
  if (!at::isFloatingType(v.scalar_type())) fail(where, "video must be a floating-point tensor in [-1,1]");
}

void HunyuanVAE::check_latent(const at::Tensor& z) const {
  const char* where = "HunyuanVideo VAE decode";
  if (!z.defined()) fail(where, "latent tensor is undefined");
  if (z.dim() != 5 || z.size(1) != cfg.latent_channels || z.size(0) < 1 || z.size(2) < 1 || z.size(3) < 1 || z.size(4) < 1)
    fail(where, "latent has shape " + shape_str(z.sizes()) + ", expected [B," + std::to_string(cfg.latent_channels) + ",T,h,w]");
  if (!at::isFloatingType(z.scalar_type())) fail(where, "latent must be a floating-point tensor");
}

// ---- networks ------------------------------------------------------------------------------------------
at::Tensor HunyuanVAE::encoder_forward(const at::Tensor& x_in, HunyuanVaeTaps* taps) const {
  using namespace hyvae;
  at::Tensor x = conv(encoder.conv_in, x_in);
  tap(taps, "enc_conv_in_out", x);
  for (size_t i = 0; i < encoder.down_blocks.size(); ++i) {
    const DownBlock& b = encoder.down_blocks[i];
    for (const auto& r : b.resnets) x = resnet(r, x);
    if (b.has_downsampler) x = conv(b.downsampler, x);
    tap(taps, "enc_down" + std::to_string(i) + "_out", x);
  }
  x = mid_block(encoder.mid, x, taps, "enc_");
  x = conv(encoder.conv_out, norm_silu(encoder.norm_out, x));
  tap(taps, "enc_out", x);
  return x;
}

at::Tensor HunyuanVAE::decoder_forward(const at::Tensor& z, HunyuanVaeTaps* taps) const {
  using namespace hyvae;
  at::Tensor x = conv(decoder.conv_in, z);
  tap(taps, "dec_conv_in_out", x);
  x = mid_block(decoder.mid, x, taps, "dec_");
  for (size_t i = 0; i < decoder.up_blocks.size(); ++i) {
    const UpBlock& b = decoder.up_blocks[i];
    for (const auto& r : b.resnets) x = resnet(r, x);
    if (b.has_upsampler) x = upsample(b, x);
    tap(taps, "dec_up" + std::to_string(i) + "_out", x);
  }
  return conv(decoder.conv_out, norm_silu(decoder.norm_out, x));
}

at::Tensor HunyuanVAE::apply_quant_conv(const at::Tensor& h) const { return hyvae::conv(quant_conv, h); }
at::Tensor HunyuanVAE::apply_post_quant_conv(const at::Tensor& z) const { return hyvae::conv(post_quant_conv, z); }

// ---- tiled paths (autoencoder_kl_causal_3d.py:342-531) ---------------------------------------------------
at::Tensor HunyuanVAE::spatial_tiled_encode(const at::Tensor& x) const {
  const HunyuanVaeTiling t = cfg.tiling();
  const int64_t S = t.sample_size, step = t.enc_step(), H = x.size(3), W = x.size(4);
  std::vector<std::vector<at::Tensor>> tiles;
  for (int64_t i : HunyuanVaeTiling::origins(H, step)) {
    tiles.emplace_back();
    for (int64_t j : HunyuanVaeTiling::origins(W, step)) {
      const at::Tensor tile = x.narrow(3, i, std::min(S, H - i)).narrow(4, j, std::min(S, W - j));
      tiles.back().push_back(apply_quant_conv(encoder_forward(tile)));
    }
  }
  return hyvae::merge_spatial(tiles, t.enc_blend(), t.enc_limit());
}

at::Tensor HunyuanVAE::temporal_tiled_encode(const at::Tensor& x, bool spatial) const {
  const HunyuanVaeTiling t = cfg.tiling();
  const int64_t T = x.size(2);
  std::vector<at::Tensor> tiles;
  for (int64_t i : HunyuanVaeTiling::origins(T, t.enc_tstep())) {
    const at::Tensor tile = x.narrow(2, i, std::min(t.sample_tsize + 1, T - i));
    at::Tensor m = spatial && (tile.size(4) > t.sample_size || tile.size(3) > t.sample_size)
                       ? spatial_tiled_encode(tile)
                       : apply_quant_conv(encoder_forward(tile));
    if (i > 0) m = m.narrow(2, 1, m.size(2) - 1);
    tiles.push_back(m);
  }
  return hyvae::merge_temporal(tiles, t.enc_tblend(), t.enc_tlimit());
}

at::Tensor HunyuanVAE::spatial_tiled_decode(const at::Tensor& z) const {
  const HunyuanVaeTiling t = cfg.tiling();
  const int64_t S = t.latent_size, step = t.dec_step(), h = z.size(3), w = z.size(4);
  std::vector<std::vector<at::Tensor>> tiles;
  for (int64_t i : HunyuanVaeTiling::origins(h, step)) {
    tiles.emplace_back();
    for (int64_t j : HunyuanVaeTiling::origins(w, step)) {
      const at::Tensor tile = z.narrow(3, i, std::min(S, h - i)).narrow(4, j, std::min(S, w - j));
      tiles.back().push_back(decoder_forward(apply_post_quant_conv(tile)));
    }
  }
  return hyvae::merge_spatial(tiles, t.dec_blend(), t.dec_limit());
}

at::Tensor HunyuanVAE::temporal_tiled_decode(const at::Tensor& z, bool spatial) const {
  const HunyuanVaeTiling t = cfg.tiling();
  const int64_t T = z.size(2);
  std::vector<at::Tensor> tiles;
  for (int64_t i : HunyuanVaeTiling::origins(T, t.dec_tstep())) {
    const at::Tensor tile = z.narrow(2, i, std::min(t.latent_tsize + 1, T - i));
    at::Tensor d = spatial && (tile.size(4) > t.latent_size || tile.size(3) > t.latent_size)
                       ? spatial_tiled_decode(tile)
                       : decoder_forward(apply_post_quant_conv(tile));
    if (i > 0) d = d.narrow(2, 1, d.size(2) - 1);
    tiles.push_back(d);
  }
  return hyvae::merge_temporal(tiles, t.dec_tblend(), t.dec_tlimit());
}

// ---- entry points (upstream encode / _decode dispatch) ----------------------------------------------------
HunyuanVaePosterior HunyuanVAE::encode(const at::Tensor& video, HunyuanVaeTilingMode tiling, HunyuanVaeTaps* taps) const {
  check_video(video);
  const at::Tensor x = video.to(device(), at::kFloat);
  const HunyuanVaeTiling t = cfg.tiling();
  at::Tensor moments;
  if (tiling.temporal && x.size(2) > t.sample_tsize) {
    moments = temporal_tiled_encode(x, tiling.spatial);
  } else if (tiling.spatial && (x.size(4) > t.sample_size || x.size(3) > t.sample_size)) {
    moments = spatial_tiled_encode(x);
  } else {
    moments = apply_quant_conv(encoder_forward(x, taps));
  }
  return posterior(moments);
}

at::Tensor HunyuanVAE::decode(const at::Tensor& latent, HunyuanVaeTilingMode tiling, HunyuanVaeTaps* taps) const {
  check_latent(latent);
  const at::Tensor z = latent.to(device(), at::kFloat);
  const HunyuanVaeTiling t = cfg.tiling();
  if (tiling.temporal && z.size(2) > t.latent_tsize) return temporal_tiled_decode(z, tiling.spatial);
  if (tiling.spatial && (z.size(4) > t.latent_size || z.size(3) > t.latent_size)) return spatial_tiled_decode(z);
  const at::Tensor p = apply_post_quant_conv(z);
  hyvae::tap(taps, "dec_post_quant_conv_out", p);
  return decoder_forward(p, taps);
}

at::Tensor HunyuanVAE::encode_scaled(const at::Tensor& video, HunyuanVaeTilingMode tiling) const {
  return encode(video, tiling).mode() * cfg.scaling_factor;
}

at::Tensor HunyuanVAE::decode_to_unit(const at::Tensor& scaled_latent, HunyuanVaeTilingMode tiling) const {
  check_latent(scaled_latent);
  return (decode(scaled_latent / cfg.scaling_factor, tiling) / 2 + 0.5).clamp(0.0, 1.0);
}

}  // namespace focalscope
