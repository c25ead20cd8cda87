#include "engine/formats/checkpoint_files.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"
#include "engine/formats/gguf.h"

namespace fs = std::filesystem;

namespace focalscope::formats {
namespace {

void add_safetensors(CheckpointFiles& cf, const std::string& file) {
  auto st = SafetensorsFile::open(file);
  for (const auto& e : st->entries()) cf.tensors.push_back({e.name, dtype_name(e.dtype), e.shape, file});
  for (const auto& [k, v] : st->metadata()) cf.metadata[k] = v;
  cf.files.push_back(file);
  cf.safetensors.push_back(st);
}

void add_gguf(CheckpointFiles& cf, const std::string& file) {
  cf.gguf = GgufFile::open(file);
  for (const auto& t : cf.gguf->tensors()) cf.tensors.push_back({t.name, ggml_type_name(t.type), t.shape, file});
  for (const auto& [k, v] : cf.gguf->metadata_text()) cf.metadata[k] = v;
  cf.files.push_back(file);
  cf.container = "gguf";
}

// Shard files listed by an index's weight_map, each once, in first-mention order.
std::vector<std::string> index_shards(const std::string& index) {
  // Depth / size limits of every JSON read (engine/core/limits.h); the error names the file.
  const nlohmann::json j = read_json_file(index);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) fail(index, "shard index has no \"weight_map\" object");
  std::vector<std::string> out;
  std::set<std::string> seen;
  const auto dir = fs::path(index).parent_path();
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string()) fail(index, "weight_map entry '" + it.key() + "' is not a file name");
    const std::string shard = it->get<std::string>();
    if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
      fail(index, "weight_map entry '" + it.key() + "' points outside the folder: " + shard);
    if (seen.insert(shard).second) {
      const auto p = (dir / shard).string();
      if (!fs::exists(p)) fail(index, "shard '" + shard + "' listed for tensor '" + it.key() + "' does not exist");
      out.push_back(p);
    }
  }
  return out;
}

bool is_index_json(const std::string& file) {
  if (sniff_file(file) != "json") return false;
  try {
    const nlohmann::json j = read_json_file(file);
    return j.is_object() && j.contains("weight_map");
  } catch (const Error&) {
    // A broken index (duplicate keys, too deep, ...) is still an index: index_shards' reader then names its problem.
    std::ifstream in(file, std::ios::binary);
    std::string head(1 << 20, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    return head.find("\"weight_map\"") != std::string::npos;
  }
}

// A key that only a DiT (official, ComfyUI or diffusers names) has.
bool dit_like(const std::string& n) {
  for (const char* k : {"head.modulation", "patch_embedding.weight", "condition_embedder.", "scale_shift_table", ".self_attn.q.weight",
                        ".attn1.to_q.weight", ".ffn.0.weight", ".ffn.net.0.proj.weight"})
    if (n.find(k) != std::string::npos) return true;
  return false;
}

}  // namespace

std::string sniff_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open");
  unsigned char b[9] = {0};
  in.read(reinterpret_cast<char*>(b), 9);
  const auto n = in.gcount();
  if (n >= 4 && std::memcmp(b, "GGUF", 4) == 0) return "gguf";
  if (n >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return "zip";
  if (n >= 1 && (b[0] == '{' || b[0] == '[' || b[0] == ' ' || b[0] == '\n')) return "json";
  // safetensors: u64 little-endian header length, then the header, which opens with '{'.
  if (n == 9 && b[8] == '{') return "safetensors";
  return "unknown";
}

