#include "engine/formats/model_set.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/formats/checkpoint_files.h"
#include "engine/formats/component_weights.h"

namespace fs = std::filesystem;

namespace focalscope::formats {
namespace {

// A spiece.model in `dir` or its sub-folders (depth <= 3), "" when none.
std::string find_spiece(const fs::path& dir) {
  if (!fs::is_directory(dir)) return {};
  std::vector<std::string> found;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied); it != fs::recursive_directory_iterator(); ++it) {
    if (it.depth() > 3) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && it->path().filename() == "spiece.model") found.push_back(it->path().string());
  }
  std::sort(found.begin(), found.end());
  return found.empty() ? std::string() : found.front();
}

// The component a weight unit (file, shard index or folder) holds, from its content; "" for files that hold none.
std::string component_of(const std::string& path, std::string& why) {
  try {
    const std::string container = fs::is_directory(path) ? std::string() : sniff_file(path);
    if (container == "gguf") {
      DitProbe p = probe_dit(path);
      why = "GGUF " + p.arch;
      return p.is_wan_dit() ? "dit" : "";
    }
    if (container == "zip") {  // a torch .pth (the official umT5 / VAE / CLIP files)
      const ComponentProbe c = probe_component(path);
      why = "torch zip (.pth)" + (c.reasons.empty() ? std::string() : ", " + c.reasons.front());
      return c.component == "unknown" ? "" : c.component;
    }
    ComponentProbe c = classify_component([&] {
      std::vector<std::string> names;
      for (const auto& t : open_safetensors_files(path).tensors) names.push_back(t.name);
      return names;
    }());
    why = c.reasons.empty() ? std::string() : c.reasons.front();
    return c.component == "unknown" ? "" : c.component;
  } catch (const Error& e) {
    why = e.what();
    return "";
  }
}

}  // namespace

ModelSet detect_model_set(const std::string& dir) {
  ModelSet s;
  s.dir = dir;
  if (!fs::is_directory(dir)) fail(dir, "model directory not found");
  const fs::path d(dir);
  std::map<std::string, std::vector<std::string>> found;  // component -> units
  const bool diffusers = fs::is_directory(d / "transformer") &&
                         (fs::exists(d / "model_index.json") || fs::is_directory(d / "text_encoder") || fs::is_directory(d / "vae"));
  if (diffusers) {
    s.layout = "diffusers";
    s.reasons.push_back("transformer/ (+ model_index.json / text_encoder/ / vae/): a diffusers pipeline folder");
    for (const char* sub : {"transformer", "text_encoder", "image_encoder", "vae"}) {
      const fs::path p = d / sub;
      if (!fs::is_directory(p)) continue;
      std::string why;
      const std::string c = component_of(p.string(), why);
      if (!c.empty()) found[c].push_back(p.string());
      s.reasons.push_back(std::string(sub) + "/: " + (c.empty() ? "no Wan component (" + why + ")" : c + " — " + why));
    }
    if (fs::exists(d / "transformer" / "config.json")) s.dit_config = (d / "transformer" / "config.json").string();
  } else {
    s.layout = "folder (by content)";
    // Every folder with a shard index is one unit; every other safetensors / GGUF file is one unit.
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(d, fs::directory_options::skip_permission_denied); it != fs::recursive_directory_iterator(); ++it) {
      if (it.depth() > 4) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    std::map<fs::path, bool> indexed;  // folders whose shards an index covers
    for (const auto& f : files) {
      const std::string k = sniff_file(f.string());
      if (k == "json" && f.filename().string().find(".index.json") != std::string::npos) indexed[f.parent_path()] = true;
    }
    for (const auto& f : files) {
      const std::string k = sniff_file(f.string());
      std::string unit;
      if (indexed.count(f.parent_path())) {
        if (k == "json" && f.filename().string().find(".index.json") != std::string::npos) unit = f.string();
        else continue;
      } else if (k == "safetensors" || k == "gguf") {
        unit = f.string();
      } else {
        continue;
      }
      std::string why;
      const std::string c = component_of(unit, why);
      const std::string rel = fs::path(unit).lexically_relative(d).string();
      if (c.empty()) {
        s.reasons.push_back(rel + ": skipped, no Wan component");
        continue;
      }
      found[c].push_back(unit);
      s.reasons.push_back(rel + ": " + c + " — " + why);
    }
  }
  std::vector<std::string> problems;
  auto pick = [&](const char* comp, const char* flag, std::string& into) {
    auto it = found.find(comp);
    if (it == found.end() || it->second.empty()) {
      problems.push_back(std::string("no ") + comp + " (pass " + flag + " FILE)");
      return;
    }
    if (it->second.size() > 1) {
      std::string l;
      for (const auto& u : it->second) l += (l.empty() ? "" : ", ") + fs::path(u).lexically_relative(d).string();
      problems.push_back(std::string("several ") + comp + " files (" + l + "): pass " + flag + " FILE");
      return;
    }
    into = it->second.front();
  };
  pick("dit", "--dit", s.dit);
  pick("umt5", "--t5", s.t5);
  pick("clip-vision", "--clip", s.clip);
  pick("vae", "--vae", s.vae);
  s.tokenizer = diffusers && fs::exists(d / "tokenizer" / "spiece.model") ? (d / "tokenizer" / "spiece.model").string() : find_spiece(d);
  if (s.tokenizer.empty()) problems.push_back("no spiece.model (umT5's SentencePiece tokenizer; pass --tokenizer FILE)");
  else s.reasons.push_back("tokenizer: " + fs::path(s.tokenizer).lexically_relative(d).string());
  if (!problems.empty()) {
    std::string m;
    for (const auto& p : problems) m += (m.empty() ? "" : "; ") + p;
    fail(dir, "not a complete Wan2.1 I2V set (" + s.layout + "): " + m);
  }
  return s;
}

