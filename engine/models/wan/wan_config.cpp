#include "engine/models/wan/wan_config.h"

#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace focalscope {

std::array<int, 3> WanConfig::rope_split() const {
  const int c = head_dim() / 2;
  return {c - 2 * (c / 3), c / 3, c / 3};
}

void WanConfig::validate() const {
  auto bad = [](const std::string& what) { fail("DiT config", what); };
  if (model_type != "i2v" && model_type != "t2v") bad("model_type must be 'i2v' or 't2v', got '" + model_type + "'");
  if (dim <= 0 || num_heads <= 0 || dim % num_heads != 0) bad("dim must be a positive multiple of num_heads");
  if (head_dim() % 2 != 0) bad("head_dim must be even (RoPE pairs)");
  if (num_layers <= 0 || num_layers > 1000) bad("num_layers out of range");
  if (ffn_dim <= 0 || freq_dim <= 0 || freq_dim % 2 != 0 || text_dim <= 0 || out_dim <= 0 || in_dim <= 0)
    bad("ffn_dim, freq_dim (even), text_dim, out_dim, in_dim must be positive");
  if (text_len <= 0 || text_len > 4096) bad("text_len out of range");
  for (int p : patch_size)
    if (p <= 0) bad("patch_size entries must be positive");
  if (window_size[0] != -1 || window_size[1] != -1) bad("only global attention (window_size [-1,-1]) is supported");
  if (!qk_norm || !cross_attn_norm) bad("qk_norm and cross_attn_norm must be true (as in every Wan2.1 release)");
  if (has_image_branch() && clip_dim <= 0) bad("clip_dim must be positive");
}

WanConfig WanConfig::from_json(const nlohmann::json& j) {
  WanConfig c;
  try {
    if (j.contains("model_type")) c.model_type = j["model_type"].get<std::string>();
    if (j.contains("patch_size")) {
      auto p = j["patch_size"].get<std::vector<int>>();
      if (p.size() != 3) fail("DiT config", "patch_size must have 3 entries");
      c.patch_size = {p[0], p[1], p[2]};
    }
    if (j.contains("window_size")) {
      auto w = j["window_size"].get<std::vector<int>>();
      if (w.size() != 2) fail("DiT config", "window_size must have 2 entries");
      c.window_size = {w[0], w[1]};
    }
    auto geti = [&](const char* k, int& v) { if (j.contains(k)) v = j[k].get<int>(); };
    geti("text_len", c.text_len);
    geti("in_dim", c.in_dim);
    geti("dim", c.dim);
    geti("ffn_dim", c.ffn_dim);
    geti("freq_dim", c.freq_dim);
    geti("text_dim", c.text_dim);
    geti("out_dim", c.out_dim);
    geti("num_heads", c.num_heads);
    geti("num_layers", c.num_layers);
    geti("clip_dim", c.clip_dim);
    if (j.contains("qk_norm")) c.qk_norm = j["qk_norm"].get<bool>();
    if (j.contains("cross_attn_norm")) c.cross_attn_norm = j["cross_attn_norm"].get<bool>();
    if (j.contains("eps")) c.eps = j["eps"].get<double>();
    if (j.contains("image_branch")) c.image_branch = j["image_branch"].get<bool>();
  } catch (const nlohmann::json::exception& e) {
    fail("DiT config", std::string("bad value type: ") + e.what());
  }
  c.validate();
  return c;
}

nlohmann::json WanConfig::to_json() const {
  nlohmann::json j{{"_class_name", "WanModel"}, {"model_type", model_type}, {"patch_size", patch_size},
                        {"text_len", text_len},     {"in_dim", in_dim},         {"dim", dim},
                        {"ffn_dim", ffn_dim},       {"freq_dim", freq_dim},     {"text_dim", text_dim},
                        {"out_dim", out_dim},       {"num_heads", num_heads},   {"num_layers", num_layers},
                        {"window_size", window_size}, {"qk_norm", qk_norm},     {"cross_attn_norm", cross_attn_norm},
                        {"eps", eps},               {"clip_dim", clip_dim}};
  if (!image_branch) j["image_branch"] = false;  // only when off: Wan2.1 configs are written as before
  return j;
}

WanConfig WanConfig::wan_i2v_14b() {
  WanConfig c;  // defaults above are the 14B I2V values
  return c;
}

long long WanConfig::num_params() const {
  const long long d = dim, f = ffn_dim;
  const long long pt = patch_size[0], ph = patch_size[1], pw = patch_size[2];
  long long n = d * in_dim * pt * ph * pw + d;                  // patch embedding
  n += d * text_dim + d + d * d + d;                             // text embedding
  n += d * freq_dim + d + d * d + d;                             // time embedding
  n += 6 * d * d + 6 * d;                                        // time projection
  n += 2 * d + out_dim * pt * ph * pw * d + out_dim * pt * ph * pw;  // head
  long long block = 6 * d;                                       // modulation
  block += 4 * (d * d + d) + 2 * d;                              // self-attn + q/k norms
  block += 2 * d;                                                // norm3
  block += 4 * (d * d + d) + 2 * d;                              // cross-attn q,k,v,o + norms
  if (has_image_branch()) {
    block += 2 * (d * d + d) + d;                                // k_img, v_img, norm_k_img
    n += 2 * clip_dim + clip_dim * clip_dim + clip_dim + d * clip_dim + d + 2 * d;  // img_emb
  }
  block += d * f + f + f * d + d;                                // FFN
  return n + block * num_layers;
}

}  // namespace focalscope

namespace focalscope {
double dit_forward_flops(const WanConfig& c, int64_t L, int64_t n_text, int64_t n_img, bool cached_context) {
  const double d = c.dim, f = c.ffn_dim, l = double(L);
  double per_layer = 0;
  per_layer += 4 * l * d * d;                  // self-attn q, k, v, o
  per_layer += 2 * l * l * d;                  // scores + weighted sum
  per_layer += 2 * l * d * d;                  // cross-attn q, o
  per_layer += 2 * l * double(n_text + (c.has_image_branch() ? n_img : 0)) * d;  // cross scores + sums
  // k and v of each context row (text: k, v; image: k_img, v_img)
  if (!cached_context) per_layer += 2 * double(n_text + (c.has_image_branch() ? n_img : 0)) * d * d;
  per_layer += 2 * l * d * f;                  // FFN
  const auto& p = c.patch_size;
  double outside = l * d * double(c.in_dim) * p[0] * p[1] * p[2] + l * d * double(c.out_dim) * p[0] * p[1] * p[2];
  return 2.0 * (per_layer * c.num_layers + outside);
}
}  // namespace focalscope
