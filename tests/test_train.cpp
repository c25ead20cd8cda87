// Micro trainings of every stage on tiny configs (48x48 px, 5 frames, a few thousand parameters): the loss
// falls, a run resumed from a checkpoint takes exactly the step an uninterrupted run takes, a seed gives the same
// run twice, and the exported folder loads and generates a video the checker can read.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <numeric>

#include "analysis/shapes_checker.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/shapes/shapes_world.h"
#include "engine/text/tokenizer.h"
#include "engine/train/checkpoint.h"
#include "engine/train/clip_stage.h"
#include "engine/train/dit_stage.h"
#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/train/export_model.h"
#include "engine/train/finetune_stage.h"
#include "engine/train/latent_pool.h"
#include "engine/train/mmdit_stage.h"
#include "engine/clip/clip_text.h"
#include "engine/clip/clip_vision.h"
#include "engine/train/optimizer.h"
#include "engine/train/plant_weak_stage.h"
#include "engine/train/shapes_data.h"
#include "engine/train/tokenizer_stage.h"
#include "engine/train/train_loop.h"
#include "engine/train/vae_decoder_stage.h"
#include "engine/train/vae_stage.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace focalscope;
using namespace focalscope::train;

namespace {

StageOptions options(const std::string& dir, int64_t steps) {
  StageOptions o;
  o.out_dir = dir;
  o.steps = steps;
  o.seed = 7;
  o.quiet = true;
  o.log_every = 1;
  o.checkpoint_minutes = 0;  // only the final checkpoint
  return o;
}

// The values of one column of a stage's loss.csv, in row order.
std::vector<double> csv_column(const std::string& path, const std::string& name) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  int col = -1, i = 0;
  std::stringstream header(line);
  for (std::string h; std::getline(header, h, ','); ++i)
    if (h == name) col = i;
  std::vector<double> out;
  while (col >= 0 && std::getline(in, line)) {
    std::stringstream row(line);
    std::string cell;
    for (int j = 0; j <= col && std::getline(row, cell, ','); ++j) {}
    out.push_back(std::stod(cell));
  }
  return out;
}

double mean(const std::vector<double>& v, size_t from, size_t n) {
  return std::accumulate(v.begin() + from, v.begin() + from + n, 0.0) / n;
}

// One tiny training directory shared by the tests (stages depend on each other), built once.
const std::string& base_dir() {
  static const std::string dir = [] {
    set_compute_threads(1);
    std::string d = focalscope::testing::temp_dir("train");
    fs::remove_all(d);
    train_tokenizer(options(d, 0), TokenizerTrainConfig{1500, 128});
    return d;
  }();
  return dir;
}

// Trains a fresh copy of the base directory's stage to `steps` in `dir` (after copying the prerequisites).
std::string fresh_copy(const std::string& tag) {
  std::string d = base_dir() + "_" + tag;
  fs::remove_all(d);
  fs::copy(base_dir(), d, fs::copy_options::recursive);
  return d;
}

}  // namespace

TEST(Train, TokenizerHasUmt5SpecialIds) {
  WanTokenizer tok(base_dir() + "/tokenizer/spiece.model");
  EXPECT_GT(tok.vocab_size(), 40);
  EXPECT_EQ(tok.id_to_piece(1), "</s>");
  Tokenized t = tok.encode("The red ball moves left.", 16);
  EXPECT_EQ(t.ids[t.length() - 1], WanTokenizer::kEosId);
  EXPECT_EQ(tok.encode("", 16).length(), 1);  // "" = just EOS (the dropped-prompt condition)
}

