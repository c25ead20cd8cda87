#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

#include <cstdio>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/text/umt5.h"
#include "tests/fixture_check.h"

using focalscope::testing::error_of;
using namespace focalscope;
using focalscope::testing::close_to_ref;
using focalscope::testing::fixtures_root;
using focalscope::testing::shared_fixture;

namespace {

std::string umt5_dir() { return fixtures_root() + "/umt5_tiny"; }
std::string layout_dir() { return shared_fixture("wan_checkpoint_layout"); }

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  const double err = (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  return err / std::max(1.0, b.to(at::kDouble).abs().max().item<double>());
}


}  // namespace

TEST(UMT5, FixtureParityAllOutputs) {
  Fixture f = load_fixture(umt5_dir());
  FixtureResult r = run_umt5_fixture(f);
  // Every output the folder records: out, out_trimmed, block{0,1}_out, block0_pos_bias_L12, out_L160,
  // out_L160_trimmed, rel_buckets_L160.
  EXPECT_EQ(r.outputs.size(), 8u);
  EXPECT_EQ(r.inputs, (std::set<std::string>{"ids", "mask", "ids_L160", "mask_L160"}));
  double worst = focalscope::testing::check_fixture(f, r);
  EXPECT_LT(worst, 1e-5);
}

TEST(UMT5, RelativeBucketsExact) {
  Fixture f = load_fixture(umt5_dir());
  const at::Tensor ref = f.in("rel_buckets_L160");
  at::Tensor b = umt5_relative_buckets(ref.size(0), ref.size(1), 32, 128);
  ASSERT_EQ(b.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(b, ref.to(at::kLong)));
  // Spot checks of the rule: same position -> 0; keys after the query use the upper half.
  EXPECT_EQ(b[5][5].item<int64_t>(), 0);
  EXPECT_EQ(b[0][1].item<int64_t>(), 17);
  EXPECT_EQ(b[1][0].item<int64_t>(), 1);
  EXPECT_EQ(b[0][159].item<int64_t>(), 31);  // far right saturates at 16 + 15
  EXPECT_EQ(b[159][0].item<int64_t>(), 15);  // far left saturates at 15
  // Rectangular (cross) shapes work too.
  EXPECT_EQ(umt5_relative_buckets(3, 7).sizes(), (std::vector<int64_t>{3, 7}));
}

TEST(UMT5, PositionBiasAndPaddingIndependence) {
  Fixture f = load_fixture(umt5_dir());
  UMT5Encoder enc = UMT5Encoder::load(f.weights, UMT5Config::from_json(f.config["constructor_args"]));
  EXPECT_TRUE(close_to_ref(enc.position_bias(0, 12, 12), f.in("block0_pos_bias_L12"), 1e-6));
  // Real positions do not depend on how many pads follow.
  at::Tensor ids = f.in("ids"), mask = f.in("mask");
  const int64_t n = mask.sum().item<int64_t>();
  at::Tensor short_out = enc.forward(ids.slice(1, 0, n), mask.slice(1, 0, n));
  at::Tensor full = enc.forward(ids, mask);
  EXPECT_TRUE(close_to_ref(short_out, full.slice(1, 0, n), 1e-5));
  auto trimmed = enc.encode_trimmed(ids, mask);
  ASSERT_EQ(trimmed.size(), 1u);
  EXPECT_TRUE(close_to_ref(trimmed[0], f.in("out_trimmed"), 1e-5));
  // Batched: two different prompts in one call equal their single runs.
  at::Tensor ids2 = at::cat({ids, ids.flip({1})}, 0);
  at::Tensor mask2 = at::cat({mask, at::ones_like(mask)}, 0);
  at::Tensor both = enc.forward(ids2, mask2);
  EXPECT_TRUE(close_to_ref(both[0], full[0], 1e-5));
  EXPECT_TRUE(close_to_ref(both[1], enc.forward(ids.flip({1}), at::ones_like(mask))[0], 1e-5));
}

