// The Wan2.1 video VAE (upstream `WanVAE_` + the latent scaling of the `WanVAE` wrapper, wan/modules/vae.py).
//
// A 3D causal convolutional VAE: 8x spatial and 4x temporal compression, 16 latent channels.
// Execution follows upstream's chunked schedule exactly: the encoder sees frame 0 alone, then 4-frame
// chunks; the decoder sees one latent frame at a time. Every causal convolution keeps a small feature
// cache (the last CACHE_T = 2 input frames) across chunks, so activations of only one chunk are alive at a
// time (what lets 81 frames at 480p fit in memory). The result equals a full-sequence causal network with
// the two special temporal resampling rules of ARCHITECTURE.md section 9.
//
// Weights are plain at::Tensors named by their upstream state-dict keys; they can be loaded (strictly
// shape-checked), randomly initialised, listed, set requires_grad and saved, so the same struct serves
// inference and training. Every forward function works under autograd; the inference entry points
// (encode / decode / ...) switch to c10::InferenceMode by themselves when nothing needs a gradient
// (no parameter and no input requires grad) and always return normal (non-inference) tensors.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <array>
#include <map>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/fixture.h"
#include "engine/core/weights.h"

namespace focalscope {

// Constructor arguments of upstream WanVAE_ (defaults = the real model, `_video_vae`).
struct VaeConfig {
  int dim = 96;
  int z_dim = 16;
  std::vector<int> dim_mult{1, 2, 4, 4};
  int num_res_blocks = 2;
  std::vector<double> attn_scales{};
  std::vector<bool> temporal_downsample{false, true, true};  // upstream spells it "temperal_downsample"
  double dropout = 0.0;  // recorded only: every path here runs in eval mode (no dropout)

  // From upstream constructor_args ({"dim": 8, "z_dim": 16, "temperal_downsample": [...], ...}); missing keys
  // keep their defaults, wrong types / unknown keys / inconsistent values throw Error.
  static VaeConfig from_json(const nlohmann::json& constructor_args);
  nlohmann::json to_json() const;  // upstream key names
  // The real-model config with dim and z_dim read off a checkpoint (encoder.conv1.weight, conv2.weight).
  static VaeConfig infer(const TensorSet& weights);
  void validate() const;  // throws Error "VAE config: ..."

