// The official Wan2.1-I2V release layout, read as shipped (sharded BF16 safetensors + index, .pth files, spiece.model),
// on the tiny stand-in folder ../shared/fixtures/wan_checkpoint_layout, against its known outputs.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/core/error.h"
#include "engine/models/wan/dit_fixture.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/pipeline/model_bundle.h"
#include "tests/fixture_check.h"
#include "tests/layout_bundle.h"

using namespace focalscope;
using focalscope::testing::close_to_ref;
using focalscope::testing::shared_fixture;

namespace {
using focalscope::testing::layout_dir;
std::string ref(const std::string& sub) { return focalscope::testing::fixtures_root() + "/" + sub; }
std::unique_ptr<ModelBundle> runnable_bundle() { return focalscope::testing::runnable_layout_bundle(); }
}  // namespace

TEST(CheckpointLayout, InconsistentComponentsAreRejected) {
  try {
    load_model_bundle(layout_dir());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CLIP width 64"), std::string::npos) << e.what();
  }
}

TEST(CheckpointLayout, DetectsOfficialLayout) {
  ModelLayout L = detect_model_layout(layout_dir());
  EXPECT_EQ(L.format, "wan-official");
  EXPECT_NE(L.variant.find("I2V"), std::string::npos) << L.variant;
  EXPECT_NE(L.dit_weights.find("index.json"), std::string::npos);
}

TEST(CheckpointLayout, MissingFilesAreNamed) {
  namespace fs = std::filesystem;
  auto tmp = focalscope::testing::temp_dir("partial_layout");
  fs::copy_file(layout_dir() + "/config.json", tmp + "/config.json", fs::copy_options::overwrite_existing);
  try {
    detect_model_layout(tmp);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("Wan2.1_VAE.pth"), std::string::npos) << m;
    EXPECT_NE(m.find("models_t5_umt5-xxl-enc-bf16.pth"), std::string::npos) << m;
    EXPECT_NE(m.find("spiece.model"), std::string::npos) << m;
  }
  EXPECT_THROW(detect_model_layout(tmp + "/nope"), Error);
  fs::remove_all(tmp);
}

TEST(CheckpointLayout, Bf16ShardsReproduceTheirGoldens) {
  LoadOptions opt;
  opt.check = false;
  auto bundle = load_model_bundle(layout_dir(), opt);
  Fixture f = load_fixture(ref("wan_dit_i2v_tiny"));
  TensorSet w;
  w.origin = "bundle";
  for (const auto& [n, t] : bundle->dit.named_parameters()) w.add(n, t, "bundle");
  FixtureResult r = run_dit_fixture(f, w);
  TensorSet expected = load_safetensors(layout_dir() + "/io_bf16.safetensors");
  int compared = 0;
  for (const auto& [name, t] : r.outputs) {
    if (!expected.has(name)) continue;
    EXPECT_TRUE(close_to_ref(t, expected.get(name))) << name;
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(expected.size()));
}

TEST(CheckpointLayout, TextEncoderAndTokenizerFromPth) {
  auto bundle = runnable_bundle();
  TensorSet io = load_safetensors(layout_dir() + "/io_umt5_bf16.safetensors");
  const char* prompts[] = {"A cat walks on the grass, realistic style.", "  Two   dogs\tplay\nin the snow!  "};
  for (int i = 0; i < 2; ++i) {
    at::Tensor ctx = encode_prompt(*bundle, prompts[i]);
    EXPECT_TRUE(close_to_ref(ctx, io.get("prompt" + std::to_string(i) + "_context"))) << i;
  }
}

