// The HunyuanVideo 884-16c causal 3D VAE (upstream `AutoencoderKLCausal3D`, hyvideo/vae/*.py): 8x spatial and 4x
// temporal compression, 16 latent channels, encode (posterior mean / logvar / sample), decode, and upstream's
// temporal + spatial tiling with its in-place blends. Spec: ../shared/fixtures/hunyuan_reference/ARCHITECTURE.md §11.
//
// Unlike Wan's VAE there is no chunked feature cache: upstream runs the encoder / decoder over the whole clip (or
// over each tile when tiling is on), with replicate padding in all three dims (2 frames in front in time).
//
// Weights are plain at::Tensors named by their upstream state-dict keys (those of `vae/pytorch_model.pt` after
// `load_vae`'s wrapper / prefix stripping). Precision: convolutions, linears and activations run in the load dtype
// (float32 = the reference; bf16 / fp16 = upstream's half-precision VAE); GroupNorm weights are kept in float32 and
// every GroupNorm and the mid-block softmax are computed in float32, cast back to the activation dtype.
// Every function is plain ATen (autograd-capable); callers pick InferenceMode / NoGradGuard.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <array>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/fixture.h"
#include "engine/core/weights.h"

namespace focalscope {

// Upstream's tiling attributes (set in AutoencoderKLCausal3D.__init__, autoencoder_kl_causal_3d.py:117-132), plus
// the tile geometry its tiled_* methods derive from them (all int() truncations as upstream).
struct HunyuanVaeTiling {
  int64_t sample_size = 256;  // tile_sample_min_size (pixels)
  int64_t latent_size = 32;   // tile_latent_min_size = int(sample_size / 2^(len(block_out_channels)-1))
  int64_t sample_tsize = 64;  // tile_sample_min_tsize (frames)
  int64_t latent_tsize = 16;  // tile_latent_min_tsize = sample_tsize // time_compression_ratio
  double overlap = 0.25;      // tile_overlap_factor

  // spatial_tiled_encode: tile origins every enc_step() px, blend enc_blend() latents, keep enc_limit() latents.
  int64_t enc_step() const;
  int64_t enc_blend() const;
  int64_t enc_limit() const { return latent_size - enc_blend(); }
  // temporal_tiled_encode: tiles of sample_tsize + 1 frames every enc_tstep() frames, blend enc_tblend() latent
  // frames, keep enc_tlimit() (+1 for the first tile).
  int64_t enc_tstep() const;
  int64_t enc_tblend() const;
  int64_t enc_tlimit() const { return latent_tsize - enc_tblend(); }
  // spatial_tiled_decode / temporal_tiled_decode: the same with latent-size tiles and pixel-size blends.
  int64_t dec_step() const;
  int64_t dec_blend() const;
  int64_t dec_limit() const { return sample_size - dec_blend(); }
  int64_t dec_tstep() const;
  int64_t dec_tblend() const;
  int64_t dec_tlimit() const { return sample_tsize - dec_tblend(); }
  // Tile origins as upstream's range(0, extent, step).
  static std::vector<int64_t> origins(int64_t extent, int64_t step);
  void validate() const;  // throws Error (a step of 0 would make upstream's range() fail)
};

// Constructor arguments of upstream AutoencoderKLCausal3D. A default-constructed config has upstream's constructor
// defaults (as diffusers' from_config fills missing keys); release_884_16c() is the released VAE.
struct HunyuanVaeConfig {
  int in_channels = 3;
  int out_channels = 3;
  std::vector<std::string> down_block_types{"DownEncoderBlockCausal3D"};
  std::vector<std::string> up_block_types{"UpDecoderBlockCausal3D"};
  std::vector<int> block_out_channels{64};
  int layers_per_block = 1;
  std::string act_fn = "silu";
  int latent_channels = 4;
  int norm_num_groups = 32;
  int sample_size = 32;
  int sample_tsize = 64;
  double scaling_factor = 0.18215;
  bool force_upcast = true;  // recorded only (upstream's pipeline runs the VAE under fp16 autocast regardless)
  int spatial_compression_ratio = 8;
  int time_compression_ratio = 4;
  bool mid_block_add_attention = true;
  // Set when a fixture records its tiling attributes explicitly (its "tiling" object); else derived.
  std::optional<HunyuanVaeTiling> tiling_override;

