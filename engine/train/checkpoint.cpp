#include "engine/train/checkpoint.h"

#include <ATen/ATen.h>

#include <cstdio>
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

void note_cooldown_change(const nlohmann::json& meta, int64_t start, int64_t target, int64_t lr_cooldown,
                          const std::string& ckpt_path, const std::string& tag) {
  const nlohmann::json was = meta.value("lr_cooldown", nlohmann::json::object());
  if (!was.is_object()) return;
  const int64_t was_n = was.value("steps", int64_t{0}), was_target = was.value("target", int64_t{0});
  if (was_n > 0 && start > was_target - was_n && (was_n != lr_cooldown || was_target != target))
    std::fprintf(stderr, "[%s] note: %s was cooling its learning rate to 0 at step %lld (--lr-cooldown %lld); "
                 "this run uses --steps %lld --lr-cooldown %lld, so the rate now follows that schedule\n",
                 tag.c_str(), ckpt_path.c_str(), static_cast<long long>(was_target), static_cast<long long>(was_n),
                 static_cast<long long>(target), static_cast<long long>(lr_cooldown));
}

NamedTensors take_prefixed(const TensorSet& set, const std::string& prefix, bool fp16) {
  NamedTensors out;
  for (const auto& n : set.names())
    if (n.rfind(prefix, 0) == 0) out.emplace_back(n.substr(prefix.size()), set.get(n).to(fp16 ? at::kHalf : at::kFloat));
  return out;
}

}  // namespace focalscope::train
