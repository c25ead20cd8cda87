#include "engine/formats/component_weights.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <regex>
#include <set>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/formats/checkpoint_files.h"
#include "engine/formats/safetensors_decode.h"

namespace fs = std::filesystem;

namespace focalscope::formats {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// The prefix in front of `key` (a whole dotted suffix) among `names`; nullopt when no name ends with it.
std::optional<std::string> prefix_of(const std::vector<std::string>& names, const std::string& key) {
  for (const auto& n : names)
    if (ends_with(n, key) && (n.size() == key.size() || n[n.size() - key.size() - 1] == '.')) return n.substr(0, n.size() - key.size());
  return std::nullopt;
}
bool has(const std::vector<std::string>& names, const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); }

std::string q(const std::string& s) { return "'" + s + "'"; }

// What a path holds, with its tensors decoded (fp8 -> float32) and the component's prefix stripped.
struct Read {
  ComponentProbe probe;
  std::vector<DecodedTensor> items;
};

ComponentProbe probe_files(const std::string& path, std::vector<std::string>& names, CheckpointFiles* keep, TensorSet* pth) {
  ComponentProbe p;
  const std::string kind = fs::is_directory(path) ? "folder" : sniff_file(path);
  if (kind == "zip") {
    *pth = load_pth(path);
    names = pth->names();
    p.container = "torch zip (.pth)";
    p.files = {path};
    for (const auto& n : names) p.tensors_by_dtype[c10::toString(pth->get(n).scalar_type())]++;
  } else if (kind == "gguf") {
    fail(path, "a GGUF file: GGUF is read for the DiT only (--dit); umT5 / CLIP / VAE are read from safetensors or .pth");
  } else {
    *keep = open_safetensors_files(path);
    for (const auto& t : keep->tensors) {
      names.push_back(t.name);
      p.tensors_by_dtype[t.dtype]++;
    }
    p.container = keep->container;
    p.files = keep->files;
    p.reasons = keep->notes;
  }
  p.path = path;
  ComponentProbe c = classify_component(names);
  c.path = p.path;
  c.container = p.container;
  c.files = p.files;
  c.tensors_by_dtype = p.tensors_by_dtype;
  c.reasons.insert(c.reasons.begin(), p.reasons.begin(), p.reasons.end());
  return c;
}

Read read_component(const std::string& path, const std::string& want) {
  Read r;
  std::vector<std::string> names;
  CheckpointFiles cf;
  TensorSet pth;
  r.probe = probe_files(path, names, &cf, &pth);
  if (r.probe.component != want) {
    std::string why = r.probe.reasons.empty() ? std::string() : " (" + r.probe.reasons.back() + ")";
    fail(path, "holds " + (r.probe.component == "unknown" ? std::string("no known Wan component") : "a " + r.probe.component) +
                   ", not the " + want + " expected here" + why);
  }
  const std::string& prefix = r.probe.prefix;
  if (!pth.empty()) {
    for (const auto& n : pth.names())
      if (starts_with(n, prefix)) r.items.push_back({n.substr(prefix.size()), n, pth.source(n), pth.get(n), false});
  } else {
    r.items = decode_safetensors(cf.safetensors, prefix, at::kFloat);
  }
  return r;
}

// Adds `t` under `name`, refusing a second tensor for the same name (two spellings of one weight).
void put(TensorSet& out, std::map<std::string, std::string>& from, const std::string& name, const at::Tensor& t, const DecodedTensor& d) {
  if (auto it = from.find(name); it != from.end()) fail(d.where(), "maps to '" + name + "', which " + it->second + " already holds");
  from[name] = d.where();
  out.add(name, t, d.file);
}

}  // namespace

std::string ComponentProbe::summary() const {
  std::string dt;
  for (const auto& [k, v] : tensors_by_dtype) dt += (dt.empty() ? "" : ", ") + k + " x" + std::to_string(v);
  return component + ", " + naming + " names" + (prefix.empty() ? std::string() : " under '" + prefix + "'") + ", " + container +
         " [" + dt + "]";
}

