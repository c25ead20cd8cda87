// CLIP ViT image tower: parity with clip_vision_tiny/ and loader / input validation.
#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <map>

#include "engine/clip/clip_vision.h"
#include "engine/core/error.h"
#include "engine/core/fixture.h"
#include "engine/core/safetensors.h"
#include "tests/test_util.h"

using focalscope::testing::error_of;
using namespace focalscope;
using focalscope::testing::close_to_ref;

namespace {
std::string fixture_dir() { return focalscope::testing::fixtures_root() + "/clip_vision_tiny"; }

const Fixture& fixture() {
  static const Fixture fx = load_fixture(fixture_dir());
  return fx;
}
ClipVisionConfig tiny_config() { return ClipVisionConfig::from_json(fixture().config["constructor_args"]); }

// Copy of `src` with a transform applied: fn(name, tensor, out) decides what goes into out.
template <typename Fn>
TensorSet rebuild(const TensorSet& src, Fn&& fn) {
  TensorSet out;
  out.origin = "edited.safetensors";
  for (const auto& n : src.names()) fn(n, src.get(n), out);
  return out;
}

}  // namespace

TEST(Clip, ConfigFromFixtureAndPreset) {
  ClipVisionConfig c = tiny_config();
  EXPECT_EQ(c.image_size, 32);
  EXPECT_EQ(c.num_tokens(), 17);
  EXPECT_EQ(c.mlp_dim(), 256);
  EXPECT_EQ(c.activation, "gelu");
  ClipVisionConfig h = ClipVisionConfig::vit_h_14();
  EXPECT_EQ(h.num_tokens(), 257);
  EXPECT_EQ(h.head_dim(), 80);
  EXPECT_EQ(h.mlp_dim(), 5120);
  EXPECT_EQ(h.num_layers, 32);
  // The fixture records the real arguments too.
  ClipVisionConfig r = ClipVisionConfig::from_json(fixture().config["real_vit_h_14_args"]);
  EXPECT_EQ(r.to_json(), h.to_json());
  EXPECT_EQ(ClipVisionConfig::from_json(h.to_json()).to_json(), h.to_json());
}

TEST(Clip, FixtureParity) {
  const Fixture& fx = fixture();
  FixtureResult r = run_clip_fixture(fx);
  std::map<std::string, at::Tensor> produced(r.outputs.begin(), r.outputs.end());
  for (const auto& name : fx.io.names())
    EXPECT_TRUE(r.inputs.count(name) || produced.count(name)) << "fixture tensor '" << name << "' not reproduced";
  double worst = 0.0;
  std::string worst_name;
  for (const auto& [name, ours] : r.outputs) {
    ASSERT_TRUE(fx.io.has(name)) << "runner produced '" << name << "' which the fixture does not record";
    const at::Tensor& ref = fx.in(name);
    EXPECT_TRUE(close_to_ref(ours, ref, 1e-4)) << name;
    if (ours.sizes() != ref.sizes()) continue;
    auto b = ref.to(at::kDouble);
    double err = (ours.to(at::kDouble) - b).abs().max().item<double>() / std::max(1.0, b.abs().max().item<double>());
    std::printf("[clip parity] %-32s rel err %.3g\n", name.c_str(), err);
    if (err > worst) worst = err, worst_name = name;
  }
  std::printf("[clip parity] worst relative error %.3g (%s)\n", worst, worst_name.c_str());
  EXPECT_LT(worst, 1e-5);  // expected ~1e-6: a larger error means a real deviation
}

