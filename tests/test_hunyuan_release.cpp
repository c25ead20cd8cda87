// HunyuanVideo-I2V as shipped (issue 25 item 4): a layout fixture written here with tiny random weights under the
// release's file names (ckpts/hunyuan-video-i2v-720p/transformers/mp_rank_00_model_states.pt as {"module": ...,
// "ema": ..., "ds_version": "..."}, vae/{config.json, pytorch_model.pt} as {"state_dict": {"vae.*": ...}},
// text_encoder_i2v/ and text_encoder_2/), read back by the release loader, `info` and `bench-step`; broken copies
// give one line naming the file.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/fixture.h"
#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/models/hunyuan/hunyuan_release.h"
#include "engine/models/hunyuan/hunyuan_vae.h"
#include "engine/models/hunyuan/text/hunyuan_text_encoders.h"
#include "tests/fixture_check.h"
#include "tests/hunyuan_release_layout.h"
#include "tests/pth_writer.h"

using namespace focalscope;
namespace fs = std::filesystem;

namespace {

using focalscope::testing::error_of;
using focalscope::testing::hunyuan_fixture;

focalscope::testing::HunyuanReleaseLayout& layout() {
  static auto* l = new focalscope::testing::HunyuanReleaseLayout(focalscope::testing::write_hunyuan_release_layout(
      fs::temp_directory_path() / ("focalscope_hy_release_" + std::to_string(::getpid())), /*text_widths_of_encoders=*/false,
      5, 0.02));
  return *l;
}

#define REQUIRE_LAYOUT()                                                               \
  if (layout().root.empty()) GTEST_SKIP() << "Hunyuan reference fixtures not found"; \
  c10::InferenceMode guard

HunyuanInputs tiny_inputs(const HunyuanConfig& c) {
  at::manual_seed(9);
  HunyuanInputs in;
  in.x = at::randn({1, c.in_channels, 3, 8, 12});
  in.t = at::full({1}, 700.0);
  in.text_states = at::randn({1, 12, c.text_states_dim});
  in.text_mask = at::ones({1, 12}, at::kLong);
  in.text_states_2 = at::randn({1, c.text_states_dim_2});
  in.guidance = at::full({1}, 6000.0);
  return in;
}

}  // namespace

TEST(HunyuanRelease, FindsEveryFileFromCkptsOrTheReleaseFolder) {
  REQUIRE_LAYOUT();
  for (const fs::path& given : {layout().ckpts, layout().root}) {
    ASSERT_TRUE(is_hunyuan_release(given.string()));
    const HunyuanRelease r = find_hunyuan_release(given.string());
    EXPECT_EQ(fs::path(r.dit), layout().root / "transformers/mp_rank_00_model_states.pt");
    EXPECT_EQ(fs::path(r.vae_weights), layout().root / "vae/pytorch_model.pt");
    EXPECT_EQ(fs::path(r.text_encoder_i2v), layout().ckpts / "text_encoder_i2v");
    EXPECT_EQ(fs::path(r.text_encoder_2), layout().ckpts / "text_encoder_2");
  }
  EXPECT_FALSE(is_hunyuan_release(layout().ckpts.parent_path().string() + "/nothing-here"));
}

TEST(HunyuanRelease, DitFromTheModuleEntryWithItsSizesReadOffTheWeights) {
  REQUIRE_LAYOUT();
  const HunyuanRelease r = find_hunyuan_release(layout().ckpts.string());
  const TensorSet w = load_hunyuan_release_dit(r);
  const HunyuanConfig c = hunyuan_config_from_weights(w, r.dit, r.dit_config);
  EXPECT_EQ(c.to_json(), layout().dit_cfg.to_json());
  const HunyuanModel m = HunyuanModel::load(w, c);
  const HunyuanInputs in = tiny_inputs(c);
  EXPECT_TRUE(at::equal(m.forward(in), layout().dit.forward(in))) << "the module entry is the model that was saved";
  // --load-key ema: the other entry (here the weights halved).
  const TensorSet e = load_hunyuan_release_dit(r, "ema");
  EXPECT_TRUE(at::equal(e.get("img_in.proj.weight"), w.get("img_in.proj.weight") * 0.5));
  EXPECT_NE(error_of([&] { load_hunyuan_release_dit(r, "optimizer"); }).find("--load-key"), std::string::npos);
  const std::string v = hunyuan_variant(c, r);
  EXPECT_NE(v.find("HunyuanVideo-I2V 720p (token_replace, guidance-embedded, 2 double + 2 single blocks"), std::string::npos) << v;
}

