// Hyper-parameters of the HunyuanVideo-I2V DiT (`HYVideoDiffusionTransformer`), one plain struct like WanConfig.
// Spec: ../shared/fixtures/hunyuan_reference/ARCHITECTURE.md §1-2. Field names are upstream's constructor
// arguments, so a fixture's "constructor_args" object (or an equivalent flat config.json) reads unchanged.
#pragma once
#include <array>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace focalscope {

struct HunyuanConfig {
  std::array<int, 3> patch_size{1, 2, 2};  // (t, h, w)
  int in_channels = 16;                    // token_replace: latent channels only (no concatenated condition)
  int out_channels = 16;
  int hidden_size = 3072;
  int heads_num = 24;
  double mlp_width_ratio = 4.0;            // MLP hidden = int(hidden_size * ratio), as upstream
  int mm_double_blocks_depth = 20;
  int mm_single_blocks_depth = 40;
  std::array<int, 3> rope_dim_list{16, 56, 56};  // per-axis RoPE widths (t, h, w); sum = head_dim
  double rope_theta = 256.0;               // config.py --rope-theta (not a constructor argument)
  double rope_theta_rescale_factor = 1.0;  // get_1d_rotary_pos_embed's NTK rescale (1 in every release path)
  bool qkv_bias = true;
  bool guidance_embed = true;              // guidance_in exists (the release sets it: --embedded-cfg-scale)
  bool use_attention_mask = true;          // refiner sees the text mask (else a plain mean / no mask)
  int text_states_dim = 4096;              // MLLM (Llama-3-8B) width
  int text_states_dim_2 = 768;             // CLIP-L pooled width
  int refiner_depth = 2;                   // SingleTokenRefiner(depth=2), hard-wired upstream
  int freq_dim = 256;                      // TimestepEmbedder frequency_embedding_size
  double eps = 1e-6;                       // every LayerNorm / RMSNorm of the model
  // Upstream options we support only at their release value; kept so a config that names another value is refused
  // (validate) instead of silently run as the release.
  std::string mlp_act_type = "gelu_tanh";
  std::string qk_norm_type = "rms";
  bool qk_norm = true;
  std::string text_projection = "single_refiner";
  std::string i2v_condition_type = "token_replace";

  int head_dim() const { return hidden_size / heads_num; }
  int mlp_hidden() const { return static_cast<int>(hidden_size * mlp_width_ratio); }
  int patch_volume() const { return patch_size[0] * patch_size[1] * patch_size[2]; }

  void validate() const;  // throws Error naming the inconsistent value

  // Reads upstream constructor arguments: either flat, or a fixture's {"constructor_args": {..., "args...": {...}}}
  // object (text_states_dim, text_states_dim_2 and i2v_condition_type live in the argparse `args` there). A
  // top-level {"rope": {"args": {"theta", "theta_rescale_factor"}}} or "rope_theta" sets the RoPE base.
  static HunyuanConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  static HunyuanConfig release_i2v_720p();  // HYVideo-T/2 as the I2V scripts build it

  long long num_params() const;   // weights implied by the config (12.82 B for the release)
  int num_tensors() const;        // state-dict entries (856 for the release)
};

// FLOPs of one forward of one batch row with Li image tokens and Lt text tokens (2 per multiply-add, as Wan's
// dit_forward_flops): patch embedding, token refiner, every double block (both streams' projections and MLPs, the
// joint attention over Li + Lt), every single block, the final layer. Modulation GEMVs are counted too.
double hunyuan_forward_flops(const HunyuanConfig& cfg, int64_t Li, int64_t Lt);

}  // namespace focalscope