  static HunyuanVaeConfig release_884_16c();  // ckpts/hunyuan-video-i2v-720p/vae/config.json
  // Reads either a flat diffusers config.json (keys starting with '_' are metadata and skipped) or a fixture's
  // {"constructor_args": {...}, "tiling": {...}}. Missing keys keep upstream's constructor defaults; an unknown key,
  // a wrong type or an inconsistent value throws Error naming it.
  static HunyuanVaeConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;  // upstream constructor keys
  void validate() const;           // throws Error "HunyuanVideo VAE config: ..."

  HunyuanVaeTiling tiling() const;  // the override, or what upstream's __init__ derives
  int num_blocks() const { return static_cast<int>(block_out_channels.size()); }
  // Which encoder down block i downsamples, and how (vae.py:60-93); the decoder's up block i mirrors it.
  bool spatial_resample(int i) const;
  bool temporal_resample(int i) const;
  int64_t spatial_factor() const;   // 2^(#spatial resamples)
  int64_t temporal_factor() const;  // 2^(#temporal resamples)
};

namespace hyvae {
struct Conv {  // CausalConv3d (`<name>.conv.{weight,bias}`), or a plain Conv3d (quant convs: causal = false, k = 1)
  at::Tensor weight, bias;
  int64_t in = 0, out = 0, k = 3;
  std::array<int64_t, 3> stride{1, 1, 1};
  bool causal = true;
};
struct GroupNorm {  // float32 affine
  at::Tensor weight, bias;
  int64_t channels = 0, groups = 1;
};
struct Linear {
  at::Tensor weight, bias;
  int64_t in = 0, out = 0;
};
struct Resnet {  // ResnetBlockCausal3D: norm1, conv1, norm2, conv2, conv_shortcut (when in != out)
  GroupNorm norm1, norm2;
  Conv conv1, conv2;
  bool has_shortcut = false;
  Conv shortcut;
};
struct Attention {  // diffusers Attention, single head of size C, frame-causal mask, residual
  GroupNorm group_norm;
  Linear to_q, to_k, to_v, to_out;
};
struct MidBlock {
  Resnet res0, res1;
  bool has_attention = true;
  Attention attn;
};
struct DownBlock {
  std::vector<Resnet> resnets;
  bool has_downsampler = false;
  Conv downsampler;  // downsamplers.0.conv, stride (t, 2, 2)
};
struct UpBlock {
  std::vector<Resnet> resnets;
  bool has_upsampler = false;
  std::array<int64_t, 3> factor{1, 1, 1};  // nearest (t, h, w); frame 0 only spatially
  Conv upsampler;                          // upsamplers.0.conv
};
struct Encoder {
  Conv conv_in;
  std::vector<DownBlock> down_blocks;
  MidBlock mid;
  GroupNorm norm_out;  // conv_norm_out
  Conv conv_out;
};
struct Decoder {
  Conv conv_in;
  MidBlock mid;
  std::vector<UpBlock> up_blocks;
  GroupNorm norm_out;
  Conv conv_out;
};
}  // namespace hyvae

// DiagonalGaussianDistribution over the quant_conv output.
struct HunyuanVaePosterior {
  at::Tensor moments;  // [B, 2z, T', h, w]: mean | logvar before the clamp
  at::Tensor mean;     // channels 0..z-1
  at::Tensor logvar;   // channels z..2z-1 clamped to [-30, 20]
  const at::Tensor& mode() const { return mean; }
  at::Tensor std() const;                          // exp(0.5 * logvar)
  at::Tensor sample(const at::Tensor& noise) const;  // mean + std * noise (upstream draws noise with randn_tensor)
};

// Which of upstream's tilings are enabled (enable_spatial_tiling / enable_temporal_tiling; the pipeline enables
// both for decode). Each only triggers when the input exceeds the tile size, exactly as upstream dispatches.
struct HunyuanVaeTilingMode {
  bool spatial = false;
  bool temporal = false;
  static HunyuanVaeTilingMode off() { return {}; }
  static HunyuanVaeTilingMode on() { return {true, true}; }
};

// Per-stage intermediates of an untiled encode / decode (names as the fixtures record them, without the case
// prefix): enc_conv_in_out, enc_down{i}_out, enc_mid_attn_out ([B, T*H*W, C], incl. residual), enc_mid_out,
// enc_out; dec_post_quant_conv_out, dec_conv_in_out, dec_mid_attn_out, dec_mid_out, dec_up{i}_out. Tiled calls
// record nothing (every tile would overwrite the last).
using HunyuanVaeTaps = std::map<std::string, at::Tensor>;

struct HunyuanVAE {
  HunyuanVaeConfig cfg;
  hyvae::Encoder encoder;
  hyvae::Decoder decoder;
  hyvae::Conv quant_conv;       // Conv3d 1x1x1, 2z -> 2z
  hyvae::Conv post_quant_conv;  // Conv3d 1x1x1, z -> z