ComponentProbe classify_component(const std::vector<std::string>& names) {
  ComponentProbe p;
  p.component = "unknown";
  if (auto pre = prefix_of(names, "head.modulation")) {
    p.component = "dit", p.naming = "official", p.prefix = *pre;
    p.reasons.push_back(q(*pre + "head.modulation") + ": a Wan DiT (official names)");
    return p;
  }
  if (auto pre = prefix_of(names, "condition_embedder.time_proj.weight")) {
    p.component = "dit", p.naming = "diffusers", p.prefix = *pre;
    p.reasons.push_back(q(*pre + "condition_embedder.time_proj.weight") + ": a Wan DiT (diffusers names)");
    return p;
  }
  if (auto pre = prefix_of(names, "encoder.final_layer_norm.weight")) {
    const std::string wi0 = *pre + "encoder.block.0.layer.1.DenseReluDense.wi_0.weight";
    if (!has(names, wi0)) {
      p.reasons.push_back(q(*pre + "encoder.final_layer_norm.weight") + " without " + q(wi0) +
                          ": a T5 encoder without the gated GELU feed-forward (T5 v1.0), not umT5");
      return p;
    }
    p.component = "umt5", p.naming = "hf-t5", p.prefix = *pre;
    const bool per_layer = has(names, *pre + "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight");
    p.reasons.push_back(q(*pre + "encoder.final_layer_norm.weight") + " + " + q(wi0) +
                        ": a gated-GELU T5 encoder in Hugging Face names (ComfyUI umt5_xxl / transformers UMT5EncoderModel)");
    p.reasons.push_back(per_layer ? "relative_attention_bias in every block: umT5 (per-layer position bias, Wan's shared_pos False)"
                                  : "relative_attention_bias in block 0 only: a shared position bias (Wan's shared_pos True)");
    return p;
  }
  if (auto pre = prefix_of(names, "blocks.0.ffn.gate.0.weight"); pre && has(names, *pre + "token_embedding.weight")) {
    p.component = "umt5", p.naming = "official", p.prefix = *pre;
    p.reasons.push_back(q(*pre + "token_embedding.weight") + " + " + q(*pre + "blocks.0.ffn.gate.0.weight") + ": Wan's umT5 encoder (official names)");
    return p;
  }
  if (auto pre = prefix_of(names, "vision_model.embeddings.class_embedding")) {
    p.component = "clip-vision", p.naming = "hf-clip", p.prefix = *pre;
    p.reasons.push_back(q(*pre + "vision_model.embeddings.class_embedding") +
                        ": a CLIP vision tower in Hugging Face names (ComfyUI clip_vision_h / transformers CLIPVisionModel)");
    int n = 0;
    while (has(names, *pre + "vision_model.encoder.layers." + std::to_string(n) + ".layer_norm1.weight")) ++n;
    p.reasons.push_back(std::to_string(n) + " encoder layers" + (n == 32 ? " (ViT-H/14, as clip_vision_h)" : ""));
    return p;
  }
  if (auto pre = prefix_of(names, "transformer.0.attn.to_qkv.weight"); pre && has(names, *pre + "cls_embedding")) {
    p.component = "clip-vision", p.naming = "official", p.prefix = *pre;
    p.reasons.push_back(q(*pre + "cls_embedding") + " + " + q(*pre + "transformer.0.attn.to_qkv.weight") +
                        ": Wan's CLIP vision tower (official open-clip-xlm-roberta names)");
    return p;
  }
  if (auto pre = prefix_of(names, "transformer.resblocks.0.attn.in_proj_weight")) {
    p.reasons.push_back(q(*pre + "transformer.resblocks.0.attn.in_proj_weight") + ": an open_clip vision tower (not supported: use the HF or Wan layout)");
    return p;
  }
  if (auto pre = prefix_of(names, "decoder.middle.0.residual.0.gamma")) {
    if (has(names, *pre + "decoder.upsamples.0.upsamples.0.residual.2.weight")) {
      p.reasons.push_back(q(*pre + "decoder.upsamples.0.upsamples.0.residual.2.weight") + ": the Wan2.2 VAE (z_dim 48, TI2V-5B), not Wan2.1's");
      return p;
    }
    p.component = "vae", p.naming = "official", p.prefix = *pre;
    p.reasons.push_back(q(*pre + "decoder.middle.0.residual.0.gamma") + ": Wan2.1's VAE (official names; ComfyUI wan_2.1_vae keeps them)");
    return p;
  }
  if (auto pre = prefix_of(names, "decoder.mid_block.resnets.0.norm1.gamma"); pre && has(names, *pre + "post_quant_conv.weight")) {
    p.component = "vae", p.naming = "diffusers", p.prefix = *pre;
    p.reasons.push_back(q(*pre + "decoder.mid_block.resnets.0.norm1.gamma") + " + " + q(*pre + "post_quant_conv.weight") +
                        ": Wan2.1's VAE in diffusers' AutoencoderKLWan names");
    return p;
  }
  p.reasons.push_back("no key of a Wan DiT, umT5, CLIP vision tower or VAE in any known naming");
  return p;
}

