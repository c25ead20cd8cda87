#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/dit/conditioning.h"
#include "engine/dit/dit_fixture.h"
#include "engine/dit/wan_model.h"
#include "tests/fixture_check.h"

using namespace focalscope;
using focalscope::testing::fixtures_root;

namespace {
std::string dit_dir() { return fixtures_root() + "/wan_dit_i2v_tiny"; }
}

TEST(WanDiT, FixtureParity) {
  Fixture f = load_fixture(dit_dir());
  FixtureResult r = run_dit_fixture(f);
  double worst = focalscope::testing::check_fixture(f, r);
  EXPECT_LT(worst, 1e-4);
}

TEST(WanDiT, MissingAndMisshapedWeightsAreNamed) {
  Fixture f = load_fixture(dit_dir());
  WanConfig cfg = WanConfig::from_json(f.config["constructor_args"]);
  // drop one tensor
  TensorSet missing;
  missing.origin = "test.safetensors";
  for (const auto& n : f.weights.names())
    if (n != "blocks.1.ffn.0.bias") missing.add(n, f.weights.get(n), "test.safetensors");
  try {
    WanModel::load(missing, cfg);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.1.ffn.0.bias"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  // wrong shape
  TensorSet bad;
  bad.origin = "bad.safetensors";
  for (const auto& n : f.weights.names())
    bad.add(n, n == "blocks.2.self_attn.q.weight" ? at::zeros({96, 95}) : f.weights.get(n), "bad.safetensors");
  try {
    WanModel::load(bad, cfg);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.2.self_attn.q.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[96,95]"), std::string::npos) << e.what();
  }
  // unexpected extra tensor
  TensorSet extra;
  extra.origin = "extra.safetensors";
  for (const auto& n : f.weights.names()) extra.add(n, f.weights.get(n), "extra.safetensors");
  extra.add("blocks.3.modulation", at::zeros({1, 6, 96}), "extra.safetensors");
  EXPECT_THROW(WanModel::load(extra, cfg), Error);
}

TEST(WanDiT, RandomInitRoundTripsThroughNamedParameters) {
  WanConfig cfg;
  cfg.dim = 32; cfg.num_heads = 2; cfg.num_layers = 2; cfg.ffn_dim = 64; cfg.text_dim = 16; cfg.text_len = 8;
  cfg.clip_dim = 24; cfg.freq_dim = 32;
  WanModel m = WanModel::init(cfg, 7);
  TensorSet set;
  set.origin = "mem";
  for (const auto& [n, t] : m.named_parameters()) set.add(n, t, "mem");
  WanModel m2 = WanModel::load(set, cfg);
  EXPECT_EQ(m2.cfg.clip_dim, 24);
  EXPECT_EQ(static_cast<long long>(set.size()), static_cast<long long>(m.named_parameters().size()));
  long long n = 0;
  for (const auto& [name, t] : m.named_parameters()) n += t.numel();
  EXPECT_EQ(n, cfg.num_params());
}

TEST(WanDiT, ConfigOf14BHasUpstreamParameterCount) {
  // ARCHITECTURE.md: 16.39 B for the i2v DiT.
  EXPECT_NEAR(WanConfig::wan_i2v_14b().num_params() / 1e9, 16.39, 0.01);
}

TEST(WanDiT, MaskMarksOnlyFirstLatentFrame) {
  at::Tensor m = i2v_mask(3, 2, 2);
  EXPECT_EQ(m.sizes(), (std::vector<int64_t>{4, 3, 2, 2}));
  EXPECT_EQ(m.select(1, 0).sum().item<double>(), 16.0);
  EXPECT_EQ(m.sum().item<double>(), 16.0);
}

TEST(WanDiT, BadInputsAreErrors) {
  Fixture f = load_fixture(dit_dir());
  WanModel m = WanModel::load(f.weights, WanConfig::from_json(f.config["constructor_args"]));
  DitInputs in;
  in.x = at::zeros({1, 16, 3, 7, 8});  // H not divisible by patch 2
  in.t = at::full({1}, 500.0);
  in.context = at::zeros({4, 32});
  in.clip_fea = at::zeros({1, 257, 1280});
  in.y = at::zeros({1, 20, 3, 7, 8});
  EXPECT_THROW(m.forward(in), Error);
  in.x = at::zeros({1, 16, 3, 8, 8});
  in.y = at::zeros({1, 19, 3, 8, 8});
  EXPECT_THROW(m.forward(in), Error);
  in.y = at::zeros({1, 20, 3, 8, 8});
  in.context = at::zeros({600, 32});  // longer than text_len
  EXPECT_THROW(m.forward(in), Error);
}
