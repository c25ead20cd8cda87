#include "engine/models/hunyuan/hunyuan_config.h"

#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace focalscope {

void HunyuanConfig::validate() const {
  auto bad = [](const std::string& what) { fail("HunyuanVideo DiT config", what); };
  if (hidden_size <= 0 || heads_num <= 0 || hidden_size % heads_num != 0)
    bad("hidden_size must be a positive multiple of heads_num");
  if (head_dim() % 2 != 0) bad("head_dim must be even (RoPE pairs)");
  int rope_sum = 0;
  for (int r : rope_dim_list) {
    if (r <= 0 || r % 2 != 0) bad("rope_dim_list entries must be positive and even");
    rope_sum += r;
  }
  if (rope_sum != head_dim())
    bad("rope_dim_list sums to " + std::to_string(rope_sum) + " but head_dim is " + std::to_string(head_dim()));
  if (!(rope_theta > 0) || !(rope_theta_rescale_factor > 0)) bad("rope theta and its rescale factor must be positive");
  for (int p : patch_size)
    if (p <= 0) bad("patch_size entries must be positive");
  if (mm_double_blocks_depth < 0 || mm_single_blocks_depth < 0 || mm_double_blocks_depth + mm_single_blocks_depth > 1000)
    bad("block depths out of range");
  if (in_channels <= 0 || out_channels <= 0 || text_states_dim <= 0 || text_states_dim_2 <= 0 || mlp_hidden() <= 0)
    bad("channel and text widths must be positive");
  if (refiner_depth <= 0 || freq_dim <= 0 || freq_dim % 2 != 0) bad("refiner_depth and freq_dim (even) must be positive");
  if (mlp_act_type != "gelu_tanh") bad("mlp_act_type '" + mlp_act_type + "' is not supported (the release uses gelu_tanh)");
  if (!qk_norm || qk_norm_type != "rms") bad("only qk_norm with qk_norm_type 'rms' is supported (as released)");
  if (text_projection != "single_refiner")
    bad("text_projection '" + text_projection + "' is not supported (the release uses single_refiner)");
  if (i2v_condition_type != "token_replace")
    bad("i2v_condition_type '" + i2v_condition_type + "' is not supported (the I2V release uses token_replace)");
  if (in_channels != out_channels) bad("token_replace needs in_channels == out_channels");
}