TEST(Train, LrCooldownFallsLinearlyToZeroAtTheTarget) {
  EXPECT_EQ(lr_cooldown_factor(0, 100, 0), 1.0);    // off
  EXPECT_EQ(lr_cooldown_factor(99, 100, 0), 1.0);
  EXPECT_EQ(lr_cooldown_factor(89, 100, 10), 1.0);  // before the last 10 steps
  EXPECT_EQ(lr_cooldown_factor(90, 100, 10), 1.0);  // the first cooled step still runs at the full rate
  EXPECT_DOUBLE_EQ(lr_cooldown_factor(95, 100, 10), 0.5);
  EXPECT_DOUBLE_EQ(lr_cooldown_factor(99, 100, 10), 0.1);
  EXPECT_EQ(lr_cooldown_factor(100, 100, 10), 0.0);  // at and past the target: 0, never negative
  EXPECT_EQ(lr_cooldown_factor(120, 100, 10), 0.0);
}

TEST(Train, AdamWMinimisesAQuadratic) {
  at::Tensor w = at::full({4}, 3.0);
  AdamW opt({{"w", w}}, AdamW::Options{0.9, 0.999, 1e-8, 0.0, 0.0});
  for (int i = 0; i < 300; ++i) {
    (w - 1.0).pow(2).sum().backward();
    opt.step(0.05);
  }
  EXPECT_NEAR(w.mean().item<double>(), 1.0, 0.05);
}

TEST(Train, VaeLossFallsResumesAndIsDeterministic) {
  const VaeTrainConfig cfg = VaeTrainConfig::tiny();
  StageResult full = train_vae(options(base_dir(), 20), cfg);
  ASSERT_EQ(full.losses.size(), 20u);
  ASSERT_EQ(cfg.image_steps, 14);
  EXPECT_LT(mean(full.losses, 10, 4), 0.8 * mean(full.losses, 0, 4)) << "phase 1 (single frames)";
  EXPECT_LT(mean(full.losses, 16, 4), 0.9 * mean(full.losses, 14, 2)) << "phase 2 (clips)";
  EXPECT_TRUE(fs::exists(vae_output_path(base_dir())));

  const std::string d = fresh_copy("vae");
  fs::remove_all(d + "/vae");
  StageResult first = train_vae(options(d, 15), cfg);  // stops inside phase 2
  for (int i = 0; i < 15; ++i) EXPECT_EQ(first.losses[i], full.losses[i]) << "step " << i << ": same seed, same run";
  StageOptions o = options(d, 16);
  o.resume = true;
  StageResult resumed = train_vae(o, cfg);
  ASSERT_EQ(resumed.first_step, 15);
  ASSERT_EQ(resumed.losses.size(), 1u);
  EXPECT_EQ(resumed.losses[0], full.losses[15]);
  fs::remove_all(d);
}

TEST(Train, VaeDecoderRefinesOnlyTheDecoderResumesAndExportChecksItsBase) {
  if (!fs::exists(vae_output_path(base_dir()))) train_vae(options(base_dir(), 20), VaeTrainConfig::tiny());
  const VaeDecoderTrainConfig cfg = VaeDecoderTrainConfig::tiny();
  const std::string d = fresh_copy("vae_decoder");
  StageResult full = train_vae_decoder(options(d, 8), cfg);
  ASSERT_EQ(full.losses.size(), 8u);
  for (double l : full.losses) ASSERT_TRUE(std::isfinite(l));
  EXPECT_LT(mean(full.losses, 6, 2), mean(full.losses, 0, 2)) << "one clip, decoder only: the loss falls";

  // Only conv2 + decoder.* moved; the encoder (and so every latent the DiT was trained on) is bit-identical.
  const TensorSet before = load_safetensors(vae_output_path(d)), after = load_safetensors(vae_decoder_output_path(d));
  ASSERT_EQ(before.names(), after.names());
  int moved = 0;
  for (const auto& n : before.names()) {
    const bool same = at::equal(before.get(n), after.get(n));
    if (n.rfind("encoder.", 0) == 0 || n.rfind("conv1.", 0) == 0) EXPECT_TRUE(same) << n;
    moved += !same;
  }
  EXPECT_GT(moved, 0);

  // Resume takes exactly the step an uninterrupted run takes.
  const std::string d2 = fresh_copy("vae_decoder2");
  train_vae_decoder(options(d2, 5), cfg);
  StageOptions o = options(d2, 6);
  o.resume = true;
  StageResult resumed = train_vae_decoder(o, cfg);
  ASSERT_EQ(resumed.first_step, 5);
  ASSERT_EQ(resumed.losses.size(), 1u);
  EXPECT_EQ(resumed.losses[0], full.losses[5]);

  // The exporter ships the refinement only while its base VAE is the current one.
  EXPECT_EQ(refined_vae_for_export(d), vae_decoder_output_path(d));
  EXPECT_EQ(refined_vae_for_export(base_dir()), "") << "no refinement there";
  fs::copy_file(vae_decoder_output_path(d), vae_output_path(d), fs::copy_options::overwrite_existing);
  try {
    refined_vae_for_export(d);
    ADD_FAILURE() << "a refinement of another base VAE must not be exported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("was refined from another"), std::string::npos) << e.what();
  }
  fs::remove_all(d);
  fs::remove_all(d2);
}

