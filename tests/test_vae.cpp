// Wan VAE: fixture parity (chunked encode/decode with the feature cache), error reporting, training hooks.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "engine/core/error.h"
#include "engine/core/fixture.h"
#include "engine/vae/wan_vae.h"
#include "tests/test_util.h"

using focalscope::testing::error_of;
using namespace focalscope;
using focalscope::testing::close_to_ref;

namespace {

const Fixture& vae_fixture() {
  static const Fixture f = load_fixture(focalscope::testing::fixtures_root() + "/wan_vae_tiny");
  return f;
}

// A copy of the fixture weights with one tensor replaced (undefined = removed).
TensorSet modified_weights(const std::string& name, const at::Tensor& replacement) {
  const auto& w = vae_fixture().weights;
  TensorSet out;
  out.origin = "modified.safetensors";
  for (const auto& n : w.names()) {
    if (n == name) {
      if (replacement.defined()) out.add(n, replacement, "modified.safetensors");
    } else {
      out.add(n, w.get(n), w.source(n));
    }
  }
  return out;
}


}  // namespace

TEST(WanVae, FixtureParityAllOutputs) {
  const Fixture& fx = vae_fixture();
  const FixtureResult r = run_vae_fixture(fx);
  std::map<std::string, at::Tensor> ours;
  for (const auto& [n, t] : r.outputs) {
    EXPECT_FALSE(ours.count(n)) << "duplicate output " << n;
    ours[n] = t;
  }
  EXPECT_EQ(r.inputs, (std::set<std::string>{"frames5_video", "frames9_video", "latent_mean", "latent_std"}));
  int compared = 0;
  for (const auto& name : fx.io.names()) {
    if (r.inputs.count(name)) continue;
    ASSERT_TRUE(ours.count(name)) << "runner did not produce " << name;
    const at::Tensor& ref = fx.in(name);
    auto res = close_to_ref(ours[name], ref, 1e-4);
    EXPECT_TRUE(res) << name << ": " << res.message();
    const double err = (ours[name].to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>();
    const double scale = std::max(1.0, ref.abs().max().item<double>());
    std::printf("  %-28s rel err %.3g\n", name.c_str(), err / scale);
    ++compared;
  }
  EXPECT_EQ(compared, 24);
  EXPECT_EQ(ours.size(), static_cast<size_t>(compared)) << "runner produced tensors the fixture does not have";
}

TEST(WanVae, LatentConstantsMatchUpstream) {
  const Fixture& fx = vae_fixture();
  const auto mean = fx.in("latent_mean").contiguous(), std = fx.in("latent_std").contiguous();
  ASSERT_EQ(mean.numel(), 16);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(kWanLatentMean[i], mean[i].item<float>()) << i;
    EXPECT_EQ(kWanLatentStd[i], std[i].item<float>()) << i;
  }
}

TEST(WanVae, PublicApiMatchesFixtureAndReturnsNormalTensors) {
  const Fixture& fx = vae_fixture();
  const WanVAE vae = WanVAE::load(fx.weights, VaeConfig::from_json(fx.config["constructor_args"]));
  const at::Tensor video = fx.in("frames9_video");
  const at::Tensor latent = vae.encode(video);
  EXPECT_FALSE(latent.is_inference());
  EXPECT_TRUE(close_to_ref(latent, fx.in("frames9_latent")));
  EXPECT_TRUE(close_to_ref(vae.encode_mu(video), fx.in("frames9_mu_raw")));
  const at::Tensor dec = vae.decode(fx.in("frames9_latent"));
  EXPECT_FALSE(dec.is_inference());
  EXPECT_TRUE(close_to_ref(dec, fx.in("frames9_decoded_clamped")));
  EXPECT_TRUE(close_to_ref(vae.decode_unclamped(fx.in("frames9_latent")), fx.in("frames9_decoded")));
  // Streaming gives the same frames, 1 then 4 per latent frame.
  std::vector<at::Tensor> chunks;
  vae.decode_stream(fx.in("frames9_latent"), [&](int64_t i, const at::Tensor& y) {
    EXPECT_EQ(y.size(2), i == 0 ? 1 : 4);
    chunks.push_back(y.clone());
  });
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_TRUE(close_to_ref(at::cat(chunks, 2), dec, 1e-6));
}