Wan22Set detect_wan22_set(const std::string& dir) {
  Wan22Set s;
  const fs::path d(dir);
  if (!fs::is_directory(d / "high_noise_model") || !fs::is_directory(d / "low_noise_model")) return s;
  s.found = true;
  s.reasons.push_back("high_noise_model/ + low_noise_model/: a Wan2.2 two-expert folder (wan/configs/wan_i2v_A14B.py)");
  std::vector<std::string> problems;
  for (const char* sub : {"high_noise_model", "low_noise_model"}) {
    const fs::path p = d / sub;
    std::string& into = std::string(sub) == "high_noise_model" ? s.dit_high : s.dit_low;
    std::string& cfg = std::string(sub) == "high_noise_model" ? s.dit_high_config : s.dit_low_config;
    try {
      const DitProbe probe = probe_dit(p.string());
      if (!probe.is_wan_dit()) {
        problems.push_back(std::string(sub) + "/ holds no Wan DiT");
        continue;
      }
      if (probe.variant.rfind("I2V without a CLIP branch", 0) != 0) {
        problems.push_back(std::string(sub) + "/ holds a Wan DiT of variant '" + probe.variant +
                           "', not a Wan2.2 I2V-A14B expert (in_dim 36 without img_emb)");
        continue;
      }
      into = p.string();
      if (fs::exists(p / "config.json")) cfg = (p / "config.json").string();
      s.reasons.push_back(std::string(sub) + "/: dit — " + probe.variant + ", in_dim " + std::to_string(probe.in_dim) + ", dim " +
                          std::to_string(probe.dim) + ", " + std::to_string(probe.num_layers) + " layers (" + probe.layout + ", " +
                          probe.storage + ")");
    } catch (const Error& e) {
      problems.push_back(std::string(sub) + "/: " + e.what());
    }
  }
  // Shared components: the official names, else by content among the other safetensors files (outside the experts).
  auto official = [&](const fs::path& p, std::string& into, const char* what) {
    if (fs::exists(p)) {
      into = p.string();
      s.reasons.push_back(p.lexically_relative(d).string() + ": " + what + " (official file name)");
    }
  };
  official(d / "models_t5_umt5-xxl-enc-bf16.pth", s.t5, "umt5");
  official(d / "Wan2.1_VAE.pth", s.vae, "vae");
  if (s.t5.empty() || s.vae.empty()) {
    for (auto it = fs::recursive_directory_iterator(d, fs::directory_options::skip_permission_denied); it != fs::recursive_directory_iterator(); ++it) {
      const std::string top = it->path().lexically_relative(d).begin()->string();
      if (top == "high_noise_model" || top == "low_noise_model" || it.depth() > 3) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file() || sniff_file(it->path().string()) != "safetensors") continue;
      std::string why;
      const std::string c = component_of(it->path().string(), why);
      std::string* into = c == "umt5" ? &s.t5 : c == "vae" ? &s.vae : nullptr;
      if (!into || !into->empty()) continue;
      *into = it->path().string();
      s.reasons.push_back(it->path().lexically_relative(d).string() + ": " + c + " — " + why);
    }
  }
  s.tokenizer = fs::exists(d / "google" / "umt5-xxl" / "spiece.model") ? (d / "google" / "umt5-xxl" / "spiece.model").string() : find_spiece(d);
  if (s.t5.empty()) problems.push_back("no umT5 encoder (models_t5_umt5-xxl-enc-bf16.pth or a safetensors umT5)");
  if (s.vae.empty()) problems.push_back("no VAE (Wan2.1_VAE.pth or a safetensors Wan VAE)");
  if (s.tokenizer.empty()) problems.push_back("no spiece.model (google/umt5-xxl/spiece.model)");
  else s.reasons.push_back("tokenizer: " + fs::path(s.tokenizer).lexically_relative(d).string());
  if (!problems.empty()) {
    std::string m;
    for (const auto& p : problems) m += (m.empty() ? "" : "; ") + p;
    fail(dir, "not a complete Wan2.2 I2V-A14B folder: " + m);
  }
  return s;
}