TEST(Train, ClipLossFallsAndResumes) {
  const ClipTrainConfig cfg = ClipTrainConfig::tiny();
  const std::string tok = base_dir() + "/tokenizer/spiece.model";
  StageResult full = train_clip(options(base_dir(), 20), cfg, tok);
  ASSERT_EQ(full.losses.size(), 20u);
  EXPECT_LT(mean(full.losses, 15, 5), 0.9 * mean(full.losses, 0, 5));
  EXPECT_NE(full.summary.find("grounding"), std::string::npos);

  const std::string d = fresh_copy("clip");
  fs::remove_all(d + "/clip");
  train_clip(options(d, 5), cfg, tok);
  StageOptions o = options(d, 6);
  o.resume = true;
  StageResult resumed = train_clip(o, cfg, tok);
  ASSERT_EQ(resumed.losses.size(), 1u);
  EXPECT_EQ(resumed.losses[0], full.losses[5]);
  fs::remove_all(d);
}

TEST(Train, DitLossFallsResumesExportsAndGenerates) {
  const DitTrainConfig cfg = DitTrainConfig::tiny();
  ASSERT_TRUE(fs::exists(clip_output_path(base_dir()))) << "runs after the CLIP test";
  StageResult full = train_dit(options(base_dir(), 30), cfg);
  ASSERT_EQ(full.losses.size(), 30u);
  EXPECT_LT(mean(full.losses, 22, 8), 0.8 * mean(full.losses, 0, 8));

  const std::string d = fresh_copy("dit");
  fs::remove_all(d + "/dit/checkpoint.safetensors");  // keeps the encoded pool: it is reused, not re-encoded
  StageResult first = train_dit(options(d, 4), cfg);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(first.losses[i], full.losses[i]) << "step " << i;
  StageOptions o = options(d, 5);
  o.resume = true;
  StageResult resumed = train_dit(o, cfg);
  ASSERT_EQ(resumed.losses.size(), 1u);
  EXPECT_EQ(resumed.losses[0], full.losses[4]);
  // A cool-down over the last 2 steps before --steps 7: step 5 runs at the full rate, step 6 at half of it.
  StageOptions cool = options(d, 7);
  cool.resume = true;
  cool.lr_cooldown = 2;
  ASSERT_EQ(train_dit(cool, cfg).losses.size(), 2u);
  const std::vector<double> lr = csv_column(d + "/dit/loss.csv", "lr");
  ASSERT_GE(lr.size(), 2u);
  EXPECT_DOUBLE_EQ(lr[lr.size() - 2], cfg.lr);
  EXPECT_DOUBLE_EQ(lr.back(), 0.5 * cfg.lr);
  fs::remove_all(d);

  // Export -> load -> generate -> check: the round trip the embedded model takes.
  ExportOptions e;
  e.train_dir = base_dir();
  e.model_dir = base_dir() + "/model";
  e.provenance = {{"command", "test_train"}};
  nlohmann::json m = export_model(e);
  EXPECT_EQ(m["sampling"]["frames"], 13);
  auto bundle = load_model_bundle(e.model_dir);
  WorldSpec w = cfg.world;
  const auto c = sample_case_robust(123, w);
  GenerateRequest req;
  req.image = frame_to_tensor(shapes::render_reference(c));
  req.prompt = c.prompt;
  req.steps = 2;
  req.frames = w.frames;
  req.max_area = static_cast<long long>(w.width) * w.height;
  GenerateResult r = generate(*bundle, req);
  ASSERT_EQ(r.video.sizes(), (at::IntArrayRef{3, w.frames, w.height, w.width}));
  const auto verdict = analysis::check_case(tensor_to_frames(r.video), c.annotation);
  EXPECT_FALSE(verdict.answers.empty());

  // Post-training of the weak layers with Focal Guidance: only layer 1's cross-attention moves, the result loads.
  FinetuneConfig ft;
  ft.model_dir = e.model_dir;
  ft.guidance.set_mode("fg");
  ft.guidance.weak_layers = {1};
  ft.guidance.tau_sel = -1;  // every prompt word is a keyword: guidance is surely active in this tiny model
  ft.pool_clips = 8;
  ft.batch = 2;
  ft.warmup = 1;
  ft.lr = 1e-2;
  StageOptions fo = options(base_dir() + "/ft", 2);
  const StageResult fr = finetune_weak_layers(fo, ft);
  EXPECT_NE(fr.summary.find("guidance on 100%"), std::string::npos) << fr.summary;
  const TensorSet before = load_tensor_file(e.model_dir + "/dit.safetensors");
  const TensorSet after = load_tensor_file(base_dir() + "/ft/finetune/model/dit.safetensors");
  const auto trained = weak_layer_param_names({1}, true);
  int changed = 0;
  for (const auto& n : before.names()) {
    const bool same = at::equal(before.get(n), after.get(n));
    if (std::find(trained.begin(), trained.end(), n) == trained.end())
      EXPECT_TRUE(same) << n << " is not a weak-layer cross-attention weight but changed";
    else
      changed += !same;
  }
  EXPECT_GE(changed, 4) << "the weak layer's cross-attention should have moved";
  auto tuned = load_model_bundle(base_dir() + "/ft/finetune/model");
  EXPECT_NE(tuned->layout.manifest["name"].get<std::string>().find("+ft-fg"), std::string::npos);

  // Planting a weak layer: the derived folder holds only its DiT and manifest and refers to the base's other files;
  // the planted layer's text keys / values start over from random weights, the rest of the DiT only fine-tunes.
  PlantWeakConfig pc;
  pc.model_dir = e.model_dir;
  pc.layers = {1};
  pc.pool_clips = 4;
  pc.batch = 2;
  pc.steps = 2;
  pc.warmup = 1;
  pc.cooldown = 1;
  pc.export_dir = base_dir() + "/planted";
  const StageResult pr = plant_weak_layers(options(base_dir() + "/plant", 2), pc);
  EXPECT_EQ(pr.steps_done, 2);
  std::vector<std::string> files;
  for (const auto& f : fs::directory_iterator(pc.export_dir)) files.push_back(f.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"dit.safetensors", "focalscope.json"}));
  auto planted = load_model_bundle(pc.export_dir);
  const nlohmann::json& pm = planted->layout.manifest;
  EXPECT_EQ(pm["planted_weak_layers"], nlohmann::json::array({1}));
  EXPECT_FALSE(pm.contains("weak_layers")) << "the base's detector verdict must not carry over";
  EXPECT_EQ(pm["vae"]["weights"].get<std::string>().rfind("../", 0), 0u) << pm["vae"]["weights"];
  EXPECT_TRUE(fs::equivalent(planted->layout.vae_weights, e.model_dir + "/vae.safetensors"));
  EXPECT_TRUE(fs::equivalent(planted->layout.tokenizer, bundle->layout.tokenizer));
  const TensorSet base_w = load_tensor_file(e.model_dir + "/dit.safetensors");
  const TensorSet plant_w = load_tensor_file(pc.export_dir + "/dit.safetensors");
  auto rel_change = [&](const std::string& n) {
    at::Tensor a = base_w.get(n).to(at::kFloat), b = plant_w.get(n).to(at::kFloat);
    return (a - b).norm().item<double>() / a.norm().item<double>();
  };
  EXPECT_GT(rel_change("blocks.1.cross_attn.v.weight"), 0.5) << "re-initialised";
  EXPECT_LT(rel_change("blocks.0.cross_attn.v.weight"), 0.2) << "only fine-tuned";
  EXPECT_LT(rel_change("blocks.1.cross_attn.v_img.weight"), 0.2) << "the image values are kept";
  GenerateResult pg = generate(*planted, req);  // an ordinary model: every layer receives the prompt
  EXPECT_EQ(pg.video.sizes(), r.video.sizes());
  // Resuming with another layer set is refused, naming the checkpoint.
  pc.layers = {0};
  StageOptions again = options(base_dir() + "/plant", 3);
  again.resume = true;
  try {
    plant_weak_layers(again, pc);
    ADD_FAILURE() << "resumed with another layer set";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("checkpoint.safetensors"), std::string::npos) << err.what();
  }
}

