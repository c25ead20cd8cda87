// HunyuanModel: loading (strict, by upstream state-dict name) and the parameter list. The forward is in
// hunyuan_forward.cpp.
#include "engine/hunyuan/hunyuan_model.h"

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/hunyuan/hunyuan_layers.h"

namespace focalscope {

namespace {
// The two-Linear MLPs of the model, each under its own upstream sub-names.
void load_mlp(WeightLoader& L, HunyuanMlp& m, const std::string& n1, const std::string& n2, int64_t in, int64_t hidden,
              int64_t out) {
  m.l1.load(L, n1, in, hidden);
  m.l2.load(L, n2, hidden, out);
}
void collect_mlp(const HunyuanMlp& m, const std::string& n1, const std::string& n2, NamedTensors& out) {
  m.l1.collect(n1, out);
  m.l2.collect(n2, out);
}
}  // namespace

HunyuanModel HunyuanModel::load(const TensorSet& weights, HunyuanConfig cfg, c10::ScalarType dtype, c10::Device device) {
  // The text encoders' widths are not model hyper-parameters upstream (they come from argparse), and the release
  // ships no DiT config: read them off the checkpoint.
  if (weights.has("txt_in.input_embedder.weight") && weights.get("txt_in.input_embedder.weight").dim() == 2)
    cfg.text_states_dim = static_cast<int>(weights.get("txt_in.input_embedder.weight").size(1));
  if (weights.has("vector_in.in_layer.weight") && weights.get("vector_in.in_layer.weight").dim() == 2)
    cfg.text_states_dim_2 = static_cast<int>(weights.get("vector_in.in_layer.weight").size(1));
  cfg.validate();
  if (cfg.guidance_embed != weights.has("guidance_in.mlp.0.weight"))
    fail(weights.origin, std::string("config says guidance_embed ") + (cfg.guidance_embed ? "true" : "false") +
                             " but the checkpoint " + (cfg.guidance_embed ? "has no" : "has a") +
                             " guidance embedding (guidance_in.mlp.0.weight)");
  WeightLoader L(weights, "HunyuanVideo DiT", dtype, device);
  // Precision-sensitive tensors are read in float32 whatever the model dtype (see load()'s comment); the main
  // loader marks them claimed so its completeness check still covers every name.
  WeightLoader L32(weights, "HunyuanVideo DiT", at::kFloat, device);
  auto norm32 = [&](Norm& n, const std::string& name, int64_t size, bool bias) {
    n.load(L32, name, size, bias);
    L.ignore(name + ".weight");
    if (bias) L.ignore(name + ".bias");
  };

  HunyuanModel m;
  m.cfg = cfg;
  const int64_t D = cfg.hidden_size, M = cfg.mlp_hidden(), hd = cfg.head_dim(), F = cfg.freq_dim;
  // SingleTokenRefiner is built with its default mlp_width_ratio 4.0 whatever the DiT's (models.py:591-594).
  const int64_t Mr = static_cast<int64_t>(D * 4.0);
  const auto& p = cfg.patch_size;
  m.img_in_w = L.take("img_in.proj.weight", {D, cfg.in_channels, p[0], p[1], p[2]});
  m.img_in_b = L.take("img_in.proj.bias", {D});

  m.txt_input_embedder.load(L, "txt_in.input_embedder", cfg.text_states_dim, D);
  load_mlp(L, m.txt_t_embedder, "txt_in.t_embedder.mlp.0", "txt_in.t_embedder.mlp.2", F, D, D);
  load_mlp(L, m.txt_c_embedder, "txt_in.c_embedder.linear_1", "txt_in.c_embedder.linear_2", cfg.text_states_dim, D, D);
  m.refiner.resize(cfg.refiner_depth);
  for (int i = 0; i < cfg.refiner_depth; ++i) {
    auto& b = m.refiner[i];
    const std::string pre = "txt_in.individual_token_refiner.blocks." + std::to_string(i) + ".";
    norm32(b.norm1, pre + "norm1", D, true);
    b.self_attn_qkv.load(L, pre + "self_attn_qkv", D, 3 * D);
    b.self_attn_proj.load(L, pre + "self_attn_proj", D, D);
    norm32(b.norm2, pre + "norm2", D, true);
    load_mlp(L, b.mlp, pre + "mlp.fc1", pre + "mlp.fc2", D, Mr, D);
    b.adaLN.load(L, pre + "adaLN_modulation.1", D, 2 * D);
  }

  load_mlp(L, m.time_in, "time_in.mlp.0", "time_in.mlp.2", F, D, D);
  load_mlp(L, m.vector_in, "vector_in.in_layer", "vector_in.out_layer", cfg.text_states_dim_2, D, D);
  if (cfg.guidance_embed) load_mlp(L, m.guidance_in, "guidance_in.mlp.0", "guidance_in.mlp.2", F, D, D);

  m.double_blocks.resize(cfg.mm_double_blocks_depth);
  for (int i = 0; i < cfg.mm_double_blocks_depth; ++i) {
    const std::string pre = "double_blocks." + std::to_string(i) + ".";
    for (auto [s, name] : {std::pair<HunyuanStream*, const char*>{&m.double_blocks[i].img, "img"}, {&m.double_blocks[i].txt, "txt"}}) {
      const std::string sp = pre + name;
      s->mod.load(L, sp + "_mod.linear", D, 6 * D);
      s->attn_qkv.load(L, sp + "_attn_qkv", D, 3 * D, cfg.qkv_bias);
      norm32(s->attn_q_norm, sp + "_attn_q_norm", hd, false);
      norm32(s->attn_k_norm, sp + "_attn_k_norm", hd, false);
      s->attn_proj.load(L, sp + "_attn_proj", D, D, cfg.qkv_bias);
      load_mlp(L, s->mlp, sp + "_mlp.fc1", sp + "_mlp.fc2", D, M, D);
    }
  }
  m.single_blocks.resize(cfg.mm_single_blocks_depth);
  for (int i = 0; i < cfg.mm_single_blocks_depth; ++i) {
    auto& b = m.single_blocks[i];
    const std::string pre = "single_blocks." + std::to_string(i) + ".";
    b.linear1.load(L, pre + "linear1", D, 3 * D + M);
    b.linear2.load(L, pre + "linear2", D + M, D);
    norm32(b.q_norm, pre + "q_norm", hd, false);
    norm32(b.k_norm, pre + "k_norm", hd, false);
    b.modulation.load(L, pre + "modulation.linear", D, 3 * D);
  }

  m.final_mod.load(L, "final_layer.adaLN_modulation.1", D, 2 * D);
  // Upstream's FinalLayer creates this Linear without the model dtype (mlp_layers.py:96-101): float32 always.
  m.final_linear.load(L32, "final_layer.linear", D, int64_t(cfg.out_channels) * cfg.patch_volume());
  L.ignore("final_layer.linear.weight");
  L.ignore("final_layer.linear.bias");
  L.finish();
  return m;
}

NamedTensors HunyuanModel::named_parameters() const {
  NamedTensors out;
  out.emplace_back("img_in.proj.weight", img_in_w);
  out.emplace_back("img_in.proj.bias", img_in_b);
  txt_input_embedder.collect("txt_in.input_embedder", out);
  collect_mlp(txt_t_embedder, "txt_in.t_embedder.mlp.0", "txt_in.t_embedder.mlp.2", out);
  collect_mlp(txt_c_embedder, "txt_in.c_embedder.linear_1", "txt_in.c_embedder.linear_2", out);
  for (size_t i = 0; i < refiner.size(); ++i) {
    const auto& b = refiner[i];
    const std::string pre = "txt_in.individual_token_refiner.blocks." + std::to_string(i) + ".";
    b.norm1.collect(pre + "norm1", out);
    b.self_attn_qkv.collect(pre + "self_attn_qkv", out);
    b.self_attn_proj.collect(pre + "self_attn_proj", out);
    b.norm2.collect(pre + "norm2", out);
    collect_mlp(b.mlp, pre + "mlp.fc1", pre + "mlp.fc2", out);
    b.adaLN.collect(pre + "adaLN_modulation.1", out);
  }
  collect_mlp(time_in, "time_in.mlp.0", "time_in.mlp.2", out);
  collect_mlp(vector_in, "vector_in.in_layer", "vector_in.out_layer", out);
  if (cfg.guidance_embed) collect_mlp(guidance_in, "guidance_in.mlp.0", "guidance_in.mlp.2", out);
  for (size_t i = 0; i < double_blocks.size(); ++i) {
    const std::string pre = "double_blocks." + std::to_string(i) + ".";
    for (auto [s, name] : {std::pair<const HunyuanStream*, const char*>{&double_blocks[i].img, "img"}, {&double_blocks[i].txt, "txt"}}) {
      const std::string sp = pre + name;
      s->mod.collect(sp + "_mod.linear", out);
      s->attn_qkv.collect(sp + "_attn_qkv", out);
      s->attn_q_norm.collect(sp + "_attn_q_norm", out);
      s->attn_k_norm.collect(sp + "_attn_k_norm", out);
      s->attn_proj.collect(sp + "_attn_proj", out);
      collect_mlp(s->mlp, sp + "_mlp.fc1", sp + "_mlp.fc2", out);
    }
  }
  for (size_t i = 0; i < single_blocks.size(); ++i) {
    const auto& b = single_blocks[i];
    const std::string pre = "single_blocks." + std::to_string(i) + ".";
    b.linear1.collect(pre + "linear1", out);
    b.linear2.collect(pre + "linear2", out);
    b.q_norm.collect(pre + "q_norm", out);
    b.k_norm.collect(pre + "k_norm", out);
    b.modulation.collect(pre + "modulation.linear", out);
  }
  final_mod.collect("final_layer.adaLN_modulation.1", out);
  final_linear.collect("final_layer.linear", out);
  return out;
}

std::pair<at::Tensor, at::Tensor> HunyuanModel::rope_for_latent(int64_t T, int64_t H, int64_t W) const {
  const auto& p = cfg.patch_size;
  return hunyuan::rope_tables(cfg.rope_dim_list, {T / p[0], H / p[1], W / p[2]}, cfg.rope_theta,
                              cfg.rope_theta_rescale_factor);
}

}  // namespace focalscope