namespace {
// `path` must exist and hold the component `want` (found from its content); the reason is recorded.
std::string checked_component(const std::string& path, const char* want, const char* flag, std::vector<std::string>& reasons) {
  if (!fs::exists(path)) fail(path, std::string(flag) + ": not found");
  std::string why;
  const std::string c = component_of(path, why);
  if (c != want) fail(path, std::string(flag) + " expects a " + want + ", this holds " + (c.empty() ? "no Wan component" : c) + (why.empty() ? "" : " (" + why + ")"));
  reasons.push_back(std::string(flag) + " " + path + ": " + c + " — " + why);
  return path;
}

// --tokenizer, else a spiece.model beside (or one folder above) the umT5 file.
std::string tokenizer_for(const std::string& t5, const std::string& tokenizer, std::vector<std::string>& reasons) {
  std::string found = tokenizer;
  if (!tokenizer.empty()) {
    if (!fs::exists(tokenizer)) fail(tokenizer, "--tokenizer: not found");
  } else {
    const fs::path t5dir = fs::is_directory(t5) ? fs::path(t5) : fs::path(t5).parent_path();
    found = find_spiece(t5dir);
    if (found.empty()) found = find_spiece(t5dir.parent_path());
    if (found.empty()) fail(t5, "no spiece.model beside the umT5 file: pass --tokenizer FILE (umT5's SentencePiece model)");
  }
  reasons.push_back("tokenizer: " + found);
  return found;
}

// The flags of `given` left empty, joined ("--t5, --vae"); "" when every one is set.
std::string missing_flags(const std::vector<std::pair<std::string, const char*>>& given) {
  std::string m;
  for (const auto& [v, flag] : given)
    if (v.empty()) m += (m.empty() ? "" : ", ") + std::string(flag);
  return m;
}

}  // namespace

ModelSet model_set_from_files(const std::string& dit, const std::string& t5, const std::string& clip, const std::string& vae,
                              const std::string& tokenizer) {
  ModelSet s;
  s.layout = "files";
  if (const std::string m = missing_flags({{dit, "--dit"}, {t5, "--t5"}, {clip, "--clip"}, {vae, "--vae"}}); !m.empty())
    fail("--dit/--t5/--clip/--vae", "explicit files need all four components; missing " + m + " (or give --model-dir DIR)");
  s.dit = checked_component(dit, "dit", "--dit", s.reasons);
  s.t5 = checked_component(t5, "umt5", "--t5", s.reasons);
  s.clip = checked_component(clip, "clip-vision", "--clip", s.reasons);
  s.vae = checked_component(vae, "vae", "--vae", s.reasons);
  s.tokenizer = tokenizer_for(t5, tokenizer, s.reasons);
  return s;
}