HunyuanConfig HunyuanConfig::from_json(const nlohmann::json& root) {
  HunyuanConfig c;
  try {
    const nlohmann::json& j = root.contains("constructor_args") ? root["constructor_args"] : root;
    auto geti = [](const nlohmann::json& o, const char* k, int& v) { if (o.contains(k) && !o[k].is_null()) v = o[k].get<int>(); };
    auto getb = [](const nlohmann::json& o, const char* k, bool& v) { if (o.contains(k) && !o[k].is_null()) v = o[k].get<bool>(); };
    auto gets = [](const nlohmann::json& o, const char* k, std::string& v) { if (o.contains(k) && !o[k].is_null()) v = o[k].get<std::string>(); };
    auto getd = [](const nlohmann::json& o, const char* k, double& v) { if (o.contains(k) && !o[k].is_null()) v = o[k].get<double>(); };
    auto get3 = [](const nlohmann::json& o, const char* k, std::array<int, 3>& v) {
      if (!o.contains(k) || o[k].is_null()) return;
      auto a = o[k].get<std::vector<int>>();
      if (a.size() != 3) fail("HunyuanVideo DiT config", std::string(k) + " must have 3 entries");
      v = {a[0], a[1], a[2]};
    };
    get3(j, "patch_size", c.patch_size);
    geti(j, "in_channels", c.in_channels);
    geti(j, "out_channels", c.out_channels);
    geti(j, "hidden_size", c.hidden_size);
    geti(j, "heads_num", c.heads_num);
    getd(j, "mlp_width_ratio", c.mlp_width_ratio);
    geti(j, "mm_double_blocks_depth", c.mm_double_blocks_depth);
    geti(j, "mm_single_blocks_depth", c.mm_single_blocks_depth);
    get3(j, "rope_dim_list", c.rope_dim_list);
    getb(j, "qkv_bias", c.qkv_bias);
    getb(j, "qk_norm", c.qk_norm);
    gets(j, "qk_norm_type", c.qk_norm_type);
    getb(j, "guidance_embed", c.guidance_embed);
    gets(j, "text_projection", c.text_projection);
    getb(j, "use_attention_mask", c.use_attention_mask);
    gets(j, "mlp_act_type", c.mlp_act_type);
    geti(j, "refiner_depth", c.refiner_depth);
    geti(j, "freq_dim", c.freq_dim);
    getd(j, "eps", c.eps);
    getd(j, "rope_theta", c.rope_theta);
    // Upstream reads these off its argparse namespace, which fixtures record as an object under constructor_args
    // whose key starts with "args" ("args", "args (argparse.Namespace fields read by __init__)").
    std::vector<const nlohmann::json*> scopes{&j};
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key().rfind("args", 0) == 0 && it.value().is_object()) scopes.push_back(&it.value());
    for (const nlohmann::json* o : scopes) {
      geti(*o, "text_states_dim", c.text_states_dim);
      geti(*o, "text_states_dim_2", c.text_states_dim_2);
      gets(*o, "i2v_condition_type", c.i2v_condition_type);
    }
    if (root.contains("rope_theta")) getd(root, "rope_theta", c.rope_theta);
    if (root.contains("rope") && root["rope"].is_object()) {
      const auto& r = root["rope"];
      const auto& ra = r.contains("args") ? r["args"] : r;
      getd(ra, "theta", c.rope_theta);
      getd(ra, "theta_rescale_factor", c.rope_theta_rescale_factor);
      if (ra.contains("rope_dim_list")) {
        std::array<int, 3> rd{};
        get3(ra, "rope_dim_list", rd);
        if (rd != c.rope_dim_list) fail("HunyuanVideo DiT config", "rope.rope_dim_list differs from constructor_args.rope_dim_list");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    fail("HunyuanVideo DiT config", std::string("bad value type: ") + e.what());
  }
  c.validate();
  return c;
}

nlohmann::json HunyuanConfig::to_json() const {
  return nlohmann::json{{"_class_name", "HYVideoDiffusionTransformer"},
                        {"patch_size", patch_size},
                        {"in_channels", in_channels},
                        {"out_channels", out_channels},
                        {"hidden_size", hidden_size},
                        {"heads_num", heads_num},
                        {"mlp_width_ratio", mlp_width_ratio},
                        {"mlp_act_type", mlp_act_type},
                        {"mm_double_blocks_depth", mm_double_blocks_depth},
                        {"mm_single_blocks_depth", mm_single_blocks_depth},
                        {"rope_dim_list", rope_dim_list},
                        {"rope_theta", rope_theta},
                        {"qkv_bias", qkv_bias},
                        {"qk_norm", qk_norm},
                        {"qk_norm_type", qk_norm_type},
                        {"guidance_embed", guidance_embed},
                        {"text_projection", text_projection},
                        {"use_attention_mask", use_attention_mask},
                        {"text_states_dim", text_states_dim},
                        {"text_states_dim_2", text_states_dim_2},
                        {"i2v_condition_type", i2v_condition_type},
                        {"refiner_depth", refiner_depth},
                        {"freq_dim", freq_dim},
                        {"eps", eps}};
}

HunyuanConfig HunyuanConfig::release_i2v_720p() { return HunyuanConfig{}; }  // defaults are the release's

long long HunyuanConfig::num_params() const {
  const long long d = hidden_size, m = mlp_hidden(), hd = head_dim(), f = freq_dim;
  const long long lin_dd = d * d + d;
  const long long timestep_emb = d * f + d + lin_dd;                       // Linear(f, d), Linear(d, d)
  long long n = d * in_channels * patch_volume() + d;                      // img_in (Conv3d)
  n += d * text_states_dim + d;                                            // txt_in.input_embedder
  n += timestep_emb;                                                       // txt_in.t_embedder
  n += d * text_states_dim + d + lin_dd;                                   // txt_in.c_embedder
  const long long refiner_block = 4 * d + (3 * d * d + 3 * d) + lin_dd + (d * m + m) + (m * d + d) + (2 * d * d + 2 * d);
  n += refiner_depth * refiner_block;
  n += timestep_emb;                                                       // time_in
  n += d * text_states_dim_2 + d + lin_dd;                                 // vector_in
  if (guidance_embed) n += timestep_emb;                                   // guidance_in
  const long long out = static_cast<long long>(out_channels) * patch_volume();
  n += (2 * d * d + 2 * d) + (out * d + out);                              // final_layer
  const long long qb = qkv_bias ? 1 : 0;  // attn_qkv / attn_proj biases of the double blocks
  const long long stream = (6 * d * d + 6 * d) + (3 * d * d + qb * 3 * d) + 2 * hd + (d * d + qb * d) + (d * m + m) + (m * d + d);
  n += mm_double_blocks_depth * 2 * stream;
  const long long single = (d * (3 * d + m) + 3 * d + m) + ((d + m) * d + d) + 2 * hd + (3 * d * d + 3 * d);
  n += mm_single_blocks_depth * single;
  return n;
}

int HunyuanConfig::num_tensors() const {
  // img_in 2, txt_in (input 2, t 4, c 4, 14 per refiner block), time_in 4, vector_in 4, guidance_in 4, final 4.
  const int outside = 2 + 10 + 14 * refiner_depth + 4 + 4 + (guidance_embed ? 4 : 0) + 4;
  return outside + (qkv_bias ? 24 : 20) * mm_double_blocks_depth + 8 * mm_single_blocks_depth;
}

double hunyuan_forward_flops(const HunyuanConfig& c, int64_t Li, int64_t Lt) {
  const double d = c.hidden_size, m = c.mlp_hidden(), li = double(Li), lt = double(Lt), l = li + lt;
  const double mr = d * 4.0;  // the refiner's MLP width (hard-wired upstream)
  double macs = li * d * double(c.in_channels) * c.patch_volume();        // img_in
  macs += lt * double(c.text_states_dim) * d;                             // txt_in.input_embedder
  macs += c.refiner_depth * (lt * d * (3 * d + d + 2 * mr) + 2 * lt * lt * d);
  const double stream = d * (3 * d + d + 2 * m);                          // qkv, proj, mlp per token
  macs += c.mm_double_blocks_depth * (l * stream + 2 * l * l * d + 2 * 6 * d * d);  // + 2 mod GEMVs (x2: token_replace)
  macs += c.mm_single_blocks_depth * (l * (d * (3 * d + m) + (d + m) * d) + 2 * l * l * d + 2 * 3 * d * d);
  macs += li * d * double(c.out_channels) * c.patch_volume();             // final layer
  return 2.0 * macs;
}

}  // namespace focalscope