TEST(HunyuanRelease, VaeUnwrapsStateDictAndStripsThePrefix) {
  REQUIRE_LAYOUT();
  const HunyuanRelease r = find_hunyuan_release(layout().ckpts.string());
  const TensorSet w = load_hunyuan_release_vae(r);
  const Fixture fx = load_fixture(hunyuan_fixture("hunyuan_vae_tiny"));
  EXPECT_EQ(w.names(), fx.weights.names());
  const HunyuanVAE vae = HunyuanVAE::load(w, HunyuanVaeConfig::from_json(fx.config));
  EXPECT_GT(vae.num_parameters(), 0);
}

TEST(HunyuanRelease, BrokenFilesAreOneLineNamingThem) {
  REQUIRE_LAYOUT();
  const fs::path bad = layout().ckpts.parent_path() / "broken";
  fs::remove_all(bad);
  fs::create_directories(bad);
  fs::copy(layout().ckpts, bad / "ckpts", fs::copy_options::recursive);
  const fs::path root = bad / "ckpts/hunyuan-video-i2v-720p";
  const std::string dit = (root / "transformers/mp_rank_00_model_states.pt").string();
  // Truncated DiT checkpoint.
  fs::resize_file(dit, fs::file_size(dit) / 2);
  std::string msg = error_of([&] { load_hunyuan_release_dit(find_hunyuan_release((bad / "ckpts").string())); });
  EXPECT_NE(msg.find(dit), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  // A checkpoint without the "module" entry (a flat state dict).
  focalscope::testing::write_torch_checkpoint(dit, {{"", {{"img_in.proj.bias", at::zeros({96})}}, ""}}, /*flat=*/true);
  msg = error_of([&] { load_hunyuan_release_dit(find_hunyuan_release((bad / "ckpts").string())); });
  EXPECT_NE(msg.find(dit), std::string::npos) << msg;
  EXPECT_NE(msg.find("module"), std::string::npos) << msg;
  // Missing VAE weights.
  fs::remove(root / "vae/pytorch_model.pt");
  msg = error_of([&] { find_hunyuan_release((bad / "ckpts").string()); });
  EXPECT_NE(msg.find((root / "vae/pytorch_model.pt").string()), std::string::npos) << msg;
  // A misshaped DiT tensor: the loader names it.
  TensorSet w = load_hunyuan_release_dit(find_hunyuan_release(layout().ckpts.string()));
  TensorSet w2;
  for (const auto& n : w.names()) w2.add(n, n == "double_blocks.1.img_mlp.fc2.weight" ? at::zeros({3, 3}) : w.get(n), "x.pt");
  msg = error_of([&] { HunyuanModel::load(w2, layout().dit_cfg); });
  EXPECT_NE(msg.find("double_blocks.1.img_mlp.fc2.weight"), std::string::npos) << msg;
  // No RoPE split for a non-release head dim without config.json.
  msg = error_of([&] { hunyuan_config_from_weights(w, "x.pt"); });
  EXPECT_NE(msg.find("rope_dim_list"), std::string::npos) << msg;
  fs::remove_all(bad);
}

#ifdef FOCALSCOPE_EXE
namespace {
int run_cli(const std::string& args, std::string* out) { return focalscope::testing::run_cli(FOCALSCOPE_EXE, args, out); }
}  // namespace

TEST(HunyuanRelease, InfoAndBenchStepReadTheReleaseFolder) {
  REQUIRE_LAYOUT();
  std::string out;
  ASSERT_EQ(run_cli("info --model-dir " + layout().ckpts.string(), &out), 0) << out;
  std::printf("%s", out.c_str());  // the report, for the log
  EXPECT_NE(out.find("format: HunyuanVideo-I2V release"), std::string::npos) << out;
  EXPECT_NE(out.find("variant: HunyuanVideo-I2V 720p (token_replace, guidance-embedded, 2 double + 2 single blocks"), std::string::npos) << out;
  EXPECT_NE(out.find("mp_rank_00_model_states.pt"), std::string::npos) << out;
  EXPECT_NE(out.find("text_encoder_i2v (LlavaForConditionalGeneration"), std::string::npos) << out;
  EXPECT_NE(out.find("text_encoder_2 (CLIP"), std::string::npos) << out;
  ASSERT_EQ(run_cli("bench-step --config " + layout().root.string() + " --frames 5 --height 64 --width 96 --steps 1 "
                    "--text-tokens 16 --matmul 128", &out), 0) << out;
  EXPECT_NE(out.find("HunyuanVideo, hidden 96, 2 double + 2 single blocks"), std::string::npos) << out;
  EXPECT_NE(out.find("seconds per step"), std::string::npos) << out;
  EXPECT_NE(out.find("capture on:"), std::string::npos) << out;
  // A broken folder: one line, exit 2.
  const fs::path empty = layout().ckpts.parent_path() / "empty-release";
  fs::create_directories(empty / "transformers");
  std::ofstream(empty / "transformers/mp_rank_00_model_states.pt") << "not a zip";
  EXPECT_EQ(run_cli("info --model-dir " + empty.string(), &out), 2) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("vae/config.json"), std::string::npos) << out;
}
#endif