CheckpointFiles find_checkpoint_files(const std::string& path0) {
  CheckpointFiles cf;
  std::string path = path0;
  if (!fs::exists(path)) fail(path, "not found");
  if (fs::is_directory(path)) {
    // A diffusers pipeline folder keeps the DiT in transformer/ (model_index.json names its class).
    if (fs::is_directory(fs::path(path) / "transformer")) {
      path = (fs::path(path) / "transformer").string();
      cf.notes.push_back("folder has transformer/: a diffusers pipeline folder, the DiT is read from " + path);
    }
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file()) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    // 1. A shard index whose shards hold the DiT.
    for (const auto& f : files) {
      if (!is_index_json(f)) continue;
      auto shards = index_shards(f);
      CheckpointFiles trial;
      for (const auto& s : shards) add_safetensors(trial, s);
      if (std::none_of(trial.tensors.begin(), trial.tensors.end(), [](const TensorMeta& t) { return dit_like(t.name); })) continue;
      trial.container = "safetensors shards + index";
      trial.notes = cf.notes;
      trial.notes.push_back("shard index " + fs::path(f).filename().string() + " (\"weight_map\"): " + std::to_string(shards.size()) + " shard(s)");
      return trial;
    }
    // 2. Otherwise every weight file whose content is a DiT (others, e.g. a fixture's io.safetensors or the .pth
    //    encoders beside the DiT, are skipped and listed).
    std::vector<std::string> skipped;
    for (const auto& f : files) {
      const std::string kind = sniff_file(f);
      if (kind == "gguf") {
        if (!cf.files.empty()) fail(path, "holds a GGUF file and other DiT weight files: point at one of them");
        add_gguf(cf, f);
        continue;
      }
      if (kind != "safetensors") continue;
      CheckpointFiles one;
      add_safetensors(one, f);
      if (std::none_of(one.tensors.begin(), one.tensors.end(), [](const TensorMeta& t) { return dit_like(t.name); })) {
        skipped.push_back(fs::path(f).filename().string());
        continue;
      }
      if (cf.container == "gguf") fail(path, "holds a GGUF file and other DiT weight files: point at one of them");
      for (auto& t : one.tensors) cf.tensors.push_back(std::move(t));
      for (auto& [k, v] : one.metadata) cf.metadata[k] = v;
      cf.files.push_back(f);
      cf.safetensors.push_back(one.safetensors[0]);
      cf.container = "safetensors";
    }
    if (cf.files.empty()) fail(path, "no file in this folder holds DiT weights (looked at the content of every .safetensors, index and GGUF file)");
    if (!skipped.empty()) {
      std::string s;
      for (const auto& k : skipped) s += (s.empty() ? "" : ", ") + k;
      cf.notes.push_back("skipped safetensors files without DiT tensors: " + s);
    }
    if (cf.files.size() > 1 && cf.container == "safetensors") cf.container = "safetensors (several files, no index)";
    return cf;
  }
  const std::string kind = sniff_file(path);
  if (kind == "gguf") {
    add_gguf(cf, path);
  } else if (kind == "safetensors") {
    add_safetensors(cf, path);
    cf.container = "safetensors";
  } else if (kind == "json" && is_index_json(path)) {
    for (const auto& s : index_shards(path)) add_safetensors(cf, s);
    cf.container = "safetensors shards + index";
  } else if (kind == "zip") {
    fail(path, "a torch.save zip checkpoint: DiT weights are read from safetensors, shard indexes or GGUF files");
  } else {
    fail(path, "not a safetensors, GGUF or shard-index file (first bytes match none of them)");
  }
  return cf;
}

CheckpointFiles open_safetensors_files(const std::string& path) {
  CheckpointFiles cf;
  if (!fs::exists(path)) fail(path, "not found");
  auto open_index = [&](const std::string& index) {
    for (const auto& s : index_shards(index)) add_safetensors(cf, s);
    cf.container = "safetensors shards + index";
    cf.notes.push_back("shard index " + fs::path(index).filename().string());
  };
  if (fs::is_directory(path)) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file()) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (const auto& f : files)
      if (is_index_json(f)) {
        open_index(f);
        return cf;
      }
    for (const auto& f : files)
      if (sniff_file(f) == "safetensors") add_safetensors(cf, f);
    if (cf.files.empty()) fail(path, "no safetensors file in this folder");
    cf.container = cf.files.size() > 1 ? "safetensors (several files, no index)" : "safetensors";
    return cf;
  }
  const std::string kind = sniff_file(path);
  if (kind == "safetensors") {
    add_safetensors(cf, path);
    cf.container = "safetensors";
  } else if (kind == "json" && is_index_json(path)) {
    open_index(path);
  } else {
    fail(path, "not a safetensors file or shard index (first bytes: " + kind + ")");
  }
  return cf;
}

}  // namespace focalscope::formats
