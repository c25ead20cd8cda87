#include "engine/models/hunyuan/hunyuan_release.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/pth.h"
#include "engine/models/hunyuan/hunyuan_vae.h"

namespace focalscope {

namespace fs = std::filesystem;

namespace {

const char* kDitFile = "transformers/mp_rank_00_model_states.pt";

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}
bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The folder holding transformers/: `dir` itself, or its one hunyuan-video-i2v-* sub-folder (ckpts/ layout).
std::string release_root(const std::string& dir) {
  if (is_file(fs::path(dir) / kDitFile)) return dir;
  std::error_code ec;
  if (!is_dir(dir)) return "";
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("hunyuan-video-i2v", 0) == 0 && is_file(e.path() / kDitFile))
      return e.path().string();
  return "";
}

int64_t dim_of(const TensorSet& w, const std::string& name, int64_t i, const std::string& where) {
  if (!w.has(name)) fail(where, "tensor '" + name + "' is missing (not a HunyuanVideo DiT?)");
  const at::Tensor& t = w.get(name);
  if (t.dim() <= i) fail(where, "tensor '" + name + "' has shape " + shape_str(t.sizes()) + ", expected at least " +
                                    std::to_string(i + 1) + " dimensions");
  return t.size(i);
}

// Number of distinct `prefix.N.` block indices; they must be 0..N-1.
int count_blocks(const TensorSet& w, const std::string& prefix, const std::string& where) {
  std::set<int> idx;
  const std::regex re("^" + prefix + "\\.([0-9]+)\\.");
  for (const auto& n : w.names()) {
    std::smatch m;
    if (std::regex_search(n, m, re)) {
      const std::string s = m[1].str();
      if (s.size() > 6) fail(where, "tensor '" + n + "' has an absurd block index");
      idx.insert(std::stoi(s));
    }
  }
  for (int i = 0; i < static_cast<int>(idx.size()); ++i)
    if (!idx.count(i)) fail(where, prefix + " block " + std::to_string(i) + " is missing (blocks found up to " +
                                       std::to_string(*idx.rbegin()) + ")");
  return static_cast<int>(idx.size());
}

}  // namespace

bool is_hunyuan_release(const std::string& dir) { return !release_root(dir).empty(); }

HunyuanRelease find_hunyuan_release(const std::string& dir) {
  HunyuanRelease r;
  r.root = release_root(dir);
  if (r.root.empty())
    fail(dir, std::string("is not a HunyuanVideo-I2V release folder: no ") + kDitFile +
                  " in it or in a hunyuan-video-i2v-* sub-folder");
  const fs::path root(r.root);
  r.dit = (root / kDitFile).string();
  if (is_file(root / "transformers/config.json")) r.dit_config = (root / "transformers/config.json").string();
  r.vae_config = (root / "vae/config.json").string();
  r.vae_weights = (root / "vae/pytorch_model.pt").string();
  for (const auto& f : {r.vae_config, r.vae_weights})
    if (!is_file(f)) fail(f, "is missing (the release's VAE: vae/config.json and vae/pytorch_model.pt)");
  // Text encoders: beside the release folder (ckpts/) or inside the folder given.
  for (const fs::path& base : {root.parent_path(), root, fs::path(dir)}) {
    if (r.text_encoder_i2v.empty() && is_file(base / "text_encoder_i2v/config.json"))
      r.text_encoder_i2v = (base / "text_encoder_i2v").string();
    if (r.text_encoder_2.empty() && is_file(base / "text_encoder_2/config.json"))
      r.text_encoder_2 = (base / "text_encoder_2").string();
  }
  return r;
}

TensorSet load_hunyuan_release_dit(const HunyuanRelease& r, const std::string& entry) {
  if (entry != "module" && entry != "ema") fail("--load-key", "must be module or ema, got '" + entry + "'");
  return load_pth_entry(r.dit, entry);
}

TensorSet load_hunyuan_release_vae(const HunyuanRelease& r) {
  return hunyuan_vae_strip_prefix(load_pth_entry(r.vae_weights, "state_dict", /*optional=*/true));
}