TEST(Clip, ClipFeaAndHiddenStates) {
  const Fixture& fx = fixture();
  ClipVision clip = ClipVision::load(fx.weights, tiny_config());
  at::Tensor fea = clip.clip_fea(fx.in("image"));
  EXPECT_TRUE(close_to_ref(fea, fx.in("clip_fea")));
  std::vector<at::Tensor> hidden;
  at::Tensor all = clip.forward(fx.in("preprocessed"), -1, &hidden);
  ASSERT_EQ(hidden.size(), 3u);
  EXPECT_TRUE(at::equal(hidden.back(), all));
  EXPECT_TRUE(close_to_ref(hidden[1], fx.in("clip_fea")));
  // Zero blocks = embeddings; patch grid is [B,g,g,C].
  EXPECT_EQ(clip.forward(fx.in("preprocessed"), 0).sizes(), (std::vector<int64_t>{1, 17, 64}));
  EXPECT_EQ(clip.patch_grid(hidden[1]).sizes(), (std::vector<int64_t>{1, 4, 4, 64}));
  EXPECT_TRUE(at::equal(clip.patch_grid(hidden[1])[0][1][2], hidden[1][0][1 + 1 * 4 + 2]));
  // Joint-space projection of every token; the class token one equals the image embedding.
  at::Tensor proj = clip.project(all);
  EXPECT_EQ(proj.sizes(), (std::vector<int64_t>{1, 17, 32}));
  EXPECT_TRUE(close_to_ref(clip.image_embedding(fx.in("preprocessed")), fx.in("nonupstream_post_norm_head_cls")));
  EXPECT_TRUE(close_to_ref(proj.select(1, 0), fx.in("nonupstream_post_norm_head_cls")));
  // A batch gives the same rows.
  at::Tensor img = fx.in("image");
  at::Tensor batch = clip.preprocess(at::stack({img, img.flip(-1)}));
  at::Tensor both = clip.forward(batch, 2);
  EXPECT_TRUE(close_to_ref(both.slice(0, 0, 1), fx.in("clip_fea")));
}

TEST(Clip, PrefixedWholeClipCheckpoint) {
  // The real .pth holds visual.* + textual.* + log_scale: load with prefix "visual.", skipping the rest.
  const Fixture& fx = fixture();
  TensorSet whole = rebuild(fx.weights, [](const std::string& n, const at::Tensor& t, TensorSet& out) {
    out.add("visual." + n, t, "clip.pth");
  });
  whole.add("textual.token_embedding.weight", at::zeros({10, 4}), "clip.pth");
  whole.add("log_scale", at::zeros({}), "clip.pth");
  ClipVision clip = ClipVision::load(whole, tiny_config(), "visual.");
  EXPECT_TRUE(close_to_ref(clip.clip_fea(fx.in("image")), fx.in("clip_fea")));
  // Wrong prefix: a hint, not a crash.
  EXPECT_NE(error_of([&] { ClipVision::load(whole, tiny_config(), ""); }).find("visual."), std::string::npos);
  EXPECT_NE(error_of([&] { ClipVision::load(fx.weights, tiny_config(), "visual."); }).find("prefix"), std::string::npos);
  // Anything else in the whole checkpoint is reported.
  whole.add("visual.extra", at::zeros({2}), "clip.pth");
  EXPECT_NE(error_of([&] { ClipVision::load(whole, tiny_config(), "visual."); }).find("visual.extra"), std::string::npos);
}