ComponentProbe probe_component(const std::string& path) {
  std::vector<std::string> names;
  CheckpointFiles cf;
  TensorSet pth;
  return probe_files(path, names, &cf, &pth);
}

// ---- umT5 -----------------------------------------------------------------------------------------------------------

TensorSet load_umt5_weights(const std::string& path, ComponentProbe* probe) {
  Read r = read_component(path, "umt5");
  TensorSet out;
  out.origin = path;
  std::map<std::string, std::string> from;
  if (r.probe.naming == "official") {
    for (const auto& d : r.items) put(out, from, d.name, d.t, d);
  } else {
    // transformers T5 / UMT5: encoder.block.N.layer.0 = self-attention (+ its pre-norm), layer.1 = gated FFN.
    static const std::regex blk(R"(encoder\.block\.(\d+)\.layer\.([01])\.(.+))");
    const bool shared_only = std::none_of(r.items.begin(), r.items.end(), [](const DecodedTensor& d) {
      return d.name == "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight";
    });
    const DecodedTensor* embed_tokens = nullptr;
    bool have_shared = false;
    for (const auto& d : r.items) {
      const std::string& n = d.name;
      std::smatch m;
      if (n == "shared.weight") {
        put(out, from, "token_embedding.weight", d.t, d);
        have_shared = true;
      } else if (n == "encoder.embed_tokens.weight") {
        embed_tokens = &d;  // tied to shared.weight in T5; used when shared.weight is absent
      } else if (n == "encoder.final_layer_norm.weight") {
        put(out, from, "norm.weight", d.t, d);
      } else if (std::regex_match(n, m, blk)) {
        const std::string b = "blocks." + m[1].str() + ".", rest = m[3].str();
        static const std::map<std::string, std::string> l0 = {
            {"SelfAttention.q.weight", "attn.q.weight"}, {"SelfAttention.k.weight", "attn.k.weight"},
            {"SelfAttention.v.weight", "attn.v.weight"}, {"SelfAttention.o.weight", "attn.o.weight"},
            {"layer_norm.weight", "norm1.weight"}};
        static const std::map<std::string, std::string> l1 = {
            {"DenseReluDense.wi_0.weight", "ffn.gate.0.weight"},  // act(wi_0 x) * wi_1 x: wi_0 is the GELU'd gate
            {"DenseReluDense.wi_1.weight", "ffn.fc1.weight"},
            {"DenseReluDense.wo.weight", "ffn.fc2.weight"},
            {"layer_norm.weight", "norm2.weight"}};
        const auto& table = m[2].str() == "0" ? l0 : l1;
        if (auto it = table.find(rest); it != table.end()) {
          put(out, from, b + it->second, d.t, d);
        } else if (m[2].str() == "0" && rest == "SelfAttention.relative_attention_bias.weight") {
          put(out, from, shared_only ? std::string("pos_embedding.embedding.weight") : b + "pos_embedding.embedding.weight", d.t, d);
        } else {
          fail(d.where(), "T5 encoder tensor with no umT5 counterpart in Wan's T5Encoder");
        }
      } else if (starts_with(n, "decoder.") || n == "lm_head.weight") {
        continue;  // the decoder of a full encoder-decoder file: Wan uses the encoder only
      } else {
        fail(d.where(), "not a T5 encoder tensor (expected shared / encoder.block.N.layer.{0,1}.* / encoder.final_layer_norm)");
      }
    }
    if (!have_shared) {
      if (!embed_tokens) fail(path, "T5 encoder without 'shared.weight' or 'encoder.embed_tokens.weight' (the token embedding)");
      put(out, from, "token_embedding.weight", embed_tokens->t, *embed_tokens);
    }
  }
  if (probe) *probe = r.probe;
  return out;
}