  int spatial_stride() const { return 1 << (static_cast<int>(dim_mult.size()) - 1); }  // 8
  int temporal_stride() const;                                                        // 4
};

// Upstream chunk lengths (hard-coded in WanVAE_.encode / decode): frame 0, then 4 frames per encoder call.
constexpr int kVaeEncodeChunk = 4;
// The 16 per-channel latent constants hard-coded in upstream's WanVAE wrapper.
extern const std::array<float, 16> kWanLatentMean;
extern const std::array<float, 16> kWanLatentStd;

namespace vae {

// Convolution weights plus the geometry upstream gives them. Conv2d layers (resample.1, to_qkv, proj) keep
// their 4-D upstream weight and run as a (1,kh,kw) Conv3d on [B,C,T,H,W] (no per-frame reshuffling).
struct Conv {
  at::Tensor weight, bias;
  int64_t in = 0, out = 0;
  std::array<int64_t, 3> kernel{1, 1, 1};  // t, h, w
  std::array<int64_t, 3> stride{1, 1, 1};
  int64_t pad_front = 0;                   // causal zero frames in front (2 * padding_t)
  std::array<int64_t, 2> pad_hw{0, 0};     // symmetric spatial padding
  bool is2d = false;                       // upstream nn.Conv2d: weight [out,in,kh,kw]
  std::vector<int64_t> weight_shape() const;
};
struct RMSNorm {
  at::Tensor gamma;  // [C,1,1,1] (video) or [C,1,1] (images: the attention block)
  int64_t dim = 0;
  bool images = false;
};
struct ResBlock {  // residual.{0,2,3,6}, shortcut
  RMSNorm norm1, norm2;
  Conv conv1, conv2;
  bool has_shortcut = false;
  Conv shortcut;
};
struct AttnBlock {  // norm, to_qkv, proj
  RMSNorm norm;
  Conv to_qkv, proj;
};
enum class ResampleMode { Upsample2d, Upsample3d, Downsample2d, Downsample3d };
struct Resample {  // resample.1, time_conv (3d modes)
  ResampleMode mode = ResampleMode::Downsample2d;
  Conv conv;       // resample.1
  Conv time_conv;  // time_conv (only for the 3d modes)
};
struct Layer {
  enum class Kind { Res, Attn, Resample } kind = Kind::Res;
  ResBlock res;
  AttnBlock attn;
  Resample resample;
};
struct Encoder {
  Conv conv1;
  std::vector<Layer> downsamples;
  ResBlock mid0;
  AttnBlock mid1;
  ResBlock mid2;
  RMSNorm head_norm;  // head.0
  Conv head_conv;     // head.2
};
struct Decoder {
  Conv conv1;
  ResBlock mid0;
  AttnBlock mid1;
  ResBlock mid2;
  std::vector<Layer> upsamples;
  RMSNorm head_norm;  // head.0
  Conv head_conv;     // head.2
};

}  // namespace vae

// Called with (chunk index, that chunk's output) as the chunked encoder / decoder produces it.
using VaeChunkFn = std::function<void(int64_t, const at::Tensor&)>;

struct VaePosterior {
  at::Tensor mu, log_var;  // raw (un-normalised), [B, z_dim, T', H/8, W/8]
};

struct WanVAE {
  VaeConfig cfg;
  vae::Encoder encoder;
  vae::Conv conv1;  // top level 1x1x1, 2*z_dim -> 2*z_dim (mu | log_var)
  vae::Conv conv2;  // top level 1x1x1, z_dim -> z_dim
  vae::Decoder decoder;
  // Latent scaling (not parameters): defaults to kWanLatentMean / kWanLatentStd; [z_dim], float32.
  at::Tensor latent_mean, latent_std;

  // ---- construction -----------------------------------------------------------------------------
  // Claims every tensor by its upstream key with the shape cfg implies; throws Error naming the file and
  // tensor for a missing / misshaped / non-float / non-finite one, and for any unexpected tensor.
  static WanVAE load(const TensorSet& weights, const VaeConfig& cfg = VaeConfig{},
                     c10::ScalarType dtype = c10::ScalarType::Float,
                     c10::Device device = c10::Device(c10::DeviceType::CPU));
  // Wan2.1_VAE.pth / .safetensors; the config is inferred from the checkpoint (VaeConfig::infer).
  static WanVAE load_file(const std::string& path, c10::ScalarType dtype = c10::ScalarType::Float,
                          c10::Device device = c10::Device(c10::DeviceType::CPU));
  // Random init (PyTorch's default conv init: U(+-1/sqrt(fan_in)) for weights and biases; gammas = 1).
  static WanVAE init(const VaeConfig& cfg, uint64_t seed);

  // ---- parameters ---------------------------------------------------------------------------------
  NamedTensors named_parameters() const;  // upstream state-dict order of modules; tensors are shared, not copied
  int64_t num_parameters() const;
  void set_requires_grad(bool on);
  bool any_requires_grad() const;
  // safetensors with the upstream names (+ config in metadata, plus `extra_metadata` entries).
  void save(const std::string& path, const std::map<std::string, std::string>& extra_metadata = {}) const;
  c10::ScalarType dtype() const;
  c10::Device device() const;