Wan22Set wan22_set_from_files(const std::string& high, const std::string& low, const std::string& t5, const std::string& vae,
                              const std::string& tokenizer) {
  Wan22Set s;
  if (const std::string missing = missing_flags({{high, "--dit-high"}, {low, "--dit-low"}, {t5, "--t5"}, {vae, "--vae"}}); !missing.empty())
    fail("--dit-high/--dit-low", "a Wan2.2 I2V-A14B model from single files needs --dit-high, --dit-low, --t5 and --vae; missing " + missing);
  s.found = true;
  s.reasons.push_back("--dit-high / --dit-low: the two Wan2.2 I2V-A14B experts as given (their content cannot tell high from low)");
  DitProbe first;
  for (const auto& [path, flag] : std::vector<std::pair<std::string, const char*>>{{high, "--dit-high"}, {low, "--dit-low"}}) {
    checked_component(path, "dit", flag, s.reasons);
    const DitProbe p = probe_dit(path);
    if (p.variant.rfind("I2V without a CLIP branch", 0) != 0)
      fail(path, std::string(flag) + " expects a Wan2.2 I2V-A14B expert (in_dim 36 without img_emb), this holds a Wan DiT of variant '" + p.variant + "'");
    if (first.dim == 0) {
      first = p;
    } else if (p.dim != first.dim || p.num_layers != first.num_layers || p.in_dim != first.in_dim || p.ffn_dim != first.ffn_dim) {
      fail(path, std::string(flag) + ": dim " + std::to_string(p.dim) + ", " + std::to_string(p.num_layers) + " layers, ffn " +
                     std::to_string(p.ffn_dim) + " differ from --dit-high's (dim " + std::to_string(first.dim) + ", " +
                     std::to_string(first.num_layers) + " layers, ffn " + std::to_string(first.ffn_dim) + "): the two experts must have one shape");
    }
  }
  s.dit_high = high;
  s.dit_low = low;
  s.t5 = checked_component(t5, "umt5", "--t5", s.reasons);
  s.vae = checked_component(vae, "vae", "--vae", s.reasons);
  s.tokenizer = tokenizer_for(t5, tokenizer, s.reasons);
  return s;
}

WanConfig wan_config_from_probe(const DitProbe& p, int heads, const std::string& diffusers_config, const std::string& where) {
  if (!p.is_wan_dit()) fail(where, "holds no Wan DiT");
  WanConfig c;
  const bool clip = p.variant.rfind("I2V (CLIP image branch)", 0) == 0;
  const bool expert = p.variant.rfind("I2V without a CLIP branch", 0) == 0;  // a Wan2.2 I2V-A14B expert
  if (!clip && !expert && p.variant.rfind("T2V", 0) != 0)
    fail(where, "DiT variant '" + p.variant +
                    "' is not run by FocalScope (Wan2.1 I2V with the CLIP image branch, a Wan2.2 I2V-A14B expert, or T2V)");
  c.model_type = clip || expert ? "i2v" : "t2v";
  c.image_branch = !expert;
  c.in_dim = static_cast<int>(p.in_dim);
  c.dim = static_cast<int>(p.dim);
  c.ffn_dim = static_cast<int>(p.ffn_dim);
  c.freq_dim = static_cast<int>(p.freq_dim);
  c.text_dim = static_cast<int>(p.text_dim);
  c.out_dim = static_cast<int>(p.out_dim);
  c.num_layers = static_cast<int>(p.num_layers);
  if (heads > 0) {
    c.num_heads = heads;
  } else if (!diffusers_config.empty()) {
    const nlohmann::json j = read_json_object_file(diffusers_config);
    if (!j.contains("num_attention_heads") || !j["num_attention_heads"].is_number_integer())
      fail(diffusers_config, "no integer num_attention_heads (WanTransformer3DModel config)");
    c.num_heads = j["num_attention_heads"].get<int>();
  } else if (p.dim % 128 == 0) {
    c.num_heads = static_cast<int>(p.dim / 128);  // Wan's head_dim is 128 in every released model
  } else {
    fail(where, "dim " + std::to_string(p.dim) + " is not a multiple of Wan's head_dim 128 and no config says the heads: pass --dit-heads N");
  }
  return c;
}

}  // namespace focalscope::formats