// ---- CLIP vision --------------------------------------------------------------------------------------------------

TensorSet load_clip_vision_weights(const std::string& path, ComponentProbe* probe) {
  Read r = read_component(path, "clip-vision");
  TensorSet out;
  out.origin = path;
  std::map<std::string, std::string> from;
  if (r.probe.naming == "official") {
    for (const auto& d : r.items) {
      if (starts_with(d.name, "textual.") || d.name == "log_scale") continue;  // the text tower of the whole CLIP
      put(out, from, d.name, d.t, d);
    }
  } else {
    static const std::regex layer(R"(vision_model\.encoder\.layers\.(\d+)\.(.+))");
    std::map<std::string, const DecodedTensor*> qkv;  // "N.q.weight" -> tensor, joined below
    bool have_head = false;
    int64_t dim = 0;
    for (const auto& d : r.items) {
      const std::string& n = d.name;
      std::smatch m;
      if (n == "vision_model.embeddings.class_embedding") {
        if (d.t.dim() != 1) fail(d.where(), "class_embedding has shape " + shape_str(d.t.sizes()) + ", expected [dim]");
        dim = d.t.size(0);
        put(out, from, "cls_embedding", d.t.reshape({1, 1, d.t.size(0)}), d);
      } else if (n == "vision_model.embeddings.patch_embedding.weight") {
        put(out, from, "patch_embedding.weight", d.t, d);
      } else if (n == "vision_model.embeddings.position_embedding.weight") {
        if (d.t.dim() != 2) fail(d.where(), "position_embedding has shape " + shape_str(d.t.sizes()) + ", expected [positions, dim]");
        put(out, from, "pos_embedding", d.t.unsqueeze(0), d);
      } else if (n == "vision_model.embeddings.position_ids") {
        continue;  // a buffer (arange) older transformers versions saved
      } else if (starts_with(n, "vision_model.pre_layrnorm.")) {
        put(out, from, "pre_norm." + n.substr(26), d.t, d);
      } else if (starts_with(n, "vision_model.post_layernorm.")) {
        put(out, from, "post_norm." + n.substr(28), d.t, d);
      } else if (n == "visual_projection.weight") {
        if (d.t.dim() != 2) fail(d.where(), "visual_projection has shape " + shape_str(d.t.sizes()) + ", expected [embed, dim]");
        put(out, from, "head", d.t.t().contiguous(), d);  // nn.Linear [E, D] -> Wan's x @ head with head [D, E]
        have_head = true;
      } else if (std::regex_match(n, m, layer)) {
        const std::string b = "transformer." + m[1].str() + ".", rest = m[2].str();
        static const std::map<std::string, std::string> table = {
            {"layer_norm1.weight", "norm1.weight"}, {"layer_norm1.bias", "norm1.bias"},
            {"layer_norm2.weight", "norm2.weight"}, {"layer_norm2.bias", "norm2.bias"},
            {"self_attn.out_proj.weight", "attn.proj.weight"}, {"self_attn.out_proj.bias", "attn.proj.bias"},
            {"mlp.fc1.weight", "mlp.0.weight"}, {"mlp.fc1.bias", "mlp.0.bias"},
            {"mlp.fc2.weight", "mlp.2.weight"}, {"mlp.fc2.bias", "mlp.2.bias"}};
        if (auto it = table.find(rest); it != table.end()) {
          put(out, from, b + it->second, d.t, d);
        } else if (rest.size() > 17 && starts_with(rest, "self_attn.") && rest[11] == '_' &&
                   (rest[10] == 'q' || rest[10] == 'k' || rest[10] == 'v') && starts_with(rest.substr(11), "_proj.")) {
          qkv[m[1].str() + "." + rest.substr(10, 1) + rest.substr(16)] = &d;  // "N.q.weight"
        } else {
          fail(d.where(), "CLIP encoder-layer tensor with no counterpart in Wan's VisionTransformer");
        }
      } else if (starts_with(n, "text_model.") || n == "text_projection.weight" || n == "logit_scale") {
        continue;  // the text tower of a whole CLIPModel file
      } else {
        fail(d.where(), "not a CLIP vision tensor (expected vision_model.* / visual_projection.weight)");
      }
    }
    // to_qkv = cat(q, k, v) along the output features: Wan views its output as [B, L, 3, heads, head_dim].
    std::set<std::string> layers;
    for (const auto& [k, v] : qkv) layers.insert(k.substr(0, k.find('.')));
    for (const auto& l : layers)
      for (const char* kind : {".weight", ".bias"}) {
        std::vector<at::Tensor> parts;
        const DecodedTensor* first = nullptr;
        for (const char* c : {"q", "k", "v"}) {
          auto it = qkv.find(l + "." + c + kind);
          if (it == qkv.end()) {
            const DecodedTensor* any = qkv.count(l + ".q" + kind) ? qkv[l + ".q" + kind] : qkv.begin()->second;
            fail(any->where(), std::string("layer ") + l + " has no self_attn." + c + "_proj" + kind + ": q, k and v are joined into to_qkv");
          }
          if (!first) first = it->second;
          if (it->second->t.sizes() != first->t.sizes())
            fail(it->second->where(), "has shape " + shape_str(it->second->t.sizes()) + ", but " + first->stored_name + " has " + shape_str(first->t.sizes()));
          parts.push_back(it->second->t.scalar_type() == first->t.scalar_type() ? it->second->t : it->second->t.to(first->t.scalar_type()));
        }
        put(out, from, "transformer." + l + ".attn.to_qkv" + kind, at::cat(parts, 0), *first);
      }
    if (!have_head) {
      // transformers' CLIPVisionModel has no projection. Wan never applies the head (clip_fea is the penultimate block's
      // tokens); only FocalScope's CLIP keyword scoring would, and that needs a text tower these files do not have.
      if (dim == 0) fail(path, "CLIP vision file without vision_model.embeddings.class_embedding");
      out.add("head", at::zeros({dim, dim}, at::kFloat), path);
      r.probe.reasons.push_back("no visual_projection.weight (a CLIPVisionModel without projection): head set to zeros [" +
                                std::to_string(dim) + "," + std::to_string(dim) + "]; Wan's I2V path never applies it");
    }
  }
  if (probe) *probe = r.probe;
  return out;
}