HunyuanConfig hunyuan_config_from_weights(const TensorSet& w, const std::string& where, const std::string& config_json) {
  HunyuanConfig c;
  if (!config_json.empty()) {  // only what no tensor holds: the RoPE split and base
    const nlohmann::json j = read_json_object_file(config_json);
    const nlohmann::json& a = j.contains("constructor_args") ? j.at("constructor_args") : j;
    if (!a.contains("rope_dim_list") || !a.at("rope_dim_list").is_array() || a.at("rope_dim_list").size() != 3)
      fail(config_json, "needs \"rope_dim_list\": [t, h, w] (the RoPE split no tensor holds)");
    for (size_t i = 0; i < 3; ++i) {
      const nlohmann::json& v = a.at("rope_dim_list")[i];
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 65536)
        fail(config_json, "rope_dim_list entries must be small non-negative integers, got " + v.dump());
      c.rope_dim_list[i] = v.get<int>();
    }
    if (a.contains("rope_theta")) {
      if (!a.at("rope_theta").is_number() || !(a.at("rope_theta").get<double>() > 0))
        fail(config_json, "rope_theta must be a positive number, got " + a.at("rope_theta").dump());
      c.rope_theta = a.at("rope_theta").get<double>();
    }
  }
  c.hidden_size = static_cast<int>(dim_of(w, "img_in.proj.weight", 0, where));
  c.in_channels = static_cast<int>(dim_of(w, "img_in.proj.weight", 1, where));
  for (int i = 0; i < 3; ++i) c.patch_size[static_cast<size_t>(i)] = static_cast<int>(dim_of(w, "img_in.proj.weight", 2 + i, where));
  c.out_channels = static_cast<int>(dim_of(w, "final_layer.linear.weight", 0, where) / c.patch_volume());
  c.mm_double_blocks_depth = count_blocks(w, "double_blocks", where);
  c.mm_single_blocks_depth = count_blocks(w, "single_blocks", where);
  const int64_t hd = c.mm_double_blocks_depth > 0 ? dim_of(w, "double_blocks.0.img_attn_q_norm.weight", 0, where)
                                                  : dim_of(w, "single_blocks.0.q_norm.weight", 0, where);
  if (hd < 1 || c.hidden_size % hd != 0)
    fail(where, "the QK-norm width " + std::to_string(hd) + " does not divide the hidden size " + std::to_string(c.hidden_size));
  c.heads_num = static_cast<int>(c.hidden_size / hd);
  const int64_t mlp = c.mm_double_blocks_depth > 0 ? dim_of(w, "double_blocks.0.img_mlp.fc1.weight", 0, where)
                                                   : dim_of(w, "single_blocks.0.linear1.weight", 0, where) - 3 * c.hidden_size;
  c.mlp_width_ratio = double(mlp) / double(c.hidden_size);
  c.qkv_bias = c.mm_double_blocks_depth > 0 ? w.has("double_blocks.0.img_attn_qkv.bias") : true;
  c.guidance_embed = w.has("guidance_in.mlp.0.weight");
  c.text_states_dim = static_cast<int>(dim_of(w, "txt_in.input_embedder.weight", 1, where));
  c.text_states_dim_2 = static_cast<int>(dim_of(w, "vector_in.in_layer.weight", 1, where));
  c.refiner_depth = count_blocks(w, "txt_in\\.individual_token_refiner\\.blocks", where);
  if (config_json.empty() && hd != 128)
    fail(where, "head dim " + std::to_string(hd) + " is not the release's 128 and no tensor holds the RoPE split: put a "
                "transformers/config.json with \"rope_dim_list\" beside the checkpoint");
  if (c.in_channels != c.out_channels)
    fail(where, "in_channels " + std::to_string(c.in_channels) + " != out_channels " + std::to_string(c.out_channels) +
                    ": a latent_concat I2V model (only token_replace is supported)");
  naming_file(config_json.empty() ? where : config_json, [&] { c.validate(); return 0; });
  return c;
}

std::string hunyuan_variant(const HunyuanConfig& c, const HunyuanRelease& r) {
  std::string name = "HunyuanVideo-I2V";
  const std::string folder = fs::path(r.root).filename().string();
  std::smatch m;  // the release names its resolution in the folder: hunyuan-video-i2v-720p
  if (std::regex_search(folder, m, std::regex("([0-9]+p)"))) name += " " + m[1].str();
  const bool release = c.hidden_size == 3072 && c.mm_double_blocks_depth == 20 && c.mm_single_blocks_depth == 40;
  return name + " (" + c.i2v_condition_type + (c.guidance_embed ? ", guidance-embedded" : ", no guidance embedding") +
         ", " + std::to_string(c.mm_double_blocks_depth) + " double + " + std::to_string(c.mm_single_blocks_depth) +
         " single blocks, hidden " + std::to_string(c.hidden_size) + (release ? ", the release's sizes" : ", not the release's sizes") + ")";
}

}  // namespace focalscope