TEST(WanVae, ChunkedCacheEqualsFullSequence) {
  const Fixture& fx = vae_fixture();
  const WanVAE vae = WanVAE::load(fx.weights, VaeConfig::from_json(fx.config["constructor_args"]));
  c10::InferenceMode guard;
  const at::Tensor video = fx.in("frames9_video");
  EXPECT_TRUE(close_to_ref(vae.encoder_chunked(video), vae.encoder_full(video), 1e-5));
  const at::Tensor x = at::randn({1, 16, 3, 4, 4}, at::TensorOptions().dtype(at::kFloat));
  EXPECT_TRUE(close_to_ref(vae.decoder_chunked(x), vae.decoder_full(x), 1e-5));
}

TEST(WanVae, RejectsBadFrameCountsAndSizes) {
  const Fixture& fx = vae_fixture();
  const WanVAE vae = WanVAE::load(fx.weights, VaeConfig::from_json(fx.config["constructor_args"]));
  for (int64_t T : {2, 4, 6, 8}) {
    const std::string msg = error_of([&] { vae.encode(at::zeros({1, 3, T, 32, 32})); });
    EXPECT_NE(msg.find("1 + 4k frames"), std::string::npos) << "T=" << T << ": '" << msg << "'";
  }
  EXPECT_NE(error_of([&] { vae.encode(at::zeros({1, 3, 5, 36, 32})); }).find("multiples of 8"), std::string::npos);
  EXPECT_NE(error_of([&] { vae.encode(at::zeros({1, 4, 5, 32, 32})); }).find("expected [B,3,T,H,W]"), std::string::npos);
  EXPECT_NE(error_of([&] { vae.decode(at::zeros({1, 8, 2, 4, 4})); }).find("expected [B,16,T,h,w]"), std::string::npos);
}

