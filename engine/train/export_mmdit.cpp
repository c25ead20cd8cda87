// export_mmdit_model: the embedded MMDiT's model folder. Its own files are the DiT (EMA weights, float16 on disk) and
// the TinyMllm; the tokenizer, CLIP and VAE are the Wan toy's, referenced from the base folder (../shapes) rather than
// copied, after checking they are the very files the MMDiT was trained against (the VAE by its encoder's tensors: the
// base ships the decoder-refined VAE, whose encoder bytes are the trained one's).
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "engine/core/safetensors.h"
#include "engine/train/checkpoint.h"
#include "engine/train/clip_stage.h"
#include "engine/train/dit_stage.h"
#include "engine/train/export_model.h"
#include "engine/train/latent_pool.h"
#include "engine/train/mmdit_stage.h"
#include "engine/train/vae_stage.h"
#include "engine/train/wan_teacher.h"

namespace focalscope::train {


nlohmann::json export_mmdit_model(const ExportOptions& opt, const std::string& base_dir) {
  namespace fs = std::filesystem;
  const std::string ckpt = mmdit_checkpoint_path(opt.train_dir);
  if (!fs::exists(ckpt)) fail(ckpt, "missing: run `focalscope train --stage mmdit` first");
  const fs::path base(base_dir);
  const nlohmann::json base_manifest = load_model_bundle(base.string())->layout.manifest;
  auto base_file = [&](const char* comp, const char* key) { return (base / base_manifest.at(comp).at(key).get<std::string>()).string(); };
  require_same_file(tokenizer_output_path(opt.train_dir), base_file("text_encoder", "tokenizer"));
  require_same_file(clip_output_path(opt.train_dir), base_file("clip", "weights"));
  require_same_vae_encoder(vae_output_path(opt.train_dir), base_file("vae", "weights"));

  auto ck = read_checkpoint(ckpt);
  if (ck->meta.value("stage", "") != "mmdit") fail(ckpt, "not an MMDiT checkpoint");
  const auto& cfg = ck->meta.at("config");
  const fs::path dst(opt.model_dir);
  const fs::path tmp = dst.string() + ".tmp-export";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const std::string pre = opt.use_ema ? "ema." : "param.";
  save_safetensors((tmp / "mmdit.safetensors").string(), take_prefixed(ck->tensors, pre + "dit.", opt.dit_fp16),
                   {{"format", "pt"}, {"config", cfg.at("dit").dump()}});
  save_safetensors((tmp / "mllm.safetensors").string(), take_prefixed(ck->tensors, pre + "mllm.", false),
                   {{"format", "pt"}, {"mllm_config", cfg.at("mllm").dump()}});

  // Paths into the base folder, relative to the new one (both live in assets/models/).
  const std::string rel = "../" + base.filename().string() + "/";
  nlohmann::json m;
  m["name"] = opt.name;
  m["format_version"] = 1;
  m["architecture"] = "hunyuan-mmdit";
  m["base"] = {{"dir", "../" + base.filename().string()}, {"name", base_manifest.value("name", std::string())},
               {"shared", "tokenizer, CLIP (image + text tower), VAE"}};
  m["dit"] = {{"config", cfg.at("dit")}, {"weights", "mmdit.safetensors"}, {"guidance_value", cfg.at("guidance_value")}};
  m["text_encoder"] = {{"config", cfg.at("mllm")}, {"weights", "mllm.safetensors"},
                       {"tokenizer", rel + base_manifest.at("text_encoder").at("tokenizer").get<std::string>()}};
  nlohmann::json clip = base_manifest.at("clip");
  clip["weights"] = rel + clip.at("weights").get<std::string>();
  m["clip"] = clip;
  nlohmann::json vae = base_manifest.at("vae");
  vae["weights"] = rel + vae.at("weights").get<std::string>();
  m["vae"] = vae;
  m["sampling"] = embedded_sampling_defaults().to_json();
  m["training"] = export_provenance(opt, *ck);
  // A model distilled from a teacher says which one (the mean of its targets came from that model, at that share).
  if (auto it = ck->meta.find("teacher"); it != ck->meta.end() && !it->is_null()) m["training"]["teacher"] = *it;
  {
    std::ofstream out(tmp / "focalscope.json");
    out << m.dump(2) << "\n";
    if (!out) fail((tmp / "focalscope.json").string(), "cannot write");
  }
  // Loaded back from its final place (the base paths are relative to it), the previous export kept until then.
  const fs::path old = dst.string() + ".old-export";
  fs::remove_all(old);
  if (fs::exists(dst)) fs::rename(dst, old);
  fs::create_directories(dst.parent_path());
  fs::rename(tmp, dst);
  try {
    load_model_bundle(dst.string());
  } catch (...) {
    fs::remove_all(dst);
    if (fs::exists(old)) fs::rename(old, dst);
    throw;
  }
  fs::remove_all(old);
  return m;
}

}  // namespace focalscope::train