  // Claims every tensor by its upstream key with the shape cfg implies; throws Error naming the file and tensor
  // for a missing / misshaped / non-float one, and for any tensor nobody claimed.
  static HunyuanVAE load(const TensorSet& weights, const HunyuanVaeConfig& cfg, c10::ScalarType dtype = c10::kFloat,
                         c10::Device device = c10::Device(c10::kCPU));
  // A checkpoint file (safetensors, or a .pt / .pth state dict, maybe wrapped as {"state_dict": ...} like the
  // release's vae/pytorch_model.pt) with load_vae's `vae.` prefix rule applied.
  static HunyuanVAE load_file(const std::string& path, const HunyuanVaeConfig& cfg, c10::ScalarType dtype = c10::kFloat,
                              c10::Device device = c10::Device(c10::kCPU));
  // Builds the module tree for cfg with undefined tensors.
  static HunyuanVAE skeleton(const HunyuanVaeConfig& cfg);

  NamedTensors named_parameters() const;  // upstream state_dict order; tensors shared, not copied
  int64_t num_parameters() const;
  c10::ScalarType dtype() const;
  c10::Device device() const;

  // video [B, in_channels, T, H, W] in [-1, 1] -> posterior over [B, z, (T-1)/4+1, H/8, W/8] (any T, H, W >= 1:
  // causal padding makes every size valid, as upstream).
  HunyuanVaePosterior encode(const at::Tensor& video, HunyuanVaeTilingMode tiling = HunyuanVaeTilingMode::off(),
                             HunyuanVaeTaps* taps = nullptr) const;
  // Raw latent (posterior space, i.e. img_latents / scaling_factor) -> video, unclamped (upstream decode()).
  at::Tensor decode(const at::Tensor& z, HunyuanVaeTilingMode tiling = HunyuanVaeTilingMode::off(),
                    HunyuanVaeTaps* taps = nullptr) const;
  // The pipeline's conventions: img_latents = mode * scaling_factor; video = (decode(z / scaling_factor) / 2 +
  // 0.5).clamp(0, 1) with tiling on (pipeline:1112-1157).
  at::Tensor encode_scaled(const at::Tensor& video, HunyuanVaeTilingMode tiling = HunyuanVaeTilingMode::off()) const;
  at::Tensor decode_to_unit(const at::Tensor& scaled_latent, HunyuanVaeTilingMode tiling = HunyuanVaeTilingMode::on()) const;

  // Building blocks (upstream's method names).
  at::Tensor encoder_forward(const at::Tensor& x, HunyuanVaeTaps* taps = nullptr) const;  // -> [B, 2z, ...]
  at::Tensor decoder_forward(const at::Tensor& z, HunyuanVaeTaps* taps = nullptr) const;  // post_quant_conv output in
  at::Tensor apply_quant_conv(const at::Tensor& h) const;
  at::Tensor apply_post_quant_conv(const at::Tensor& z) const;
  at::Tensor spatial_tiled_encode(const at::Tensor& x) const;   // -> moments
  at::Tensor temporal_tiled_encode(const at::Tensor& x, bool spatial) const;
  at::Tensor spatial_tiled_decode(const at::Tensor& z) const;
  at::Tensor temporal_tiled_decode(const at::Tensor& z, bool spatial) const;
  HunyuanVaePosterior posterior(const at::Tensor& moments) const;

 private:
  void check_video(const at::Tensor& v) const;
  void check_latent(const at::Tensor& z) const;
};

// load_vae's key rule (hyvideo/vae/__init__.py:38-41): when any key starts with "vae.", only those keys are kept,
// with "vae." removed; otherwise the set is returned unchanged.
TensorSet hunyuan_vae_strip_prefix(const TensorSet& weights);

}  // namespace focalscope
