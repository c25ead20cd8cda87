#include "engine/core/weights.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"

namespace focalscope {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}
std::string shape_str(at::IntArrayRef shape) { return shape_str(shape.vec()); }

// ---- TensorSet --------------------------------------------------------------
void TensorSet::add(const std::string& name, const at::Tensor& t, const std::string& source_file) {
  if (items_.count(name)) fail(source_file, "tensor '" + name + "' also appears in " + items_[name].source);
  items_[name] = Item{t, source_file};
}

const at::Tensor& TensorSet::get(const std::string& name) const {
  auto it = items_.find(name);
  if (it == items_.end()) fail(origin, "no tensor named '" + name + "'");
  return it->second.t;
}

const std::string& TensorSet::source(const std::string& name) const {
  auto it = items_.find(name);
  if (it == items_.end()) return origin;
  return it->second.source;
}

std::vector<std::string> TensorSet::names() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& kv : items_) out.push_back(kv.first);
  return out;
}

TensorSet TensorSet::with_prefix(const std::string& prefix) const {
  TensorSet out;
  out.origin = origin;
  for (const auto& [name, item] : items_)
    if (name.rfind(prefix, 0) == 0) out.items_[name.substr(prefix.size())] = item;
  return out;
}

// ---- loaders ------------------------------------------------------------------
TensorSet load_safetensors(const std::string& path) {
  auto f = SafetensorsFile::open(path);
  TensorSet set;
  set.origin = path;
  for (const auto& e : f->entries()) set.add(e.name, f->tensor(e), path);
  return set;
}

TensorSet load_sharded_safetensors(const std::string& index_path) {
  const nlohmann::json j = read_json_file(index_path);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail(index_path, "shard index has no \"weight_map\" object");
  const auto dir = std::filesystem::path(index_path).parent_path();
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  std::map<std::string, std::string> owner;  // tensor -> shard file name
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string()) fail(index_path, "weight_map entry '" + it.key() + "' is not a file name");
    const std::string shard = it->get<std::string>();
    if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
      fail(index_path, "weight_map entry '" + it.key() + "' points outside the folder: " + shard);
    owner[it.key()] = shard;
    if (!shards.count(shard)) {
      auto p = (dir / shard).string();
      if (!std::filesystem::exists(p)) fail(index_path, "shard '" + shard + "' listed for tensor '" + it.key() + "' does not exist");
      shards[shard] = SafetensorsFile::open(p);
    }
  }
  TensorSet set;
  set.origin = index_path;
  for (const auto& [name, shard] : owner) {
    const auto& f = shards[shard];
    const TensorEntry* e = f->find(name);
    if (!e) fail(f->path(), "tensor '" + name + "' is listed in the index for this shard but is not in it");
    set.add(name, f->tensor(*e), f->path());
  }
  for (const auto& [shard, f] : shards)
    for (const auto& e : f->entries())
      if (!owner.count(e.name)) fail(f->path(), "tensor '" + e.name + "' is not listed in " + index_path);
      else if (owner[e.name] != shard) fail(f->path(), "tensor '" + e.name + "' is listed in the index for " + owner[e.name]);
  return set;
}

static bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

TensorSet load_tensor_file(const std::string& path) {
  if (!std::filesystem::exists(path)) fail(path, "file not found");
  if (ends_with(path, ".index.json")) return load_sharded_safetensors(path);
  if (ends_with(path, ".safetensors")) return load_safetensors(path);
  if (ends_with(path, ".pth") || ends_with(path, ".pt") || ends_with(path, ".bin")) return load_pth(path);
  fail(path, "unknown weight file type (expected .safetensors, .safetensors.index.json or .pth)");
}

// ---- WeightLoader ---------------------------------------------------------------
WeightLoader::WeightLoader(const TensorSet& set, std::string what, c10::ScalarType dtype, c10::Device device)
    : set_(set), what_(std::move(what)), dtype_(dtype), device_(device) {}

std::string WeightLoader::where(const std::string& name) const { return set_.source(name); }

bool WeightLoader::has(const std::string& name) const { return set_.has(name); }

std::vector<int64_t> WeightLoader::shape_of(const std::string& name) const {
  if (!set_.has(name)) fail(set_.origin, what_ + " tensor '" + name + "' is missing");
  return set_.get(name).sizes().vec();
}

int64_t WeightLoader::dim_of(const std::string& name, std::size_t d) const {
  const std::vector<int64_t> s = shape_of(name);
  if (d >= s.size())
    fail(where(name), what_ + " tensor '" + name + "' has shape " + shape_str(s) + ": expected at least " + std::to_string(d + 1) + " dimensions");
  return s[d];
}

at::Tensor WeightLoader::take_raw(const std::string& name, const std::vector<int64_t>& shape) {
  if (!set_.has(name)) fail(set_.origin, what_ + " tensor '" + name + "' is missing");
  const at::Tensor& t = set_.get(name);
  if (t.sizes().vec() != shape)
    fail(where(name), what_ + " tensor '" + name + "' has shape " + shape_str(t.sizes()) + ", expected " + shape_str(shape));
  claimed_.insert(name);
  return t;
}

at::Tensor WeightLoader::take(const std::string& name, const std::vector<int64_t>& shape) {
  at::Tensor t = take_raw(name, shape);
  if (!at::isFloatingType(t.scalar_type()))
    fail(where(name), what_ + " tensor '" + name + "' has dtype " + c10::toString(t.scalar_type()) + ", expected a floating-point type");
  // Always a fresh, owned, contiguous tensor: views into a mapped file must not leak into models that
  // may train or be moved in place.
  at::Tensor out = t.to(device_, dtype_, /*non_blocking=*/false, /*copy=*/true).contiguous();
  if (!at::isfinite(out).all().item<bool>())
    fail(where(name), what_ + " tensor '" + name + "' contains NaN or Inf");
  return out;
}

void WeightLoader::ignore(const std::string& name) { claimed_.insert(name); }
void WeightLoader::ignore_prefix(const std::string& prefix) { ignored_prefixes_.push_back(prefix); }

void WeightLoader::finish() const {
  for (const auto& name : set_.names()) {
    if (claimed_.count(name)) continue;
    bool ign = false;
    for (const auto& p : ignored_prefixes_) ign = ign || name.rfind(p, 0) == 0;
    if (!ign) fail(set_.source(name), "unexpected " + what_ + " tensor '" + name + "' (not part of this model)");
  }
}

}  // namespace focalscope