namespace {
// Counts the probe seam's calls per layer (the MMDiT numbers double blocks, then single blocks).
struct LayerCounter final : ProbeListener {
  std::vector<int> calls;
  bool wants(const ForwardInfo&, int) const override { return true; }
  void on_cross_attn_values(BlockProbe& p) override {
    if (static_cast<int>(calls.size()) <= p.layer) calls.resize(p.layer + 1);
    ++calls[p.layer];
    EXPECT_TRUE(p.img_v.defined()) << "the MMDiT marks its image rows as the visual context";
  }
};
}  // namespace

// The embedded MMDiT's stage on the same tiny directory: loss falls, resume is exact, export references the Wan
// toy's tokenizer / CLIP / VAE, and the folder generates through the same generate() as Wan.
TEST(Train, MmditLossFallsResumesExportsAndGenerates) {
  const MmditTrainConfig cfg = MmditTrainConfig::tiny();
  ASSERT_TRUE(fs::exists(base_dir() + "/model/focalscope.json")) << "runs after the DiT test (its export is the base)";
  StageResult full = train_mmdit(options(base_dir(), 30), cfg);
  ASSERT_EQ(full.losses.size(), 30u);
  EXPECT_LT(mean(full.losses, 22, 8), 0.8 * mean(full.losses, 0, 8));
  const std::string d = fresh_copy("mmdit");
  fs::remove_all(d + "/mmdit/checkpoint.safetensors");
  StageResult first = train_mmdit(options(d, 4), cfg);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(first.losses[i], full.losses[i]) << "step " << i;
  StageOptions o = options(d, 5);
  o.resume = true;
  StageResult resumed = train_mmdit(o, cfg);
  ASSERT_EQ(resumed.losses.size(), 1u);
  EXPECT_EQ(resumed.losses[0], full.losses[4]);
  fs::remove_all(d);

  // Distillation (--teacher): the Wan toy of the same directory supplies the target. The student starts at v = 0
  // (adaLN-Zero), so step 0's loss is the target's weighted energy and differs from the plain run's; the teacher's
  // target is a function of the input, so the loss falls further than the plain run's, whose target keeps the
  // flow-matching noise; resume is exact, and the checkpoint and the export name the teacher.
  const std::string dt = fresh_copy("mmdit_teacher");
  fs::remove_all(dt + "/mmdit/checkpoint.safetensors");
  MmditTrainConfig tcfg = cfg;
  tcfg.teacher_dir = base_dir() + "/model";
  StageResult taught = train_mmdit(options(dt, 30), tcfg);
  ASSERT_EQ(taught.losses.size(), 30u);
  EXPECT_NE(taught.losses[0], full.losses[0]);
  EXPECT_LT(mean(taught.losses, 22, 8) / mean(taught.losses, 0, 8), mean(full.losses, 22, 8) / mean(full.losses, 0, 8))
      << "the teacher's target is learnable to a lower relative loss than eps - x0";
  {
    auto ck = read_checkpoint(mmdit_checkpoint_path(dt));
    ASSERT_TRUE(ck);
    EXPECT_EQ(ck->meta.at("teacher").at("dir"), "model");
    EXPECT_EQ(ck->meta.at("teacher").at("share"), 1.0);
  }
  StageOptions to = options(dt, 31);
  to.resume = true;
  fs::copy(mmdit_checkpoint_path(dt), dt + "/at30.safetensors");
  StageResult tr = train_mmdit(to, tcfg);
  ASSERT_EQ(tr.losses.size(), 1u);
  fs::copy(dt + "/at30.safetensors", mmdit_checkpoint_path(dt), fs::copy_options::overwrite_existing);
  StageResult tr2 = train_mmdit(to, tcfg);
  EXPECT_EQ(tr2.losses[0], tr.losses[0]) << "a distilled step is a function of (seed, step)";
  ExportOptions te;
  te.train_dir = dt;
  te.model_dir = dt + "/model-mmdit";
  EXPECT_EQ(export_mmdit_model(te, dt + "/model")["training"]["teacher"]["dir"], "model");
  // Refused teachers: an MMDiT, and a Wan model whose CLIP is not this directory's.
  tcfg.teacher_dir = te.model_dir;
  try {
    train_mmdit(to, tcfg);
    ADD_FAILURE() << "an MMDiT taught the MMDiT";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("one-DiT Wan I2V model"), std::string::npos) << err.what();
  }
  fs::copy(dt + "/model", dt + "/foreign", fs::copy_options::recursive);
  {
    TensorSet clip = load_tensor_file(dt + "/foreign/clip.safetensors");
    NamedTensors ts;
    for (const auto& n : clip.names()) ts.emplace_back(n, clip.get(n).clone());
    ts[0].second.add_(1.0);
    save_safetensors(dt + "/foreign/clip2.safetensors", ts, SafetensorsFile::open(dt + "/foreign/clip.safetensors")->metadata());
    fs::rename(dt + "/foreign/clip2.safetensors", dt + "/foreign/clip.safetensors");
  }
  tcfg.teacher_dir = dt + "/foreign";
  try {
    train_mmdit(to, tcfg);
    ADD_FAILURE() << "a teacher with a foreign CLIP was accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("foreign/clip.safetensors"), std::string::npos) << err.what();
  }
  fs::remove_all(dt);

  ExportOptions e;
  e.train_dir = base_dir();
  e.model_dir = base_dir() + "/model-mmdit";
  e.name = "shapes-mmdit-test";
  nlohmann::json m = export_mmdit_model(e, base_dir() + "/model");
  EXPECT_EQ(m["architecture"], "hunyuan-mmdit");
  EXPECT_EQ(m["vae"]["weights"], "../model/vae.safetensors");
  std::vector<std::string> files;
  for (const auto& f : fs::directory_iterator(e.model_dir)) files.push_back(f.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"focalscope.json", "mllm.safetensors", "mmdit.safetensors"}));
  auto bundle = load_model_bundle(e.model_dir);
  ASSERT_TRUE(bundle->is_mmdit());
  EXPECT_EQ(bundle->num_layers(), 2);
  EXPECT_TRUE(fs::equivalent(bundle->layout.vae_weights, base_dir() + "/model/vae.safetensors"));

  const WorldSpec w = cfg.world;
  const auto c = sample_case_robust(321, w);
  GenerateRequest req;
  req.image = frame_to_tensor(shapes::render_reference(c));
  req.prompt = c.prompt;
  req.steps = 3;
  req.frames = w.frames;
  req.max_area = static_cast<long long>(w.width) * w.height;
  LayerCounter counter;
  RunHooks hooks;
  hooks.listener = &counter;
  GenerateResult r = generate(*bundle, req, hooks);
  ASSERT_EQ(r.video.sizes(), (at::IntArrayRef{3, w.frames, w.height, w.width}));
  EXPECT_TRUE(at::isfinite(r.video).all().item<bool>());
  EXPECT_EQ(counter.calls, (std::vector<int>{3, 3})) << "one call per step and layer (cond + uncond in one batch)";
  EXPECT_EQ(r.hallucination.steps(), 3);
  // token_replace: the final latent's frame 0 is the image's clean latent, bit for bit, and the same seed repeats.
  GenerateResult again = generate(*bundle, req);
  EXPECT_TRUE(at::equal(r.video, again.video));
  // The MMDiT's knockout (ablate): a layer whose image tokens stop reading the prompt's rows changes the run (the
  // attention itself against its masked-softmax definition: HunyuanDiT.JointAttentionHiddenRowsAreAMaskedSoftmax).
  RunHooks hide;
  hide.hide_prompt_layers = {1};
  const GenerateResult hidden = generate(*bundle, req, hide);
  EXPECT_FALSE(at::equal(hidden.latent, again.latent)) << "hiding the prompt from layer 1 changes the run";
  hide.hide_prompt_layers = {0, 1};
  EXPECT_FALSE(at::equal(generate(*bundle, req, hide).latent, hidden.latent));
  // Wan's cross-attention edit is refused by name, never run silently.
  RunHooks knock;
  knock.edit_cross = [](CrossContext&, int) {};
  try {
    generate(*bundle, req, knock);
    ADD_FAILURE() << "a cross-attention edit ran on the MMDiT";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("MMDiT"), std::string::npos) << err.what();
  }
  // A base whose CLIP is not the one the MMDiT was trained with is refused by the exporter.
  fs::copy(base_dir() + "/model", base_dir() + "/other-base", fs::copy_options::recursive);
  {
    TensorSet clip = load_tensor_file(base_dir() + "/other-base/clip.safetensors");
    NamedTensors ts;
    for (const auto& n : clip.names()) ts.emplace_back(n, clip.get(n).clone());
    ts[0].second.add_(1.0);
    save_safetensors(base_dir() + "/other-base/clip2.safetensors", ts, SafetensorsFile::open(base_dir() + "/other-base/clip.safetensors")->metadata());
    fs::rename(base_dir() + "/other-base/clip2.safetensors", base_dir() + "/other-base/clip.safetensors");
  }
  try {
    export_mmdit_model(e, base_dir() + "/other-base");
    ADD_FAILURE() << "exported against a foreign CLIP";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("clip.safetensors"), std::string::npos) << err.what();
  }
  EXPECT_TRUE(fs::exists(e.model_dir + "/focalscope.json")) << "a refused export leaves the previous one";
  fs::remove_all(base_dir());
}