TEST(UMT5, ConfigFromJsonInferAndPreset) {
  Fixture f = load_fixture(umt5_dir());
  UMT5Config c = UMT5Config::from_json(f.config["constructor_args"]);
  EXPECT_EQ(c.vocab, 256);
  EXPECT_EQ(c.dim, 32);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.head_dim(), 8);
  EXPECT_FALSE(c.shared_pos);
  UMT5Config inf = UMT5Config::infer(f.weights);
  EXPECT_EQ(inf.to_json(), c.to_json());
  UMT5Config xxl = UMT5Config::umt5_xxl();
  EXPECT_EQ(xxl.to_json(), UMT5Config::from_json(f.config["umt5_xxl_real_args"]).to_json());
  EXPECT_EQ(xxl.head_dim(), 64);

  nlohmann::json bad = f.config["constructor_args"];
  bad.erase("dim_ffn");
  EXPECT_NE(error_of([&] { UMT5Config::from_json(bad, "cfg.json"); }).find("dim_ffn"), std::string::npos);
  bad = f.config["constructor_args"];
  bad["num_heads"] = 5;
  EXPECT_NE(error_of([&] { UMT5Config::from_json(bad, "cfg.json"); }).find("divisible"), std::string::npos);
}

TEST(UMT5, WeightErrorsNameTheTensor) {
  Fixture f = load_fixture(umt5_dir());
  UMT5Config cfg = UMT5Config::from_json(f.config["constructor_args"]);
  TensorSet missing;
  missing.origin = "w.safetensors";
  for (const auto& n : f.weights.names())
    if (n != "blocks.1.ffn.gate.0.weight") missing.add(n, f.weights.get(n), "w.safetensors");
  std::string e = error_of([&] { UMT5Encoder::load(missing, cfg); });
  EXPECT_NE(e.find("blocks.1.ffn.gate.0.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("w.safetensors"), std::string::npos) << e;

  TensorSet extra;
  extra.origin = "x.safetensors";
  for (const auto& n : f.weights.names()) extra.add(n, f.weights.get(n), "x.safetensors");
  extra.add("blocks.1.attn.q.bias", at::zeros({32}), "x.safetensors");
  e = error_of([&] { UMT5Encoder::load(extra, cfg); });
  EXPECT_NE(e.find("blocks.1.attn.q.bias"), std::string::npos) << e;

  TensorSet wrong;
  wrong.origin = "y.safetensors";
  for (const auto& n : f.weights.names())
    wrong.add(n, n == "blocks.0.pos_embedding.embedding.weight" ? at::zeros({16, 4}) : f.weights.get(n), "y.safetensors");
  e = error_of([&] { UMT5Encoder::load(wrong, cfg); });
  EXPECT_NE(e.find("[16,4]"), std::string::npos) << e;
}

TEST(UMT5, InputValidation) {
  Fixture f = load_fixture(umt5_dir());
  UMT5Encoder enc = UMT5Encoder::load(f.weights);
  at::Tensor ids = f.in("ids"), mask = f.in("mask");
  EXPECT_NE(error_of([&] { enc.forward(ids + 300, mask); }).find("vocabulary"), std::string::npos);
  EXPECT_NE(error_of([&] { enc.forward(ids, mask.slice(1, 0, 5)); }).find("mask"), std::string::npos);
  EXPECT_NE(error_of([&] { enc.forward(ids.flatten(), mask.flatten()); }).find("[batch, length]"), std::string::npos);
  EXPECT_NE(error_of([&] { enc.encode_trimmed(ids, mask.flip({1})); }).find("right-padded"), std::string::npos);
  // int32 ids and bool masks are accepted.
  EXPECT_TRUE(close_to_ref(enc.forward(ids.to(at::kInt), mask.to(at::kBool)), f.in("out"), 1e-5));
}

TEST(UMT5, BF16PthCheckpoint) {
  const std::string pth = layout_dir() + "/models_t5_umt5-xxl-enc-bf16.pth";
  const std::string io_path = layout_dir() + "/io_umt5_bf16.safetensors";
  if (!std::filesystem::exists(pth) || !std::filesystem::exists(io_path)) GTEST_SKIP() << "no " << pth;
  TensorSet ws = load_pth(pth);
  for (const auto& n : ws.names()) EXPECT_EQ(ws.get(n).scalar_type(), at::kBFloat16) << n;
  TensorSet expected = load_safetensors(io_path);

  Fixture f = load_fixture(umt5_dir());  // inputs ids / mask / ids_L160 / mask_L160
  Fixture fb = f;
  fb.weights = ws;
  FixtureResult r = run_umt5_fixture(fb);
  std::set<std::string> seen;
  double worst = 0;
  for (const auto& [name, t] : r.outputs) {
    if (!expected.has(name)) continue;  // rel_buckets_L160 is weight-independent and not repeated
    seen.insert(name);
    EXPECT_TRUE(close_to_ref(t, expected.get(name), 1e-4)) << name;
    worst = std::max(worst, rel_err(t, expected.get(name)));
  }
  for (const auto& n : expected.names())
    if (n.rfind("prompt", 0) != 0) EXPECT_TRUE(seen.count(n)) << "not reproduced: " << n;
  std::printf("[parity] umT5 BF16 .pth (F32 math): %zu outputs, worst relative error %.3g\n", seen.size(), worst);
  EXPECT_LT(worst, 1e-5);

  // Same weights computed in BF16: close to the F32-math goldens at BF16 precision.
  UMT5Encoder b16 = UMT5Encoder::load(ws, at::kBFloat16);
  EXPECT_EQ(b16.dtype(), at::kBFloat16);
  at::Tensor o = b16.forward(f.in("ids"), f.in("mask"));
  EXPECT_EQ(o.scalar_type(), at::kBFloat16);
  const double e16 = rel_err(o, expected.get("out"));
  std::printf("[parity] umT5 BF16 compute vs F32 golden: relative error %.3g\n", e16);
  EXPECT_LT(e16, 0.1);
}

TEST(UMT5, RandomInitNamedParametersSaveLoad) {
  Fixture f = load_fixture(umt5_dir());
  UMT5Config cfg = UMT5Config::from_json(f.config["constructor_args"]);
  UMT5Encoder a = UMT5Encoder::random(cfg, 1234), b = UMT5Encoder::random(cfg, 1234), c = UMT5Encoder::random(cfg, 99);
  auto pa = a.named_parameters(), pb = b.named_parameters(), pc = c.named_parameters();
  // Same names and shapes as upstream's state dict (the fixture's weights).
  std::vector<std::string> names;
  for (const auto& [n, t] : pa) {
    names.push_back(n);
    ASSERT_TRUE(f.weights.has(n)) << n;
    EXPECT_EQ(t.sizes(), f.weights.get(n).sizes()) << n;
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, f.weights.names());
  bool any_diff = false;
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i].second, pb[i].second)) << pa[i].first;
  for (size_t i = 0; i < pa.size(); ++i) any_diff = any_diff || !at::equal(pa[i].second, pc[i].second);
  EXPECT_TRUE(any_diff);

  const std::string dir = focalscope::testing::temp_dir("umt5");
  const std::string path = dir + "/tiny.safetensors";
  a.save(path);
  UMT5Encoder l = UMT5Encoder::load_file(path);
  EXPECT_EQ(l.config.to_json(), cfg.to_json());
  at::Tensor ids = f.in("ids"), mask = f.in("mask");
  EXPECT_TRUE(at::equal(l.forward(ids, mask), a.forward(ids, mask)));

  // Shared-position variant: one top-level embedding; round trip via shape inference.
  UMT5Config sc = cfg;
  sc.shared_pos = true;
  UMT5Encoder s = UMT5Encoder::random(sc, 7);
  auto ps = s.named_parameters();
  EXPECT_EQ(ps.size(), pa.size() - 1);
  TensorSet set;
  set.origin = "shared";
  for (const auto& [n, t] : ps) {
    EXPECT_EQ(n.find("blocks.0.pos_embedding"), std::string::npos);
    set.add(n, t, "shared");
  }
  EXPECT_TRUE(set.has("pos_embedding.embedding.weight"));
  UMT5Encoder s2 = UMT5Encoder::load(set);
  EXPECT_TRUE(s2.config.shared_pos);
  EXPECT_TRUE(at::equal(s2.forward(ids, mask), s.forward(ids, mask)));
  std::filesystem::remove_all(dir);
}

TEST(UMT5, TrainableWithAutograd) {
  UMT5Config cfg;
  cfg.vocab = 40;
  cfg.dim = 16;
  cfg.dim_attn = 16;
  cfg.dim_ffn = 24;
  cfg.num_heads = 2;
  cfg.num_layers = 2;
  cfg.num_buckets = 8;
  UMT5Encoder m = UMT5Encoder::random(cfg, 3);
  auto params = m.named_parameters();
  for (auto& [n, t] : params) t.requires_grad_(true);
  at::Tensor ids = at::randint(0, cfg.vocab, {2, 10}, at::kLong);
  at::Tensor mask = at::ones({2, 10}, at::kLong);
  mask.slice(1, 7).select(0, 1).zero_();
  at::Tensor out = m.forward(ids, mask);
  (out * at::randn_like(out)).sum().backward();
  for (const auto& [n, t] : params) {
    ASSERT_TRUE(t.grad().defined()) << n;
    EXPECT_TRUE(at::isfinite(t.grad()).all().item<bool>()) << n;
    if (n.find("pos_embedding") != std::string::npos || n.find("attn.q") != std::string::npos)
      EXPECT_GT(t.grad().abs().sum().item<double>(), 0.0) << n;
  }
}
