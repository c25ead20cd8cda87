// A small, self-consistent FocalScope model folder for the GUI / session tests.
//
// The checkpoint-layout fixture (../shared/fixtures/wan_checkpoint_layout) is the official Wan2.1-I2V layout with
// tiny random weights, but its CLIP tower (64 wide) does not fit its DiT's img_emb (1280 wide), so it is not a
// runnable generator (see tests/test_checkpoint_layout.cpp). As there, a random 1280-wide tower (1 block, 32 px,
// patch 8) is swapped in; the rest is the fixture's weights. Sampling defaults: 6 steps, CFG 2.5, 5 frames at
// 64x64, so a whole A/B pair takes a second or two on a 2-core CPU. The manifest marks layer 1 (of 3) as
// semantic-weak. There is no CLIP text tower, so Focal Guidance needs its keywords given.
#pragma once
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/core/safetensors.h"
#include "engine/pipeline/model_bundle.h"

namespace focalscope::testing {

// Writes the folder (focalscope.json + safetensors + spiece.model) and loads it back with the consistency check.
inline void write_gui_test_model(const std::string& fixture_dir, const std::string& dst) {
  std::filesystem::create_directories(dst);
  LoadOptions opt;
  opt.check = false;
  auto b = load_model_bundle(fixture_dir, opt);
  ClipVisionConfig c = b->clip.cfg;
  c.dim = 1280;
  c.num_heads = 16;
  c.num_layers = 1;
  c.mlp_ratio = 1.0;
  c.image_size = 32;
  c.patch_size = 8;
  b->clip = ClipVision::random_init(c, 3);
  save_safetensors(dst + "/dit.safetensors", b->dit.named_parameters(), {{"format", "pt"}});
  b->t5.save(dst + "/umt5.safetensors");
  b->clip.save(dst + "/clip.safetensors", "visual.");
  b->vae.save(dst + "/vae.safetensors");
  std::filesystem::copy_file(b->layout.tokenizer, dst + "/spiece.model", std::filesystem::copy_options::overwrite_existing);
  nlohmann::json m;
  m["name"] = "gui-test (checkpoint-layout fixture, random CLIP)";
  m["format_version"] = 1;
  m["dit"] = {{"config", b->dit.cfg.to_json()}, {"weights", "dit.safetensors"}};
  m["text_encoder"] = {{"config", b->t5.config.to_json()}, {"weights", "umt5.safetensors"}, {"tokenizer", "spiece.model"}};
  m["clip"] = {{"config", c.to_json()}, {"weights", "clip.safetensors"}, {"prefix", "visual."}, {"blocks", 1}};
  m["vae"] = {{"config", b->vae.cfg.to_json()}, {"weights", "vae.safetensors"}};
  SamplingDefaults d;
  d.steps = 6;
  d.frames = 5;
  d.max_area = 64 * 64;
  d.fps = 8;
  d.guide_scale = 2.5;
  m["sampling"] = d.to_json();
  m["weak_layers"] = {1};  // as `focalscope analyze` would record it; lets Focal Guidance run on this model
  std::ofstream(dst + "/focalscope.json") << m.dump(2) << "\n";
  load_model_bundle(dst);
}

}  // namespace focalscope::testing