TEST(WanVae, ReportsMissingMisshapedAndUnexpectedWeights) {
  const Fixture& fx = vae_fixture();
  const VaeConfig cfg = VaeConfig::from_json(fx.config["constructor_args"]);
  const std::string name = "decoder.upsamples.3.time_conv.weight";
  ASSERT_TRUE(fx.weights.has(name));

  std::string msg = error_of([&] { WanVAE::load(modified_weights(name, at::Tensor()), cfg); });
  EXPECT_NE(msg.find(name), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;

  msg = error_of([&] { WanVAE::load(modified_weights(name, at::zeros({64, 32, 2, 1, 1})), cfg); });
  EXPECT_NE(msg.find(name), std::string::npos) << msg;
  EXPECT_NE(msg.find("[64,32,2,1,1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("modified.safetensors"), std::string::npos) << msg;

  TensorSet extra = modified_weights("", at::Tensor());  // an unchanged copy
  extra.add("decoder.extra.weight", at::zeros({1}), "modified.safetensors");
  msg = error_of([&] { WanVAE::load(extra, cfg); });
  EXPECT_NE(msg.find("unexpected VAE tensor 'decoder.extra.weight'"), std::string::npos) << msg;

  // The wrong config for these weights is caught on the first tensor.
  VaeConfig wrong = cfg;
  wrong.dim = 16;
  EXPECT_NE(error_of([&] { WanVAE::load(fx.weights, wrong); }).find("encoder.conv1.weight"), std::string::npos);
}

TEST(WanVae, ConfigParsing) {
  const VaeConfig c = VaeConfig::from_json(vae_fixture().config["constructor_args"]);
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.temporal_downsample, (std::vector<bool>{false, true, true}));
  EXPECT_EQ(c.spatial_stride(), 8);
  EXPECT_EQ(c.temporal_stride(), 4);
  EXPECT_EQ(VaeConfig::from_json(c.to_json()).to_json(), c.to_json());
  EXPECT_NE(error_of([] { VaeConfig::from_json({{"dim", "x"}}); }).find("'dim'"), std::string::npos);
  EXPECT_NE(error_of([] { VaeConfig::from_json({{"bogus", 1}}); }).find("bogus"), std::string::npos);
  EXPECT_NE(error_of([] { VaeConfig::from_json({{"temperal_downsample", {true}}}); }).find("temperal_downsample"),
            std::string::npos);
  EXPECT_EQ(VaeConfig::infer(vae_fixture().weights).dim, 8);
  // The real model: ~126.9 M parameters (ARCHITECTURE.md section 1); counted on the skeleton, nothing allocated.
  WanVAE real = WanVAE::skeleton(VaeConfig{});
  int64_t n = 0;
  real.visit_parameters([&](const std::string&, at::Tensor&, const std::vector<int64_t>& shape, int64_t, bool) {
    int64_t k = 1;
    for (auto s : shape) k *= s;
    n += k;
  });
  EXPECT_NEAR(n / 1e6, 126.9, 0.1);
}

TEST(WanVae, InitSaveReloadAndTrainWithAutograd) {
  VaeConfig cfg;
  cfg.dim = 4;
  WanVAE vae = WanVAE::init(cfg, 7);
  const NamedTensors params = vae.named_parameters();
  EXPECT_EQ(params.size(), 194u);  // same tree as the checkpoint
  EXPECT_EQ(params.front().first, "encoder.conv1.weight");

  // Save with the upstream names and load back strictly.
  const std::string path = focalscope::testing::temp_dir("vae") + "/tiny_vae.safetensors";
  vae.save(path);
  const WanVAE back = WanVAE::load(load_safetensors(path), cfg);
  const NamedTensors p2 = back.named_parameters();
  ASSERT_EQ(p2.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(p2[i].first, params[i].first);
    EXPECT_TRUE(at::equal(p2[i].second, params[i].second)) << params[i].first;
  }
  EXPECT_FALSE(at::equal(WanVAE::init(cfg, 8).named_parameters()[0].second, params[0].second));

  // One reconstruction + KL step through the chunked path: every parameter gets a finite gradient.
  vae.set_requires_grad(true);
  const at::Tensor video = at::rand({1, 3, 5, 16, 16}) * 2 - 1;
  const VaePosterior post = vae.posterior(video);
  EXPECT_EQ(post.mu.sizes(), (std::vector<int64_t>{1, 16, 2, 2, 2}));
  const at::Tensor recon = vae.decode_raw(post.mu);
  EXPECT_EQ(recon.sizes(), video.sizes());
  const at::Tensor loss = (recon - video).pow(2).mean() + 1e-3 * (post.mu.pow(2) + post.log_var.exp() - post.log_var).mean();
  loss.backward();
  for (const auto& [name, t] : vae.named_parameters()) {
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_TRUE(at::isfinite(t.grad()).all().item<bool>()) << name;
  }
  // encode() keeps the graph when parameters require grad.
  EXPECT_TRUE(vae.encode(video).requires_grad());
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(WanVae, BatchedEqualsPerSample) {
  const Fixture& fx = vae_fixture();
  const WanVAE vae = WanVAE::load(fx.weights, VaeConfig::from_json(fx.config["constructor_args"]));
  const at::Tensor a = fx.in("frames5_video"), b = a.flip({3});
  const at::Tensor z = vae.encode(at::cat({a, b}, 0));
  EXPECT_TRUE(close_to_ref(z.slice(0, 0, 1), vae.encode(a), 1e-5));
  EXPECT_TRUE(close_to_ref(z.slice(0, 1, 2), vae.encode(b), 1e-5));
  const at::Tensor v = vae.decode(z);
  EXPECT_TRUE(close_to_ref(v.slice(0, 1, 2), vae.decode(z.slice(0, 1, 2)), 1e-5));
}

TEST(WanVae, AttentionScalesFollowUpstreamModuleIndices) {
  VaeConfig cfg;
  cfg.dim = 4;
  cfg.attn_scales = {1.0};
  const WanVAE vae = WanVAE::init(cfg, 1);
  std::set<std::string> names;
  for (const auto& [n, t] : vae.named_parameters()) names.insert(n);
  // Encoder stage 0 (scale 1): Res, Attn, Res, Attn, Resample; decoder stage 2 (scale 1/4*2*2): Res, Attn, ...
  EXPECT_TRUE(names.count("encoder.downsamples.1.to_qkv.weight"));
  EXPECT_TRUE(names.count("encoder.downsamples.3.proj.bias"));
  EXPECT_TRUE(names.count("encoder.downsamples.4.resample.1.weight"));
  EXPECT_TRUE(names.count("decoder.upsamples.9.norm.gamma"));
  EXPECT_TRUE(names.count("decoder.upsamples.14.resample.1.weight"));
  const at::Tensor z = vae.encode(at::rand({1, 3, 5, 16, 16}) * 2 - 1);
  EXPECT_EQ(vae.decode(z).sizes(), (std::vector<int64_t>{1, 3, 5, 16, 16}));
}
