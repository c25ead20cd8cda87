#include "engine/formats/dit_probe.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/formats/checkpoint_files.h"
#include "engine/formats/wan_names.h"

namespace fs = std::filesystem;

namespace focalscope::formats {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Names of the quantisation side tensors (scales, markers): counted apart from the weights.
bool is_quant_side(const std::string& n) {
  return n == "scaled_fp8" || ends_with(n, ".scale_weight") || ends_with(n, ".scale_input") ||
         ends_with(n, ".weight_scale") || ends_with(n, ".input_scale") || ends_with(n, ".comfy_quant");
}

}  // namespace

DitProbe classify_dit(const std::vector<TensorMeta>& tensors, const std::map<std::string, std::string>& metadata) {
  DitProbe p;
  p.arch = "unknown";
  std::vector<std::string> names;
  names.reserve(tensors.size());
  for (const auto& t : tensors) names.push_back(t.name);

  // 1. Naming: official Wan keys (ComfyUI's model_detection: "head.modulation" -> Wan), else diffusers keys.
  bool diffusers = false;
  if (auto pre = wan_key_prefix(names)) {
    p.prefix = *pre;
    p.reasons.push_back("'" + p.prefix + "head.modulation' present: Wan DiT with the official state-dict names" +
                        (p.prefix.empty() ? std::string() : " under the prefix '" + p.prefix + "' (stripped)"));
  } else {
    const std::string key = "condition_embedder.time_proj.weight";
    for (const auto& n : names)
      if (ends_with(n, key) && (n.size() == key.size() || n[n.size() - key.size() - 1] == '.')) {
        p.prefix = n.substr(0, n.size() - key.size());
        diffusers = true;
      }
    if (!diffusers) {
      p.reasons.push_back("no 'head.modulation' (official / ComfyUI names) and no 'condition_embedder.time_proj.weight' "
                          "(diffusers names): not a Wan DiT");
      return p;
    }
    p.reasons.push_back("'" + p.prefix + "condition_embedder.time_proj.weight' + 'scale_shift_table': Wan DiT in diffusers' "
                        "WanTransformer3DModel names (mapped back to Wan's names on load)");
  }
  p.arch = "Wan2.1 DiT";
  p.naming = diffusers ? "diffusers" : "official";

  // 2. The DiT's own tensors under official names.
  std::map<std::string, const TensorMeta*> dit;  // official name -> meta
  int64_t unmapped = 0;
  bool has_marker = false;
  std::string marker_dtype;
  int n_scale_weight = 0, n_scale_input = 0, n_weight_scale = 0, n_input_scale = 0, n_comfy_quant = 0;
  for (const auto& t : tensors) {
    if (!starts_with(t.name, p.prefix)) {
      ++p.other_tensors;
      continue;
    }
    std::string n = t.name.substr(p.prefix.size());
    if (n == "scaled_fp8") { has_marker = true; marker_dtype = t.dtype; continue; }
    if (ends_with(n, ".scale_weight")) { ++n_scale_weight; continue; }
    if (ends_with(n, ".scale_input")) { ++n_scale_input; continue; }
    if (ends_with(n, ".weight_scale")) { ++n_weight_scale; continue; }
    if (ends_with(n, ".input_scale")) { ++n_input_scale; continue; }
    if (ends_with(n, ".comfy_quant")) { ++n_comfy_quant; continue; }
    if (diffusers) {
      auto m = diffusers_to_wan_name(n);
      if (!m) { ++unmapped; continue; }
      n = *m;
    }
    dit[n] = &t;
    p.tensors_by_dtype[t.dtype] += 1;
    p.params_by_dtype[t.dtype] += numel(t.shape);
  }
  if (p.other_tensors)
    p.reasons.push_back(std::to_string(p.other_tensors) + " tensors outside '" + p.prefix + "' ignored (other components of a full checkpoint)");
  if (unmapped) p.reasons.push_back(std::to_string(unmapped) + " diffusers tensors have no Wan2.1 counterpart (reported on load)");

  // 3. Dimensions, read off the shapes as ComfyUI's detect_unet_config does.
  auto shape = [&](const std::string& n) -> std::vector<int64_t> {
    auto it = dit.find(n);
    return it == dit.end() ? std::vector<int64_t>{} : it->second->shape;
  };
  if (auto s = shape("head.modulation"); !s.empty()) p.dim = s.back();
  if (auto s = shape("patch_embedding.weight"); s.size() == 5) {
    p.in_dim = s[1];
    const int64_t patch = s[2] * s[3] * s[4];
    if (auto h = shape("head.head.weight"); h.size() == 2 && patch > 0) p.out_dim = h[0] / patch;
    p.reasons.push_back("patch_embedding.weight " + shape_text(s) + ": in_dim " + std::to_string(p.in_dim) + ", patch " +
                        std::to_string(s[2]) + "x" + std::to_string(s[3]) + "x" + std::to_string(s[4]));
  }
  if (auto s = shape("blocks.0.ffn.0.weight"); s.size() == 2) p.ffn_dim = s[0];
  if (auto s = shape("text_embedding.0.weight"); s.size() == 2) p.text_dim = s[1];
  if (auto s = shape("time_embedding.0.weight"); s.size() == 2) p.freq_dim = s[1];
  while (dit.count("blocks." + std::to_string(p.num_layers) + ".self_attn.q.weight")) ++p.num_layers;
  p.num_heads = p.dim > 0 && p.dim % 128 == 0 ? p.dim / 128 : 0;
  p.reasons.push_back("head.modulation [..," + std::to_string(p.dim) + "]: dim " + std::to_string(p.dim) + "; " +
                      std::to_string(p.num_layers) + " blocks (blocks.0..blocks." + std::to_string(p.num_layers - 1) + ")");

  // 4. Variant, from the branches present (ComfyUI: img_emb.* -> i2v; vace_patch_embedding -> vace).
  const bool clip_branch = dit.count("img_emb.proj.0.weight") != 0;
  if (dit.count("vace_patch_embedding.weight")) p.variant = "VACE";
  else if (clip_branch && dit.count("img_emb.emb_pos")) p.variant = "FLF2V (first-last frame, CLIP image branch)";
  else if (clip_branch) p.variant = "I2V (CLIP image branch)";
  else if (p.in_dim == 36) p.variant = "I2V without a CLIP branch (a Wan2.2 I2V-A14B expert)";
  else if (p.in_dim == 48) p.variant = "TI2V (Wan2.2 5B)";
  else if (p.in_dim == 16) p.variant = "T2V";
  else p.variant = "unknown (in_dim " + std::to_string(p.in_dim) + ")";
  if (clip_branch) p.reasons.push_back("img_emb.proj.* present: image-to-video with CLIP image features");
  if (p.dim == 5120 && p.num_layers == 40) p.variant += ", 14B";
  else if (p.dim == 1536 && p.num_layers == 30) p.variant += ", 1.3B";

  // 5. Storage: dtypes and quantisation (ComfyUI's convert_old_quants / mixed-precision ops naming).
  const bool has_meta = metadata.count("_quantization_metadata") != 0;
  int64_t n_fp8 = 0;
  std::string fp8_types;
  for (const auto& [dt, n] : p.tensors_by_dtype)
    if (starts_with(dt, "F8_")) { n_fp8 += n; fp8_types += (fp8_types.empty() ? "" : "+") + dt; }
  std::string dts;
  for (const auto& [dt, n] : p.tensors_by_dtype) dts += (dts.empty() ? "" : ", ") + dt + " x" + std::to_string(n);
  if (has_marker) {
    p.storage = "fp8 scaled, legacy spelling (" + std::string(marker_dtype == "F8_E5M2" ? "float8_e5m2" : "float8_e4m3fn") +
                " per the 'scaled_fp8' marker; .scale_weight x" + std::to_string(n_scale_weight) + ", .scale_input x" +
                std::to_string(n_scale_input) + ")";
    p.reasons.push_back("'scaled_fp8' marker tensor (" + marker_dtype + "): legacy ComfyUI scaled fp8, weight = fp8 * scale_weight");
  } else if (n_weight_scale || has_meta || n_comfy_quant) {
    p.storage = "fp8 scaled, current spelling (.weight_scale x" + std::to_string(n_weight_scale) + ", .input_scale x" +
                std::to_string(n_input_scale) + (has_meta ? ", _quantization_metadata" : "") +
                (n_comfy_quant ? ", .comfy_quant x" + std::to_string(n_comfy_quant) : "") + ")";
    p.reasons.push_back(std::string(has_meta ? "header metadata '_quantization_metadata'" : ".weight_scale / .comfy_quant tensors") +
                        ": ComfyUI mixed-precision quantisation, weight = fp8 * weight_scale");
  } else if (std::any_of(p.tensors_by_dtype.begin(), p.tensors_by_dtype.end(), [](const auto& kv) { return kv.first[0] == 'Q'; })) {
    p.storage = "ggml block-quantised (dequantised to float32 on load)";
    p.reasons.push_back("ggml quantisation types in the tensor table: weights = the type's block formula (ggml-quants.c)");
  } else if (n_fp8) {
    p.storage = "fp8 (" + fp8_types + "), unscaled";
    p.reasons.push_back(std::to_string(n_fp8) + " " + fp8_types + " tensors without scales: plain fp8 cast (scale 1)");
  } else {
    p.storage = "unquantised";
  }
  p.storage += " [" + dts + "]";

  if (diffusers) p.layout = "diffusers";
  else if (!p.prefix.empty() || n_fp8 || has_marker || n_weight_scale || has_meta) p.layout = "comfyui";
  else p.layout = "wan-official";
  return p;
}

