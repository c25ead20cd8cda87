#include "engine/models/hunyuan/text/hf_folder.h"

#include <cmath>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/json_io.h"

namespace focalscope {

using json = nlohmann::json;

json read_hf_config(const std::string& dir) {
  return read_json_object_file((std::filesystem::path(dir) / "config.json").string());
}

TensorSet load_hf_weights(const std::string& dir) {
  const auto d = std::filesystem::path(dir);
  if (!std::filesystem::is_directory(d)) fail(dir, "not a folder");
  for (const char* name : {"model.safetensors.index.json", "model.safetensors", "pytorch_model.bin"}) {
    const auto p = d / name;
    if (std::filesystem::exists(p)) return load_tensor_file(p.string());
  }
  fail(dir, "no model.safetensors, model.safetensors.index.json or pytorch_model.bin");
}

int64_t cfg_int(const json& j, const std::string& key, int64_t def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  const json& v = j[key];
  if (v.is_number_integer() || v.is_number_unsigned()) return v.get<int64_t>();
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() && std::fabs(v.get<double>()) < 9e15)
    return static_cast<int64_t>(v.get<double>());
  fail(where, "\"" + key + "\" must be an integer, got " + json_detail::one_line(v.dump(), 60));
}

double cfg_num(const json& j, const std::string& key, double def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_number()) fail(where, "\"" + key + "\" must be a number, got " + json_detail::one_line(j[key].dump(), 60));
  return j[key].get<double>();
}

bool cfg_bool(const json& j, const std::string& key, bool def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) fail(where, "\"" + key + "\" must be true or false, got " + json_detail::one_line(j[key].dump(), 60));
  return j[key].get<bool>();
}

std::string cfg_str(const json& j, const std::string& key, const std::string& def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_string()) fail(where, "\"" + key + "\" must be a string, got " + json_detail::one_line(j[key].dump(), 60));
  return j[key].get<std::string>();
}

void check_and_ignore(WeightLoader& L, const std::string& name, const std::vector<int64_t>& shape, const std::string& what) {
  const auto s = L.shape_of(name);  // throws "<origin>: <what> tensor 'name' is missing"
  if (s != shape) {
    // take_raw reports the mismatch naming the shard file.
    L.take_raw(name, shape);
  }
  (void)what;
  L.ignore(name);
}

}  // namespace focalscope