TEST(Clip, MissingMisshapedUnexpectedWeights) {
  const Fixture& fx = fixture();
  TensorSet missing = rebuild(fx.weights, [](const std::string& n, const at::Tensor& t, TensorSet& out) {
    if (n != "transformer.1.attn.proj.weight") out.add(n, t, "edited.safetensors");
  });
  std::string e = error_of([&] { ClipVision::load(missing, tiny_config()); });
  EXPECT_NE(e.find("transformer.1.attn.proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;

  TensorSet misshaped = rebuild(fx.weights, [](const std::string& n, const at::Tensor& t, TensorSet& out) {
    out.add(n, n == "transformer.0.mlp.0.weight" ? at::zeros({128, 64}) : t, "edited.safetensors");
  });
  e = error_of([&] { ClipVision::load(misshaped, tiny_config()); });
  EXPECT_NE(e.find("edited.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("transformer.0.mlp.0.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("[128,64]"), std::string::npos) << e;

  // A config with fewer layers than the file leaves transformer.2.* unclaimed.
  ClipVisionConfig two = tiny_config();
  two.num_layers = 2;
  e = error_of([&] { ClipVision::load(fx.weights, two); });
  EXPECT_NE(e.find("transformer.2."), std::string::npos) << e;
  // More layers than the file: missing.
  ClipVisionConfig four = tiny_config();
  four.num_layers = 4;
  e = error_of([&] { ClipVision::load(fx.weights, four); });
  EXPECT_NE(e.find("transformer.3."), std::string::npos) << e;

  TensorSet ints = rebuild(fx.weights, [](const std::string& n, const at::Tensor& t, TensorSet& out) {
    out.add(n, n == "head" ? t.to(at::kLong) : t, "edited.safetensors");
  });
  EXPECT_THROW(ClipVision::load(ints, tiny_config()), Error);
}

TEST(Clip, BadConfigAndInputs) {
  nlohmann::json a = fixture().config["constructor_args"];
  auto bad = [&](const char* key, nlohmann::json v) {
    nlohmann::json b = a;
    if (v.is_null()) b.erase(key); else b[key] = v;
    return error_of([&] { ClipVisionConfig::from_json(b, "cfg.json"); });
  };
  EXPECT_NE(bad("num_heads", 5).find("num_heads"), std::string::npos);
  EXPECT_NE(bad("patch_size", 7).find("patch_size"), std::string::npos);
  EXPECT_NE(bad("dim", nullptr).find("dim"), std::string::npos);
  EXPECT_NE(bad("pool_type", "attn_pool").find("attn_pool"), std::string::npos);
  EXPECT_NE(bad("activation", "relu").find("relu"), std::string::npos);
  EXPECT_NE(bad("dim", "64").find("dim"), std::string::npos);
  EXPECT_NE(bad("image_size", -32).find("image_size"), std::string::npos);

  ClipVision clip = ClipVision::load(fixture().weights, tiny_config());
  EXPECT_THROW(clip.preprocess(at::zeros({4, 8, 8})), Error);
  EXPECT_THROW(clip.preprocess(at::zeros({8, 8})), Error);
  EXPECT_THROW(clip.preprocess(at::zeros({3, 8, 8}, at::kLong)), Error);
  EXPECT_THROW(clip.forward(at::zeros({1, 3, 31, 32})), Error);
  EXPECT_THROW(clip.forward(at::zeros({3, 32, 32})), Error);
  EXPECT_THROW(clip.forward(at::zeros({1, 3, 32, 32}), 4), Error);
  EXPECT_THROW(clip.forward(at::zeros({1, 3, 32, 32}), -2), Error);
  EXPECT_THROW(clip.project(at::zeros({1, 63})), Error);
  EXPECT_THROW(clip.patch_grid(at::zeros({1, 16, 64})), Error);
}

TEST(Clip, RandomInitTrainSaveReload) {
  ClipVisionConfig c = tiny_config();
  ClipVision a = ClipVision::random_init(c, 7), b = ClipVision::random_init(c, 7), d = ClipVision::random_init(c, 8);
  auto pa = a.named_parameters(), pb = b.named_parameters(), pd = d.named_parameters();
  ASSERT_EQ(pa.size(), fixture().weights.size());  // same upstream names as the fixture file
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(fixture().weights.has(pa[i].first)) << pa[i].first;
    EXPECT_TRUE(at::equal(pa[i].second, pb[i].second)) << pa[i].first;
  }
  EXPECT_FALSE(at::equal(a.head, d.head));

  // One gradient step through the tower changes the parameters in place (handles are shared).
  a.set_requires_grad(true);
  at::manual_seed(0);
  at::Tensor pixels = at::randn({2, 3, 32, 32});
  at::Tensor emb = a.image_embedding(pixels);
  at::Tensor loss = emb.pow(2).mean() + a.forward(pixels, 2).select(1, 0).pow(2).mean();
  loss.backward();
  size_t with_grad = 0;
  for (auto& [n, t] : a.named_parameters())
    if (t.grad().defined() && t.grad().abs().sum().item<double>() > 0) ++with_grad;
  EXPECT_EQ(with_grad, pa.size());
  {
    at::NoGradGuard g;
    for (auto& [n, t] : a.named_parameters()) t.sub_(0.1 * t.grad());
  }
  EXPECT_FALSE(at::equal(a.head, b.head));

  // Save with and without prefix, reload, same outputs.
  std::string dir = focalscope::testing::temp_dir("clip");
  a.set_requires_grad(false);
  a.save(dir + "/tower.safetensors");
  a.save(dir + "/whole.safetensors", "visual.");
  auto f = SafetensorsFile::open(dir + "/tower.safetensors");
  ASSERT_TRUE(f->metadata().count("clip_vision_config"));
  ClipVisionConfig back = ClipVisionConfig::from_json(nlohmann::json::parse(f->metadata().at("clip_vision_config")));
  ClipVision r1 = ClipVision::load(load_safetensors(dir + "/tower.safetensors"), back);
  ClipVision r2 = ClipVision::load(load_safetensors(dir + "/whole.safetensors"), back, "visual.");
  at::NoGradGuard g;
  at::Tensor want = a.forward(pixels);
  EXPECT_TRUE(at::equal(r1.forward(pixels), want));
  EXPECT_TRUE(at::equal(r2.forward(pixels), want));
  std::filesystem::remove_all(dir);
}