// ---- VAE ----------------------------------------------------------------------------------------------------------

TensorSet load_vae_weights(const std::string& path, ComponentProbe* probe) {
  Read r = read_component(path, "vae");
  TensorSet out;
  out.origin = path;
  std::map<std::string, std::string> from;
  if (r.probe.naming == "official") {
    for (const auto& d : r.items) put(out, from, d.name, d.t, d);
    if (probe) *probe = r.probe;
    return out;
  }
  // diffusers AutoencoderKLWan -> Wan's WanVAE_ (the inverse of convert_wan_to_diffusers.py convert_vae).
  // Decoder: up_blocks.I = resnets 0..R_I-1 (+ upsamplers.0), laid out flat in Wan as upsamples[base_I + J], then the
  // upsampler at base_I + R_I; base_{I+1} = base_I + R_I + (1 if block I has an upsampler).
  static const std::regex up_res(R"(decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+))");
  static const std::regex up_smp(R"(decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+))");
  static const std::regex mid_res(R"((encoder|decoder)\.mid_block\.resnets\.([01])\.(.+))");
  static const std::regex mid_att(R"((encoder|decoder)\.mid_block\.attentions\.0\.(.+))");
  static const std::regex down(R"(encoder\.down_blocks\.(\d+)\.(.+))");
  std::map<int, int> resnets;  // up block -> resnet count
  std::set<int> upsampler;
  for (const auto& d : r.items) {
    std::smatch m;
    if (std::regex_match(d.name, m, up_res)) resnets[std::stoi(m[1])] = std::max(resnets[std::stoi(m[1])], std::stoi(m[2]) + 1);
    if (std::regex_match(d.name, m, up_smp)) upsampler.insert(std::stoi(m[1]));
  }
  std::map<int, int> base;
  int next = 0;
  for (int i = 0; !resnets.empty() && i <= resnets.rbegin()->first; ++i) {
    base[i] = next;
    next += resnets[i] + (upsampler.count(i) ? 1 : 0);
  }
  // Residual block parts: diffusers norm1/conv1/norm2/conv2/conv_shortcut = Wan residual.0 / .2 / .3 / .6, shortcut.
  auto resblock = [](const std::string& rest) -> std::optional<std::string> {
    static const std::vector<std::pair<std::string, std::string>> t = {
        {"norm1.gamma", "residual.0.gamma"}, {"conv1.weight", "residual.2.weight"}, {"conv1.bias", "residual.2.bias"},
        {"norm2.gamma", "residual.3.gamma"}, {"conv2.weight", "residual.6.weight"}, {"conv2.bias", "residual.6.bias"},
        {"conv_shortcut.weight", "shortcut.weight"}, {"conv_shortcut.bias", "shortcut.bias"}};
    for (const auto& [a, b] : t)
      if (rest == a) return b;
    return std::nullopt;
  };
  auto resample = [](const std::string& rest) {
    return starts_with(rest, "resample.1.") || starts_with(rest, "time_conv.");  // same names on both sides
  };
  for (const auto& d : r.items) {
    const std::string& n = d.name;
    std::smatch m;
    std::optional<std::string> to;
    static const std::map<std::string, std::string> flat = {
        {"encoder.conv_in.weight", "encoder.conv1.weight"}, {"encoder.conv_in.bias", "encoder.conv1.bias"},
        {"decoder.conv_in.weight", "decoder.conv1.weight"}, {"decoder.conv_in.bias", "decoder.conv1.bias"},
        {"quant_conv.weight", "conv1.weight"}, {"quant_conv.bias", "conv1.bias"},
        {"post_quant_conv.weight", "conv2.weight"}, {"post_quant_conv.bias", "conv2.bias"},
        {"encoder.norm_out.gamma", "encoder.head.0.gamma"}, {"encoder.conv_out.weight", "encoder.head.2.weight"},
        {"encoder.conv_out.bias", "encoder.head.2.bias"}, {"decoder.norm_out.gamma", "decoder.head.0.gamma"},
        {"decoder.conv_out.weight", "decoder.head.2.weight"}, {"decoder.conv_out.bias", "decoder.head.2.bias"}};
    if (auto it = flat.find(n); it != flat.end()) {
      to = it->second;
    } else if (std::regex_match(n, m, mid_res)) {
      if (auto p = resblock(m[3].str())) to = m[1].str() + ".middle." + (m[2].str() == "0" ? "0." : "2.") + *p;
    } else if (std::regex_match(n, m, mid_att)) {
      const std::string rest = m[2].str();
      if (rest == "norm.gamma" || starts_with(rest, "to_qkv.") || starts_with(rest, "proj.")) to = m[1].str() + ".middle.1." + rest;
    } else if (std::regex_match(n, m, down)) {
      const std::string rest = m[2].str();
      if (auto p = resblock(rest)) to = "encoder.downsamples." + m[1].str() + "." + *p;
      else if (resample(rest)) to = "encoder.downsamples." + m[1].str() + "." + rest;
    } else if (std::regex_match(n, m, up_res)) {
      if (auto p = resblock(m[3].str())) to = "decoder.upsamples." + std::to_string(base[std::stoi(m[1])] + std::stoi(m[2])) + "." + *p;
    } else if (std::regex_match(n, m, up_smp)) {
      const int i = std::stoi(m[1]);
      if (resample(m[2].str())) to = "decoder.upsamples." + std::to_string(base[i] + resnets[i]) + "." + m[2].str();
    }
    if (!to) fail(d.where(), "AutoencoderKLWan tensor with no counterpart in Wan2.1's VAE");
    put(out, from, *to, d.t, d);
  }
  if (probe) *probe = r.probe;
  return out;
}

}  // namespace focalscope::formats