  // ---- inference (chunked, cached; InferenceMode unless a gradient is needed) ------------------------
  // video [B,3,T,H,W] in [-1,1], T = 1 + 4k, H and W multiples of 8 -> normalised latent [B,z,T',H/8,W/8]
  // with T' = 1 + k: (mu - mean) * (1/std), what upstream WanVAE.encode returns (batch dim kept).
  at::Tensor encode(const at::Tensor& video) const;
  at::Tensor encode_mu(const at::Tensor& video) const;  // raw posterior mean (WanVAE_.encode with scale [0,1])
  // Normalised latent [B,z,T',h,w] -> video [B,3,1+4(T'-1),8h,8w]; decode() clamps to [-1,1] like WanVAE.decode.
  at::Tensor decode(const at::Tensor& latent) const;
  at::Tensor decode_unclamped(const at::Tensor& latent) const;
  // Streams the decoded frames chunk by chunk (1 frame, then 4 per latent frame) without ever holding the
  // whole video: frames [B,3,n,H,W], chunk index i covers output frames [max(0,4i-3), 4i]. Without autograd the
  // frames handed over are inference tensors: read / copy them, do not modify them in place or keep them for autograd.
  void decode_stream(const at::Tensor& latent, const VaeChunkFn& on_frames, bool clamp = true) const;

  // ---- building blocks (plain autograd-capable ATen; each call starts a fresh feature cache) ----------
  at::Tensor normalize_latent(const at::Tensor& mu) const;    // (mu - mean) * (1/std)
  at::Tensor denormalize_latent(const at::Tensor& z) const;   // z / (1/std) + mean
  // Encoder over the chunk schedule -> the input of conv1, [B, 2*z, T', h, w]; on_chunk sees each chunk's output.
  at::Tensor encoder_chunked(const at::Tensor& video, const VaeChunkFn& on_chunk = {}) const;
  VaePosterior posterior(const at::Tensor& video) const;      // conv1(encoder_chunked) split into mu | log_var
  // conv2 output [B,z,T',h,w] -> decoder over one latent frame at a time, unclamped. Returns the concatenated
  // video when collect is true, an undefined tensor otherwise (then only on_chunk sees the frames).
  at::Tensor decoder_chunked(const at::Tensor& x, const VaeChunkFn& on_chunk = {}, bool collect = true) const;
  at::Tensor apply_conv1(const at::Tensor& x) const;
  at::Tensor apply_conv2(const at::Tensor& x) const;
  // Raw latent (mu space) -> video, unclamped: conv2 then decoder_chunked (training reconstruction path).
  at::Tensor decode_raw(const at::Tensor& z_raw) const;
  // The same networks over the whole clip at once, without chunks or cache (ARCHITECTURE.md section 9's
  // full-sequence formulation: equal to the chunked results up to float rounding; more memory, more parallelism).
  at::Tensor encoder_full(const at::Tensor& video) const;  // = encoder_chunked(video)
  at::Tensor decoder_full(const at::Tensor& x) const;      // = decoder_chunked(x)

  // Visits every parameter (upstream name, tensor slot, expected shape, fan_in for init).
  void visit_parameters(const std::function<void(const std::string&, at::Tensor&, const std::vector<int64_t>&,
                                                 int64_t fan_in, bool is_gamma)>& fn);

  // Builds the module tree for cfg with undefined tensors (used by load / init).
  static WanVAE skeleton(const VaeConfig& cfg);

 private:
  bool wants_grad(const at::Tensor& input) const;
  void check_video(const at::Tensor& video) const;
  void check_latent(const at::Tensor& latent) const;
};

// Runner for wan_vae_tiny-style fixture folders: for every case prefix P (io tensors named "P_video") it
// recomputes P_mu_raw, P_latent, P_conv1_in, P_conv1_out, P_enc_chunk{i}_out, P_decode_conv2_out,
// P_dec_chunk{i}_out, P_decoded and P_decoded_clamped (decoding its own latent). Inputs: *_video,
// latent_mean, latent_std (used as the scaling constants when present).
FixtureResult run_vae_fixture(const Fixture& fixture);

}  // namespace focalscope