// TinyMllm's invariants: image rows first and causal, so the prompt cannot change them; the mask is a prefix of ones
// over [image rows; prompt pieces + EOS]; the pooled vector is the CLIP text tower's EOS token.
TEST(Train, TinyMllmImageRowsFirstCausalAndPooledIsClipEos) {
  TinyMllmConfig mc = MmditTrainConfig::tiny().mllm;
  mc.llama.vocab_size = 40;
  mc.vision_dim = 32;
  mc.image_stride = 2;
  const TinyMllm mllm = TinyMllm::random_init(mc, 5);
  ClipVisionConfig vc;
  vc.image_size = 32;
  vc.patch_size = 8;
  vc.dim = 32;
  vc.num_heads = 2;
  vc.num_layers = 2;
  vc.out_dim = 16;
  const ClipVision clip = ClipVision::random_init(vc, 3);
  ClipTextConfig tc;
  tc.vocab = 40;
  tc.text_len = 16;
  tc.dim = 24;
  tc.num_heads = 2;
  tc.num_layers = 1;
  tc.out_dim = 16;
  const ClipText clip_text = ClipText::random_init(tc, 4);
  at::NoGradGuard ng;
  const at::Tensor pixels = at::rand({2, 3, 32, 32}) * 2 - 1;
  at::Tensor ids = at::randint(3, 40, {2, 16}, at::kLong);
  at::Tensor mask = at::zeros({2, 16}, at::kLong);
  mask.narrow(1, 0, 5).fill_(1);
  mask[1].narrow(0, 0, 9).fill_(1);
  const TinyMllmText a = mllm.encode(clip, clip_text, pixels, ids, mask);
  EXPECT_EQ(a.image_rows, 8) << "16 patches, every 2nd kept";
  ASSERT_EQ(a.states.sizes(), (at::IntArrayRef{2, 8 + 16, 16}));
  EXPECT_EQ(a.mask.sum(1)[0].item<int64_t>(), 8 + 5);
  EXPECT_EQ(a.mask.sum(1)[1].item<int64_t>(), 8 + 9);
  EXPECT_EQ(a.mask[0].narrow(0, 0, 13).min().item<int64_t>(), 1) << "a prefix of ones";
  at::Tensor ids2 = ids.clone();
  ids2.narrow(1, 0, 16).random_(3, 40);
  const TinyMllmText b = mllm.encode(clip, clip_text, pixels, ids2, mask);
  EXPECT_TRUE(at::equal(a.states.narrow(1, 0, 8), b.states.narrow(1, 0, 8))) << "image rows cannot see the prompt";
  EXPECT_FALSE(at::allclose(a.states.narrow(1, 8, 5), b.states.narrow(1, 8, 5)));
  const at::Tensor eos = ClipText::select_eos(clip_text.forward(ids, mask), mask);
  EXPECT_TRUE(at::equal(a.pooled, eos));
}