TEST(CheckpointLayout, VaeAndClipFromPthMatchReference) {
  LoadOptions opt;
  opt.check = false;
  auto bundle = load_model_bundle(layout_dir(), opt);
  TensorSet vio = load_safetensors(ref("wan_vae_tiny") + "/io.safetensors");
  at::Tensor lat = bundle->vae.encode(vio.get("frames5_video"));
  EXPECT_TRUE(close_to_ref(lat, vio.get("frames5_latent")));
  EXPECT_TRUE(close_to_ref(bundle->vae.decode(lat), vio.get("frames5_decoded_clamped")));
  TensorSet cio = load_safetensors(ref("clip_vision_tiny") + "/io.safetensors");
  EXPECT_TRUE(close_to_ref(bundle->clip.clip_fea(cio.get("image")), cio.get("clip_fea")));
}

TEST(CheckpointLayout, EndToEndGenerationRunsAndCancels) {
  auto bundle = runnable_bundle();
  GenerateRequest req;
  req.image = at::rand({3, 48, 64}) * 2 - 1;
  req.prompt = "A cat walks on the grass";
  req.steps = 3;
  req.frames = 5;
  req.max_area = 64 * 64;
  req.seed = 1;
  int steps_seen = 0;
  RunHooks hooks;
  hooks.on_step = [&](const StepProgress& p) {
    ++steps_seen;
    EXPECT_EQ(p.total, 3);
  };
  GenerateResult r = generate(*bundle, req, hooks);
  EXPECT_EQ(steps_seen, 3);
  EXPECT_FALSE(r.cancelled);
  // 48x64 at area 4096: aspect 0.75 -> lat_h = floor(floor(55.4/8)/2)*2 = 6, lat_w = floor(floor(73.9/8)/2)*2 = 8.
  EXPECT_EQ(r.params.lat_h, 6);
  EXPECT_EQ(r.params.lat_w, 8);
  EXPECT_EQ(r.video.sizes(), (std::vector<int64_t>{3, 5, 48, 64}));
  EXPECT_TRUE(at::isfinite(r.video).all().item<bool>());
  EXPECT_LE(r.video.abs().max().item<double>(), 1.0);
  // Same seed, same video.
  GenerateResult r2 = generate(*bundle, req);
  EXPECT_TRUE(at::equal(r.video, r2.video));
  // Cancellation between steps.
  std::atomic<bool> cancel{false};
  RunHooks h2;
  h2.cancel = &cancel;
  h2.on_step = [&](const StepProgress& p) { if (p.step == 1) cancel = true; };
  GenerateResult rc = generate(*bundle, req, h2);
  EXPECT_TRUE(rc.cancelled);
  EXPECT_FALSE(rc.video.defined());
}

TEST(CheckpointLayout, BadRequestsAreClearErrors) {
  auto bundle = runnable_bundle();
  GenerateRequest req;
  req.image = at::rand({3, 48, 64}) * 2 - 1;
  req.prompt = "   ";
  req.frames = 5;
  req.max_area = 64 * 64;
  EXPECT_THROW(generate(*bundle, req), Error);  // empty prompt
  req.prompt = "a cat";
  req.frames = 6;
  EXPECT_THROW(generate(*bundle, req), Error);  // not 1 + 4k
  req.frames = 5;
  req.steps = 100000;
  EXPECT_THROW(generate(*bundle, req), Error);
  req.steps = 2;
  req.image = at::rand({1, 48, 64});
  EXPECT_THROW(generate(*bundle, req), Error);
}

TEST(LatentSize, MatchesUpstreamFloatArithmetic) {
  // ARCHITECTURE.md §5.2: 832x480 landscape at 480P gives 58 x 104 latents, portrait 104 x 60.
  auto a = latent_size(480, 832, 399360, 8, 2, 2);
  EXPECT_EQ(a.first, 58);
  EXPECT_EQ(a.second, 104);
  auto b = latent_size(720, 1280, 399360, 8, 2, 2);
  EXPECT_EQ(b.first, 58);
  EXPECT_EQ(b.second, 104);
  auto c = latent_size(832, 480, 399360, 8, 2, 2);
  EXPECT_EQ(c.first, 104);
  EXPECT_EQ(c.second, 60);
}
