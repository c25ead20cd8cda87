#include "engine/train/export_model.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"
#include "engine/train/checkpoint.h"
#include "engine/train/clip_stage.h"
#include "engine/train/dit_stage.h"
#include "engine/train/vae_decoder_stage.h"
#include "engine/train/vae_stage.h"

namespace focalscope::train {

SamplingDefaults embedded_sampling_defaults() {
  SamplingDefaults d;
  d.solver = "unipc";
  d.steps = 25;
  d.shift = 3.0;
  d.guide_scale = 2.5;
  d.frames = 13;
  d.max_area = 64 * 64;
  d.fps = 8;
  d.negative_prompt = "";
  return d;
}

namespace {
nlohmann::json meta_json(const std::string& path, const std::string& key) {
  const auto file = SafetensorsFile::open(path);  // keep it alive while reading its metadata
  const auto& m = file->metadata();
  auto it = m.find(key);
  if (it == m.end()) fail(path, "has no '" + key + "' metadata (not written by focalscope train?)");
  return parse_json_text(it->second, path + ": metadata  + key + ");
}
}  // namespace

nlohmann::json export_provenance(const ExportOptions& opt, const CheckpointData& ck) {
  nlohmann::json prov = opt.provenance;
  prov["dit_step"] = ck.step;
  prov["seed"] = ck.meta.at("seed");
  prov["weights"] = opt.use_ema ? "EMA" : "raw";
  // A checkpoint trained with --lr-cooldown says so (its rate ended annealed: continuing it is a different recipe).
  if (auto it = ck.meta.find("lr_cooldown"); it != ck.meta.end() && it->value("steps", 0) > 0) prov["lr_cooldown"] = *it;
  const auto& cfg = ck.meta.at("config");
  if (cfg.contains("world")) prov["world"] = cfg.at("world");  // the clips it was trained on (the fine-tune reuses it)
  return prov;
}

nlohmann::json export_model(const ExportOptions& opt) {
  namespace fs = std::filesystem;
  const std::string tok = tokenizer_output_path(opt.train_dir), vae = vae_output_path(opt.train_dir),
                    clip = clip_output_path(opt.train_dir), ckpt = dit_checkpoint_path(opt.train_dir);
  for (const auto& p : {tok, vae, clip, ckpt})
    if (!fs::exists(p)) fail(p, "missing: train every stage (tokenizer, vae, clip, dit) before exporting");
  auto ck = read_checkpoint(ckpt);
  const auto& cfg = ck->meta.at("config");

  // Stage into a temporary sibling and swap it in at the end, so a reader never sees a half-written model.
  const fs::path dst(opt.model_dir);
  const fs::path tmp = dst.string() + ".tmp-export";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const std::string pre = opt.use_ema ? "ema." : "param.";
  save_safetensors((tmp / "dit.safetensors").string(), take_prefixed(ck->tensors, pre + "dit.", opt.dit_fp16),
                   {{"format", "pt"}, {"config", cfg.at("dit").dump()}});
  save_safetensors((tmp / "umt5.safetensors").string(), take_prefixed(ck->tensors, pre + "t5.", false),
                   {{"format", "pt"}, {"umt5_config", cfg.at("t5").dump()}});
  // The decoder-refined VAE when there is one (same encoder bytes, so the DiT's latents are unchanged).
  const std::string refined_vae = refined_vae_for_export(opt.train_dir);
  fs::copy_file(refined_vae.empty() ? vae : refined_vae, tmp / "vae.safetensors");
  fs::copy_file(clip, tmp / "clip.safetensors");
  fs::copy_file(tok, tmp / "spiece.model");

  nlohmann::json m;
  m["name"] = opt.name;
  m["format_version"] = 1;
  m["dit"] = {{"config", cfg.at("dit")}, {"weights", "dit.safetensors"}};
  m["text_encoder"] = {{"config", cfg.at("t5")}, {"weights", "umt5.safetensors"}, {"tokenizer", "spiece.model"}};
  m["clip"] = {{"config", meta_json(clip, "clip_vision_config")},
               {"text_config", meta_json(clip, "clip_text_config")},
               {"weights", "clip.safetensors"},
               {"prefix", "visual."},
               {"text_prefix", "textual."},
               {"blocks", ck->meta.at("clip_blocks")}};
  m["vae"] = {{"config", meta_json(vae, "focalscope.vae_config")}, {"weights", "vae.safetensors"}};
  m["sampling"] = embedded_sampling_defaults().to_json();
  nlohmann::json prov = export_provenance(opt, *ck);
  if (!refined_vae.empty()) {
    const auto file = SafetensorsFile::open(refined_vae);  // keep it alive: metadata() refers into it
    const auto& meta = file->metadata();
    if (auto it = meta.find("focalscope.vae_decoder_step"); it != meta.end()) prov["vae_decoder_step"] = std::stoll(it->second);
  }
  m["training"] = prov;
  {
    std::ofstream out(tmp / "focalscope.json");
    out << m.dump(2) << "\n";
    if (!out) fail((tmp / "focalscope.json").string(), "cannot write");
  }
  load_model_bundle(tmp.string());  // throws if the engine cannot read what we wrote

  const fs::path old = dst.string() + ".old-export";
  fs::remove_all(old);
  if (fs::exists(dst)) fs::rename(dst, old);
  fs::create_directories(dst.parent_path());
  fs::rename(tmp, dst);
  fs::remove_all(old);
  return m;
}

}  // namespace focalscope::train
