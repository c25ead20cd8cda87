// A tiny HunyuanVideo-I2V release folder for tests, under the release's file names (ARCHITECTURE.md §1):
//   <top>/ckpts/hunyuan-video-i2v-720p/transformers/mp_rank_00_model_states.pt   {"module", "ema", "ds_version"}
//   .../transformers/config.json                                                   rope_dim_list (head dim 48)
//   .../vae/{config.json, pytorch_model.pt}                                        {"state_dict": {"vae.*": ...}}
//   <top>/ckpts/text_encoder_i2v/, text_encoder_2/                                 tiny Hugging Face folders
// The DiT is random with the reference fixture's sizes ("ema" = the weights halved), the VAE the VAE fixture's
// weights. Written with tests/pth_writer.h (the format, not the loader's code). Also the CLI runner both tests use.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/core/error.h"
#include "engine/core/fixture.h"
#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/models/hunyuan/text/hunyuan_text_encoders.h"
#include "tests/fixture_check.h"
#include "tests/pth_writer.h"
#include "tests/test_util.h"

namespace focalscope::testing {

struct HunyuanReleaseLayout {
  std::filesystem::path top, ckpts, root;  // root = ckpts/hunyuan-video-i2v-720p; empty when the fixtures are absent
  HunyuanConfig dit_cfg;
  HunyuanModel dit;
};

inline std::string hunyuan_fixture(const char* name) { return shared_fixture("hunyuan_reference") + "/" + name; }

// Writes the folder under `top` (removed at exit). text_widths_of_encoders: the DiT's text widths are the tiny text
// encoders' (so the whole pipeline runs), else the DiT fixture's.
inline HunyuanReleaseLayout write_hunyuan_release_layout(const std::filesystem::path& top, bool text_widths_of_encoders,
                                                         uint64_t seed, double std) {
  namespace fs = std::filesystem;
  HunyuanReleaseLayout r;
  if (!fs::exists(hunyuan_fixture("hunyuan_dit_i2v_tiny") + "/config.json") ||
      !fs::exists(hunyuan_fixture("hunyuan_vae_tiny") + "/config.json"))
    return r;
  r.top = top;
  r.ckpts = top / "ckpts";
  r.root = r.ckpts / "hunyuan-video-i2v-720p";
  static std::vector<fs::path> to_remove;
  if (to_remove.empty()) std::atexit([] { for (const auto& p : to_remove) { std::error_code ec; fs::remove_all(p, ec); } });
  to_remove.push_back(top);
  fs::create_directories(r.root / "transformers");
  fs::create_directories(r.root / "vae");
  const TinyTextEncoderSpec tspec;
  const Fixture dit_fx = load_fixture(hunyuan_fixture("hunyuan_dit_i2v_tiny"));
  r.dit_cfg = HunyuanConfig::from_json(dit_fx.config);
  r.dit_cfg.text_states_dim = static_cast<int>(text_widths_of_encoders ? tspec.llm_hidden
                                                                        : dit_fx.weights.get("txt_in.input_embedder.weight").size(1));
  r.dit_cfg.text_states_dim_2 = static_cast<int>(text_widths_of_encoders ? tspec.clip_hidden
                                                                          : dit_fx.weights.get("vector_in.in_layer.weight").size(1));
  at::manual_seed(static_cast<uint64_t>(seed));
  r.dit = HunyuanModel::random(r.dit_cfg, at::kFloat, c10::Device(c10::kCPU), std);
  std::vector<std::pair<std::string, at::Tensor>> module, ema;
  for (const auto& [n, t] : r.dit.named_parameters()) {
    module.emplace_back(n, t);
    ema.emplace_back(n, t * 0.5);
  }
  write_torch_checkpoint((r.root / "transformers/mp_rank_00_model_states.pt").string(),
                         {{"module", module, ""}, {"ema", ema, ""}, {"ds_version", {}, "0.10.0"}});
  // The tiny head dim (48) is not the release's: the RoPE split comes from FocalScope's optional config.json.
  std::ofstream(r.root / "transformers/config.json") << nlohmann::json{{"rope_dim_list", r.dit_cfg.rope_dim_list}}.dump();
  const Fixture vae_fx = load_fixture(hunyuan_fixture("hunyuan_vae_tiny"));
  std::ofstream(r.root / "vae/config.json") << vae_fx.config.at("constructor_args").dump();
  std::vector<std::pair<std::string, at::Tensor>> vae;
  for (const auto& n : vae_fx.weights.names()) vae.emplace_back("vae." + n, vae_fx.weights.get(n));
  write_torch_checkpoint((r.root / "vae/pytorch_model.pt").string(), {{"state_dict", vae, ""}});
  write_tiny_text_encoder_folders(r.ckpts.string(), tspec);
  return r;
}

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace focalscope::testing