// A resumed run re-encodes thousands of clips before its first step; stopping that part (the on_chunk callback
// returning false, as on SIGTERM) must leave a pool the next run continues into exactly the records an
// uninterrupted encoding writes.
TEST(Train, LatentPoolEncodingStopsBetweenChunksAndResumesToTheSameRecords) {
  const VaeTrainConfig vc = VaeTrainConfig::tiny();
  const WanVAE vae = WanVAE::init(vc.model, 3);
  const WorldSpec w = vc.world;
  auto seed_of = [](int64_t i) { return world_seed(5, kStreamDitPool, static_cast<uint64_t>(i)); };
  auto objects_of = [](int64_t) { return 1; };
  const std::string dir = focalscope::testing::temp_dir("pool_stop");
  fs::remove_all(dir);
  fs::create_directories(dir);
  at::NoGradGuard ng;

  LatentPool whole(dir + "/whole.bin", w, "test");
  whole.ensure(6, vae, seed_of, objects_of, 2);

  int calls = 0;
  {
    LatentPool stopped(dir + "/stopped.bin", w, "test");
    stopped.ensure(6, vae, seed_of, objects_of, 2, [&](int64_t have, int64_t want) {
      EXPECT_EQ(want, 6);
      EXPECT_EQ(have, 2 * (calls + 1));
      return ++calls < 2;  // stop after the second chunk
    });
    EXPECT_EQ(stopped.size(), 4);
  }
  EXPECT_EQ(calls, 2);
  LatentPool resumed(dir + "/stopped.bin", w, "test");
  resumed.open_existing();
  ASSERT_EQ(resumed.size(), 4);
  resumed.ensure(6, vae, seed_of, objects_of, 2);
  ASSERT_EQ(resumed.size(), 6);
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(resumed.at(i).world_seed, whole.at(i).world_seed) << "record " << i;
    EXPECT_EQ(resumed.at(i).prompt, whole.at(i).prompt) << "record " << i;
    EXPECT_TRUE(at::equal(resumed.at(i).x0, whole.at(i).x0)) << "record " << i;
    EXPECT_TRUE(at::equal(resumed.at(i).y, whole.at(i).y)) << "record " << i;
  }
  fs::remove_all(dir);
}