DitProbe probe_dit(const std::string& path) { return probe_checkpoint(find_checkpoint_files(path), path); }

DitProbe probe_checkpoint(const CheckpointFiles& cf, const std::string& path) {
  DitProbe p = classify_dit(cf.tensors, cf.metadata);
  p.path = path;
  p.files = cf.files;
  p.container = cf.container;
  p.reasons.insert(p.reasons.begin(), cf.notes.begin(), cf.notes.end());
  if (cf.container == "gguf" && p.is_wan_dit()) {
    p.layout = "gguf";
    auto arch = cf.metadata.find("general.architecture");
    p.reasons.push_back("GGUF magic; general.architecture '" + (arch == cf.metadata.end() ? std::string("(none)") : arch->second) + "'");
    int reshaped = 0;
    for (const auto& [k, v] : cf.metadata) reshaped += k.rfind("comfy.gguf.orig_shape.", 0) == 0;
    if (reshaped) p.reasons.push_back(std::to_string(reshaped) + " tensors stored reshaped, torch shape from comfy.gguf.orig_shape.* (city96)");
  }
  if (!p.is_wan_dit()) fail(path, "no Wan DiT found (" + p.reasons.back() + ")");
  return p;
}

std::string describe_probe(const DitProbe& p) {
  std::string s;
  auto line = [&](const std::string& k, const std::string& v) { s += "  " + k + std::string(k.size() < 12 ? 12 - k.size() : 1, ' ') + v + "\n"; };
  line("path", p.path);
  line("container", p.container);
  line("layout", p.layout);
  line("arch", p.arch + ", " + p.variant);
  line("dims", "dim " + std::to_string(p.dim) + ", in_dim " + std::to_string(p.in_dim) + ", out_dim " + std::to_string(p.out_dim) +
                   ", ffn_dim " + std::to_string(p.ffn_dim) + ", text_dim " + std::to_string(p.text_dim) + ", freq_dim " +
                   std::to_string(p.freq_dim) + ", layers " + std::to_string(p.num_layers) + ", heads " +
                   (p.num_heads ? std::to_string(p.num_heads) + " (dim/128)" : std::string("not stored (dim not a multiple of 128)")));
  line("storage", p.storage);
  int64_t params = 0;
  for (const auto& [dt, n] : p.params_by_dtype) params += n;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f M", params / 1e6);
  line("parameters", buf);
  for (const auto& f : p.files) line("file", f);
  for (const auto& r : p.reasons) line("why", r);
  return s;
}

}  // namespace focalscope::formats
