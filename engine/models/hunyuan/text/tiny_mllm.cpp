#include "engine/models/hunyuan/text/tiny_mllm.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "engine/clip/clip_text.h"
#include "engine/clip/clip_vision.h"
#include "engine/core/error.h"

namespace focalscope {

TinyMllmConfig TinyMllmConfig::embedded() {
  TinyMllmConfig c;
  LlamaConfig& l = c.llama;
  l.vocab_size = 256;  // set from the tokenizer
  l.hidden_size = 64;
  l.intermediate_size = 128;
  l.num_hidden_layers = 2;
  l.num_attention_heads = 4;
  l.num_key_value_heads = 2;  // grouped-query attention, as Llama-3
  l.head_dim = 16;
  l.rms_norm_eps = 1e-5;
  l.rope_theta = 10000.0;
  return c;
}

nlohmann::json TinyMllmConfig::to_json() const {
  return {{"llama", llama.to_json()}, {"text_len", text_len}, {"clip_blocks", clip_blocks},
          {"image_stride", image_stride}, {"vision_dim", vision_dim}};
}

TinyMllmConfig TinyMllmConfig::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("llama")) fail(where, "MLLM config must be an object with a \"llama\" entry");
  TinyMllmConfig c;
  c.llama = LlamaConfig::from_json(j.at("llama"), where);
  auto num = [&](const char* key, int64_t def) -> int64_t {
    if (!j.contains(key)) return def;
    if (!j.at(key).is_number_integer()) fail(where, std::string("MLLM config \"") + key + "\" must be an integer");
    return j.at(key).get<int64_t>();
  };
  c.text_len = num("text_len", c.text_len);
  c.clip_blocks = static_cast<int>(num("clip_blocks", c.clip_blocks));
  c.image_stride = static_cast<int>(num("image_stride", c.image_stride));
  c.vision_dim = num("vision_dim", c.vision_dim);
  c.validate(where);
  return c;
}

void TinyMllmConfig::validate(const std::string& where) const {
  llama.validate(where);
  if (text_len < 1 || text_len > 4096) fail(where, "MLLM text_len must be in [1, 4096]");
  if (image_stride < 1) fail(where, "MLLM image_stride must be positive");
  if (clip_blocks < -1 || clip_blocks == 0) fail(where, "MLLM clip_blocks must be -1 or positive");
  if (vision_dim < 1 || vision_dim > 65536) fail(where, "MLLM vision_dim must be in [1, 65536]");
}

TinyMllm TinyMllm::random_init(const TinyMllmConfig& cfg, uint64_t seed, c10::Device device) {
  cfg.validate("MLLM config");
  TinyMllm m;
  m.cfg = cfg;
  m.llm = LlamaDecoder::random_init(cfg.llama, seed);
  // The prompt embeddings start at unit scale (random_init); the image rows should start there too, so the decoder's
  // first RMSNorm sees both kinds of row alike.
  at::Generator gen = at::detail::createCPUGenerator(seed ^ 0x9e3779b97f4a7c15ULL);
  const auto f = at::TensorOptions().dtype(at::kFloat);
  const int64_t V = cfg.vision_dim, D = cfg.llama.hidden_size;
  m.proj1_w = at::randn({D, V}, gen, f) / std::sqrt(double(V));
  m.proj1_b = at::zeros({D}, f);
  m.proj2_w = at::randn({D, D}, gen, f) / std::sqrt(double(D));
  m.proj2_b = at::zeros({D}, f);
  if (device != c10::Device(c10::kCPU))
    for (auto& [name, t] : m.named_parameters()) t.set_data(t.to(device));
  return m;
}

TinyMllm TinyMllm::load(WeightLoader& L, const TinyMllmConfig& cfg, const std::string& prefix) {
  cfg.validate("MLLM config");
  TinyMllm m;
  m.cfg = cfg;
  m.llm = LlamaDecoder::load(L, cfg.llama, prefix + "language_model.", -1, /*keep_final_norm=*/false);
  const int64_t V = cfg.vision_dim, D = cfg.llama.hidden_size;
  m.proj1_w = L.take(prefix + "multi_modal_projector.linear_1.weight", {D, V});
  m.proj1_b = L.take(prefix + "multi_modal_projector.linear_1.bias", {D});
  m.proj2_w = L.take(prefix + "multi_modal_projector.linear_2.weight", {D, D});
  m.proj2_b = L.take(prefix + "multi_modal_projector.linear_2.bias", {D});
  return m;
}

NamedTensors TinyMllm::named_parameters(const std::string& prefix) const {
  NamedTensors out;
  for (auto& [n, t] : llm.named_parameters(prefix + "language_model.")) out.emplace_back(n, t);
  out.emplace_back(prefix + "multi_modal_projector.linear_1.weight", proj1_w);
  out.emplace_back(prefix + "multi_modal_projector.linear_1.bias", proj1_b);
  out.emplace_back(prefix + "multi_modal_projector.linear_2.weight", proj2_w);
  out.emplace_back(prefix + "multi_modal_projector.linear_2.bias", proj2_b);
  return out;
}

at::Tensor TinyMllm::image_rows(const ClipVision& clip, const at::Tensor& pixels) const {
  const int blocks = cfg.clip_blocks > 0 ? cfg.clip_blocks : static_cast<int>(clip.blocks.size()) - 1;
  at::Tensor patches;
  {
    at::NoGradGuard frozen;
    patches = clip.forward(pixels, blocks);
    patches = patches.narrow(1, 1, patches.size(1) - 1);  // class token dropped, as LLaVA's "default" select
    if (cfg.image_stride > 1) patches = patches.slice(1, 0, patches.size(1), cfg.image_stride);
  }
  if (patches.size(-1) != cfg.vision_dim)
    fail("MLLM", "CLIP vision width " + std::to_string(patches.size(-1)) + " differs from the projector's " +
                     std::to_string(cfg.vision_dim));
  const at::Tensor p = patches.to(proj1_w.device(), at::kFloat);
  return at::linear(at::gelu(at::linear(p, proj1_w, proj1_b)), proj2_w, proj2_b);
}

TinyMllmText TinyMllm::encode(const ClipVision& clip, const ClipText& clip_text, const at::Tensor& pixels,
                              const at::Tensor& ids, const at::Tensor& mask) const {
  if (!ids.defined() || ids.dim() != 2 || mask.sizes() != ids.sizes())
    fail("MLLM", "ids and mask must both be [B, L]");
  if (pixels.size(0) != ids.size(0)) fail("MLLM", "one reference image per prompt is needed");
  const auto dev = proj1_w.device();
  const at::Tensor img = image_rows(clip, pixels);  // [B, R, D]
  const at::Tensor txt = llm.embed(ids.to(dev, at::kLong));
  TinyMllmText out;
  out.image_rows = img.size(1);
  const at::Tensor m = at::cat({at::ones({ids.size(0), img.size(1)}, at::TensorOptions().dtype(at::kLong).device(dev)),
                                mask.to(dev, at::kLong)}, 1);
  // Padding rows carry the embedding of the padding id; the key padding mask keeps every valid row from seeing them,
  // and the DiT's text mask drops them.
  out.states = llm.forward(at::cat({img, txt}, 1), m, at::Tensor(), cfg.llama.num_hidden_layers);
  out.mask = m;
  {
    at::NoGradGuard frozen;
    out.pooled = ClipText::select_eos(clip_text.forward(ids, mask), mask).to(dev, at::kFloat);
  }
  return out;
}

}  // namespace focalscope
