#include "engine/train/checkpoint.h"

#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"

namespace focalscope::train {

namespace {
constexpr const char* kMetaKey = "focalscope.train";
}

void write_checkpoint(const std::string& path, const NamedTensors& tensors, nlohmann::json meta) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  save_safetensors(path, tensors, {{kMetaKey, meta.dump()}});
}

std::optional<CheckpointData> read_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  auto f = SafetensorsFile::open(path);
  auto it = f->metadata().find(kMetaKey);
  if (it == f->metadata().end()) fail(path, "not a FocalScope training checkpoint (no '" + std::string(kMetaKey) + "' metadata)");
  CheckpointData d;
  try {
    d.meta = parse_json_text(it->second, path + ": metadata  + std::string(kMetaKey) + ");
    d.step = d.meta.at("step").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("corrupt checkpoint metadata: ") + e.what());
  }
  d.tensors.origin = path;
  for (const auto& e : f->entries()) d.tensors.add(e.name, f->tensor(e), path);
  return d;
}

void append_prefixed(NamedTensors& out, const NamedTensors& src, const std::string& prefix) {
  for (const auto& [name, t] : src) out.emplace_back(prefix + name, t);
}

}  // namespace focalscope::train
