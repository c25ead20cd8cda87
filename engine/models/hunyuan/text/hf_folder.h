// Reading Hugging Face model folders as released (config.json + model.safetensors or sharded
// model.safetensors.index.json): small shared helpers of the HunyuanVideo-I2V text encoders.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/weights.h"

namespace focalscope {

// <dir>/config.json as a JSON object (errors name the file).
nlohmann::json read_hf_config(const std::string& dir);
// The folder's weights: model.safetensors.index.json (shards), else model.safetensors, else pytorch_model.bin.
// Throws "<dir>: no model.safetensors, model.safetensors.index.json or pytorch_model.bin" when none exists.
TensorSet load_hf_weights(const std::string& dir);

// Typed reads of config keys with a default when the key is absent (HF config classes' defaults) and a one-line
// error "<where>: \"key\" must be ..." when present with the wrong type.
int64_t cfg_int(const nlohmann::json& j, const std::string& key, int64_t def, const std::string& where);
double cfg_num(const nlohmann::json& j, const std::string& key, double def, const std::string& where);
bool cfg_bool(const nlohmann::json& j, const std::string& key, bool def, const std::string& where);
std::string cfg_str(const nlohmann::json& j, const std::string& key, const std::string& def, const std::string& where);

// Claims nothing but checks that `name` exists with `shape`, then marks it ignored (weights of layers that are
// never run: checked like the rest, not kept in memory).
void check_and_ignore(WeightLoader& L, const std::string& name, const std::vector<int64_t>& shape, const std::string& what);

}  // namespace focalscope
