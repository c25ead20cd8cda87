// HunyuanVideo-I2V against the upstream goldens: every fixture folder under the Hunyuan reference root
// ($FOCALSCOPE_HUNYUAN_FIXTURES, default ../shared/fixtures/hunyuan_reference) that `run-module` has a runner for
// is loaded, run and compared output by output (max|ours-ref| <= 1e-4 * max(1, max|ref|); a recorded output that
// is not reproduced fails). Nothing names a folder or a size: a hidden set in the same format runs unchanged.
// Plus the loader's error messages, the release's parameter count, the scheduler's documented values and the VAE's
// config / tiling geometry / checkpoint-key rules.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/core/error.h"
#include "engine/models/hunyuan/flow_match_discrete.h"
#include "engine/models/hunyuan/hunyuan_layers.h"
#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/models/hunyuan/hunyuan_sampler.h"
#include "engine/models/hunyuan/hunyuan_vae.h"
#include "engine/pipeline/run_module.h"
#include "tests/fixture_check.h"

using namespace focalscope;

namespace {
std::string hunyuan_root() {
  if (const char* e = std::getenv("FOCALSCOPE_HUNYUAN_FIXTURES"); e && *e) return e;
  return focalscope::testing::shared_fixture("hunyuan_reference");
}

std::vector<std::string> fixture_dirs() {
  std::vector<std::string> out;
  namespace fs = std::filesystem;
  if (!fs::is_directory(hunyuan_root())) return out;
  for (const auto& e : fs::directory_iterator(hunyuan_root()))
    if (e.is_directory() && fs::exists(e.path() / "config.json") && fs::exists(e.path() / "io.safetensors"))
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

bool is_hunyuan_kind(const std::string& k) { return k == "hunyuan_dit" || k == "hunyuan_sampler" || k == "hunyuan_vae"; }

// The folder's kind, or "" (test skipped) for a folder that is not a HunyuanVideo module fixture.
std::string kind_or_skip(const Fixture& f) {
  try {
    const std::string k = fixture_kind(f);
    return is_hunyuan_kind(k) ? k : "";
  } catch (const Error&) {
    return "";
  }
}

std::string dir_of_kind(const std::string& kind) {
  for (const auto& d : fixture_dirs())
    if (kind_or_skip(load_fixture(d)) == kind) return d;
  return "";
}
std::string dit_dir() { return dir_of_kind("hunyuan_dit"); }
std::string vae_dir() { return dir_of_kind("hunyuan_vae"); }
}  // namespace

class HunyuanParity : public ::testing::TestWithParam<std::string> {};

TEST_P(HunyuanParity, EveryRecordedOutputMatches) {
  Fixture f = load_fixture(GetParam());
  if (kind_or_skip(f).empty()) GTEST_SKIP() << f.dir << ": no HunyuanVideo runner for this module yet";
  FixtureResult r = run_module_fixture(f);
  EXPECT_FALSE(r.outputs.empty());
  const double worst = focalscope::testing::check_fixture(f, r);
  RecordProperty("worst_relative_error", std::to_string(worst));
}

// Upstream's precision (bf16 GEMMs, float32 final linear / norms): within the bound the Wan parity test uses for
// bf16 (docs/real_weights.md), and really in bf16 (a non-zero difference).
// The VAE (upstream: fp16 weights + fp16 autocast; here bf16 convolutions / linears with a float32 activation stream,
// GroupNorm and softmax) gets its own, looser bound: bf16 keeps 3 mantissa bits fewer than upstream's fp16, and the
// tiny VAE's ~40 convolutions, encode then decode, compound them. Measured on a 2-core AVX-512-bf16 CPU: worst 0.089
// on hunyuan_vae_tiny (tiled17_tiled_decoded; untiled outputs <= 0.04), 0.03-0.08 for the tiled encode + decode of 8
// random 17-frame clips against our own float32; a wrong weight or layout gives errors near 1.
constexpr double kHunyuanBf16Bound = 1e-1;
constexpr double kHunyuanVaeBf16Bound = 2.5e-1;
// On a CPU without oneDNN's bf16 kernels (no AVX-512: e.g. a 2-core AVX2 AMD EPYC) libtorch 1.13 falls back to a
// GEMM whose accumulator is bf16 itself: its error grows with the reduction length (max relative 0.018 / 0.051 / 0.118
// at K = 64 / 512 / 4096 against 0.004 for rounding the output alone, measured 2026-12-08), so the VAE's decoder,
// with the longest reductions, drifts further: worst 0.516 there (tiled17_decoded), against 0.089 with native kernels.
// That is the machine's bf16 arithmetic, not a layout fault (those give ~1); the bound follows the kernel found.
constexpr double kHunyuanVaeBf16BoundBf16Accumulator = 6e-1;

// True when this libtorch's bf16 GEMM keeps a bf16 accumulator (relative error at K = 4096 far above the output's
// own rounding, 2^-8).
static bool bf16_gemm_accumulates_in_bf16() {
  static const bool yes = [] {
    at::Generator g = at::detail::createCPUGenerator(7);
    const at::Tensor a = at::randn({16, 4096}, g).to(at::kBFloat16), b = at::randn({4096, 16}, g).to(at::kBFloat16);
    const at::Tensor exact = at::mm(a.to(at::kDouble), b.to(at::kDouble));
    const double err = (at::mm(a, b).to(at::kDouble) - exact).abs().max().item<double>() / exact.abs().max().item<double>();
    return err > 0.03;
  }();
  return yes;
}

TEST_P(HunyuanParity, Bf16WithinDocumentedBound) {
  Fixture f = load_fixture(GetParam());
  const std::string kind = kind_or_skip(f);
  if (kind.empty()) GTEST_SKIP() << f.dir << ": no HunyuanVideo runner for this module yet";
  f.target.dtype = at::kBFloat16;
  FixtureResult r = run_module_fixture(f);
  const double bound = kind != "hunyuan_vae"                ? kHunyuanBf16Bound
                       : bf16_gemm_accumulates_in_bf16() ? kHunyuanVaeBf16BoundBf16Accumulator
                                                         : kHunyuanVaeBf16Bound;
  const double worst = focalscope::testing::check_fixture(f, r, nullptr, bound);
  EXPECT_GT(worst, 1e-5) << "a bf16 run should differ from the float32 reference";
}

TEST_P(HunyuanParity, CudaFloat32MatchesWhenAvailable) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA in this libtorch / machine";
  Fixture f = load_fixture(GetParam());
  if (kind_or_skip(f).empty()) GTEST_SKIP() << f.dir << ": no HunyuanVideo runner for this module yet";
  f.target.device = c10::Device(c10::kCUDA);
  FixtureResult r = run_module_fixture(f);
  focalscope::testing::check_fixture(f, r);
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, HunyuanParity, ::testing::ValuesIn(fixture_dirs()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = std::filesystem::path(i.param).filename().string();
                           for (auto& c : n) if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(HunyuanParitySet, RootHasDitSamplerAndVaeFixtures) {
  std::set<std::string> kinds;
  for (const auto& d : fixture_dirs()) kinds.insert(kind_or_skip(load_fixture(d)));
  for (const char* k : {"hunyuan_dit", "hunyuan_sampler", "hunyuan_vae"})
    EXPECT_TRUE(kinds.count(k)) << "expected a " << k << " fixture under " << hunyuan_root();
}

TEST(HunyuanDiT, ReleaseConfigHasUpstreamParameterCount) {
  // ARCHITECTURE.md §1: 12.82 B parameters in 856 state-dict tensors.
  const HunyuanConfig c = HunyuanConfig::release_i2v_720p();
  EXPECT_NEAR(c.num_params() / 1e9, 12.82, 0.005);
  EXPECT_EQ(c.num_tensors(), 856);
  EXPECT_EQ(c.head_dim(), 128);
}

TEST(HunyuanDiT, LoaderNamesMissingMisshapedAndUnknownTensors) {
  const std::string dir = dit_dir();
  if (dir.empty()) GTEST_SKIP() << "no HunyuanVideo DiT fixture";
  Fixture f = load_fixture(dir);
  const HunyuanConfig cfg = HunyuanConfig::from_json(f.config);
  // Everything loads, and named_parameters gives back exactly the checkpoint's names and element count.
  const HunyuanModel m = HunyuanModel::load(f.weights, cfg);
  const NamedTensors named = m.named_parameters();
  EXPECT_EQ(static_cast<int>(named.size()), cfg.num_tensors());
  long long elems = 0;
  for (const auto& [n, t] : named) {
    EXPECT_TRUE(f.weights.has(n)) << n;
    elems += t.numel();
  }
  EXPECT_EQ(named.size(), f.weights.size());
  EXPECT_EQ(elems, cfg.num_params());

  auto copy_without = [&](const std::string& drop, const std::string& origin) {
    TensorSet s;
    s.origin = origin;
    for (const auto& n : f.weights.names())
      if (n != drop) s.add(n, f.weights.get(n), origin);
    return s;
  };
  const std::string victim = "single_blocks.1.linear2.bias";
  std::string msg = focalscope::testing::error_of([&] { HunyuanModel::load(copy_without(victim, "m.safetensors"), cfg); });
  EXPECT_NE(msg.find(victim), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;

  const std::string q = "double_blocks.0.txt_attn_q_norm.weight";
  TensorSet bad2;
  bad2.origin = "bad.safetensors";
  for (const auto& n : f.weights.names())
    bad2.add(n, n == q ? at::ones({cfg.head_dim() + 1}) : f.weights.get(n), "bad.safetensors");
  msg = focalscope::testing::error_of([&] { HunyuanModel::load(bad2, cfg); });
  EXPECT_NE(msg.find(q), std::string::npos) << msg;
  EXPECT_NE(msg.find("[" + std::to_string(cfg.head_dim() + 1) + "]"), std::string::npos) << msg;

  TensorSet extra = copy_without("", "extra.safetensors");
  extra.add("single_blocks.9.q_norm.weight", at::ones({cfg.head_dim()}), "extra.safetensors");
  msg = focalscope::testing::error_of([&] { HunyuanModel::load(extra, cfg); });
  EXPECT_NE(msg.find("single_blocks.9.q_norm.weight"), std::string::npos) << msg;

  HunyuanConfig no_guid = cfg;
  no_guid.guidance_embed = false;
  msg = focalscope::testing::error_of([&] { HunyuanModel::load(f.weights, no_guid); });
  EXPECT_NE(msg.find("guidance_in"), std::string::npos) << msg;
}

TEST(HunyuanDiT, UnsupportedVariantsAreRefused) {
  HunyuanConfig c;
  c.i2v_condition_type = "latent_concat";
  EXPECT_NE(focalscope::testing::error_of([&] { c.validate(); }).find("latent_concat"), std::string::npos);
  c = HunyuanConfig{};
  c.rope_dim_list = {16, 56, 48};
  EXPECT_NE(focalscope::testing::error_of([&] { c.validate(); }).find("rope_dim_list"), std::string::npos);
}

// The causal ablation's knockout (joint_attention's hidden rows) against its definition: a full score matrix with the
// padding segment apart and the hidden text keys at -inf for the image queries of that sample only.
TEST(HunyuanDiT, JointAttentionHiddenRowsAreAMaskedSoftmax) {
  c10::InferenceMode guard;
  const int64_t Li = 5, Lt = 6, N = 2, d = 4, S = Li + Lt;
  at::manual_seed(11);
  const at::Tensor q = at::randn({2, S, N, d}), k = at::randn({2, S, N, d}), v = at::randn({2, S, N, d});
  const std::vector<int64_t> valid = {6, 4};                                    // sample 1 has 2 padded text rows
  const std::vector<std::pair<int64_t, int64_t>> hidden = {{1, 3}, {2, 9}};     // sample 1's range runs into the padding
  auto reference = [&](const std::vector<std::pair<int64_t, int64_t>>& h) {
    std::vector<at::Tensor> rows;
    for (int64_t b = 0; b < 2; ++b) {
      const int64_t cut = Li + valid[static_cast<size_t>(b)];
      at::Tensor mask = at::zeros({S, S});
      for (int64_t i = 0; i < S; ++i)
        for (int64_t j = 0; j < S; ++j) {
          const bool same_segment = (i < cut) == (j < cut);
          const bool hid = i < Li && j >= Li + h[static_cast<size_t>(b)].first && j < Li + h[static_cast<size_t>(b)].second && j < cut;
          if (!same_segment || hid) mask[i][j] = -std::numeric_limits<float>::infinity();
        }
      const at::Tensor qb = q[b].transpose(0, 1), kb = k[b].transpose(0, 1), vb = v[b].transpose(0, 1);  // [N, S, d]
      const at::Tensor p = at::softmax(at::matmul(qb, kb.transpose(1, 2)) / std::sqrt(double(d)) + mask, -1);
      rows.push_back(at::matmul(p, vb).transpose(0, 1).reshape({S, N * d}));
    }
    return at::stack(rows);
  };
  const at::Tensor got = hunyuan::joint_attention(q, k, v, valid, Li, &hidden);
  EXPECT_TRUE(at::allclose(got, reference(hidden), 1e-5, 1e-5)) << (got - reference(hidden)).abs().max().item<float>();
  const std::vector<std::pair<int64_t, int64_t>> none = {{0, 0}, {0, 0}};
  EXPECT_TRUE(at::equal(hunyuan::joint_attention(q, k, v, valid, Li, &none), hunyuan::joint_attention(q, k, v, valid, Li)));
  EXPECT_TRUE(at::allclose(hunyuan::joint_attention(q, k, v, valid, Li), reference(none), 1e-5, 1e-5));
  // The text queries and the padding rows are the plain attention's; only the image queries move.
  const at::Tensor plain = hunyuan::joint_attention(q, k, v, valid, Li);
  EXPECT_TRUE(at::allclose(got.narrow(1, Li, Lt), plain.narrow(1, Li, Lt), 1e-6, 1e-6));
  EXPECT_FALSE(at::allclose(got.narrow(1, 0, Li), plain.narrow(1, 0, Li), 1e-4, 1e-4));
}

TEST(HunyuanSampler, ScheduleMatchesDocumentedValues) {
  // ARCHITECTURE.md §8: 4 steps shift 17 -> [1000, 980.769, 944.444, 850]; 8 steps shift 7 -> [1000, 980,
  // 954.545, 921.053, 875, 807.692, 700, 500]; the last sigma is 0.
  FlowMatchDiscrete a(17.0, true);
  a.set_timesteps(4);
  const std::vector<double> wa{1000, 980.769, 944.444, 850.0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(a.timesteps()[i].item<double>(), wa[i], 1e-3);
  EXPECT_EQ(a.sigmas()[4].item<float>(), 0.0f);
  FlowMatchDiscrete b(7.0, true);
  b.set_timesteps(8);
  const std::vector<double> wb{1000, 980, 954.545, 921.053, 875, 807.692, 700, 500};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(b.timesteps()[i].item<double>(), wb[i], 1e-3);
  // Not reversed: sigmas rise from 0.
  FlowMatchDiscrete c(7.0, false);
  c.set_timesteps(8);
  EXPECT_EQ(c.sigmas()[0].item<float>(), 0.0f);
  EXPECT_THROW(c.set_timesteps(0), Error);
  EXPECT_THROW(FlowMatchDiscrete(0.0, true), Error);
}

TEST(HunyuanSampler, CfgWithTheSamePromptReproducesCfgOne) {
  // uncond + s * (cond - uncond) with cond == uncond is cond: the [uncond; cond] batch path must give the plain
  // trajectory (up to batching's last-bit GEMM differences).
  const std::string dir = dit_dir();
  if (dir.empty()) GTEST_SKIP() << "no HunyuanVideo DiT fixture";
  Fixture f = load_fixture(dir);
  const HunyuanModel m = HunyuanModel::load(f.weights, HunyuanConfig::from_json(f.config));
  const auto names = f.io.names();
  auto first = [&](const std::string& suffix) {
    for (const auto& n : names)
      if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          f.io.get(n).size(0) == 1)
        return f.io.get(n);
    return at::Tensor();
  };
  const at::Tensor x = first("_x");
  ASSERT_TRUE(x.defined());
  const HunyuanText text{first("_text_states"), first("_text_mask"), first("_text_states_2")};
  ASSERT_EQ(text.states.size(1), text.mask.size(1));
  HunyuanSampleOptions o;
  o.steps = 2;
  o.flow_shift = 7.0;
  o.i2v_stability = true;
  const at::Tensor img = x.narrow(2, 0, 1) * 0.5;
  const at::Tensor plain = sample_hunyuan_i2v(m, x, img, text, nullptr, o);
  o.cfg_scale = 5.0;
  HunyuanSampleTrace tr;
  const at::Tensor guided = sample_hunyuan_i2v(m, x, img, text, &text, o, &tr);
  EXPECT_EQ(tr.model_input[0].size(0), 2);
  EXPECT_TRUE(focalscope::testing::close_to_ref(guided, plain, 1e-5));
  // Frame 0 is the image latent after every step.
  EXPECT_TRUE(at::equal(guided.narrow(2, 0, 1), img));
  // CFG without the negative conditioning is refused.
  EXPECT_NE(focalscope::testing::error_of([&] { sample_hunyuan_i2v(m, x, img, text, nullptr, o); }).find("negative"),
            std::string::npos);
}

// ---- VAE (AutoencoderKLCausal3D) ---------------------------------------------------------------------------

TEST(HunyuanVAE, DecoderReproducesRecordedDecodesFromRecordedLatents) {
  // The end-to-end runner decodes its own latents; here the decoder alone (untiled and tiled) starts from the
  // recorded ones, so an encoder error cannot hide or excuse a decoder error.
  const std::string dir = vae_dir();
  if (dir.empty()) GTEST_SKIP() << "no HunyuanVideo VAE fixture";
  Fixture f = load_fixture(dir);
  c10::InferenceMode guard;
  const HunyuanVAE vae = HunyuanVAE::load(f.weights, HunyuanVaeConfig::from_json(f.config));
  int checked = 0;
  for (const auto& n : f.io.names()) {
    const std::string sfx = "_decoded";
    if (n.size() <= sfx.size() || n.compare(n.size() - sfx.size(), sfx.size(), sfx) != 0) continue;
    const std::string stem = n.substr(0, n.size() - sfx.size());  // "<case>" or "<case>_tiled"
    const bool tiled = stem.size() > 6 && stem.compare(stem.size() - 6, 6, "_tiled") == 0;
    const std::string latent = tiled ? stem + "_mean" : stem + "_mode";
    if (!f.io.has(latent)) continue;
    const at::Tensor out = vae.decode(f.io.get(latent), tiled ? HunyuanVaeTilingMode::on() : HunyuanVaeTilingMode::off());
    EXPECT_TRUE(focalscope::testing::close_to_ref(out, f.io.get(n))) << n;
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

TEST(HunyuanVAE, TilingOnlyTriggersAboveTheTileSize) {
  const std::string dir = vae_dir();
  if (dir.empty()) GTEST_SKIP() << "no HunyuanVideo VAE fixture";
  Fixture f = load_fixture(dir);
  c10::InferenceMode guard;
  const HunyuanVaeConfig cfg = HunyuanVaeConfig::from_json(f.config);
  const HunyuanVAE vae = HunyuanVAE::load(f.weights, cfg);
  const HunyuanVaeTiling t = cfg.tiling();
  // A clip no larger than one tile in every dim: tiling on is bit-identical to tiling off (upstream's dispatch).
  const int64_t T = std::min<int64_t>(5, t.sample_tsize), S = std::min<int64_t>(t.sample_size, 16);
  const at::Tensor video = at::rand({1, cfg.in_channels, T, S, S}) * 2 - 1;
  const HunyuanVaePosterior a = vae.encode(video, HunyuanVaeTilingMode::off());
  const HunyuanVaePosterior b = vae.encode(video, HunyuanVaeTilingMode::on());
  EXPECT_TRUE(at::equal(a.moments, b.moments));
  EXPECT_TRUE(at::equal(vae.decode(a.mean), vae.decode(a.mean, HunyuanVaeTilingMode::on())));
  // sample = mean + exp(logvar / 2) * noise; the pipeline scalings.
  const at::Tensor noise = at::randn(a.mean.sizes());
  EXPECT_TRUE(at::allclose(a.sample(noise), a.mean + at::exp(0.5 * a.logvar) * noise));
  EXPECT_TRUE(at::allclose(vae.encode_scaled(video), a.mean * cfg.scaling_factor));
  const at::Tensor unit = vae.decode_to_unit(a.mean * cfg.scaling_factor, HunyuanVaeTilingMode::off());
  EXPECT_TRUE(focalscope::testing::close_to_ref(unit, (vae.decode(a.mean) / 2 + 0.5).clamp(0, 1), 1e-4));
  EXPECT_NE(focalscope::testing::error_of([&] { a.sample(at::randn({1, 2, 3})); }).find("noise"), std::string::npos);
  EXPECT_NE(focalscope::testing::error_of([&] { vae.encode(at::rand({1, cfg.in_channels + 1, 1, 8, 8})); }).find("video"),
            std::string::npos);
}

TEST(HunyuanVAE, LoaderNamesMissingMisshapedAndUnknownTensors) {
  const std::string dir = vae_dir();
  if (dir.empty()) GTEST_SKIP() << "no HunyuanVideo VAE fixture";
  Fixture f = load_fixture(dir);
  const HunyuanVaeConfig cfg = HunyuanVaeConfig::from_json(f.config);
  const HunyuanVAE v = HunyuanVAE::load(f.weights, cfg);
  const NamedTensors named = v.named_parameters();
  EXPECT_EQ(named.size(), f.weights.size());
  for (const auto& [n, t] : named) EXPECT_TRUE(f.weights.has(n)) << n;
  EXPECT_EQ(v.encoder.mid.attn.group_norm.weight.scalar_type(), at::kFloat);

  auto copy = [&](const std::string& drop, const std::string& origin) {
    TensorSet s;
    s.origin = origin;
    for (const auto& n : f.weights.names())
      if (n != drop) s.add(n, f.weights.get(n), origin);
    return s;
  };
  const int last = cfg.num_blocks() - 1;
  const std::string victim = "decoder.up_blocks." + std::to_string(last) + ".resnets.0.conv2.conv.bias";
  std::string msg = focalscope::testing::error_of([&] { HunyuanVAE::load(copy(victim, "vae.safetensors"), cfg); });
  EXPECT_NE(msg.find(victim), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;

  const std::string q = "encoder.mid_block.attentions.0.to_q.weight";
  const int64_t C = cfg.block_out_channels.back();
  TensorSet bad;
  bad.origin = "bad.safetensors";
  for (const auto& n : f.weights.names()) bad.add(n, n == q ? at::ones({C, C + 1}) : f.weights.get(n), "bad.safetensors");
  msg = focalscope::testing::error_of([&] { HunyuanVAE::load(bad, cfg); });
  EXPECT_NE(msg.find(q), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(C + 1)), std::string::npos) << msg;

  TensorSet extra = copy("", "extra.safetensors");
  extra.add("decoder.mid_block.attentions.1.to_q.weight", at::ones({C, C}), "extra.safetensors");
  msg = focalscope::testing::error_of([&] { HunyuanVAE::load(extra, cfg); });
  EXPECT_NE(msg.find("decoder.mid_block.attentions.1.to_q.weight"), std::string::npos) << msg;

  HunyuanVaeConfig no_attn = cfg;
  no_attn.mid_block_add_attention = false;  // the attention tensors are then unexpected
  msg = focalscope::testing::error_of([&] { HunyuanVAE::load(f.weights, no_attn); });
  EXPECT_NE(msg.find("attentions.0"), std::string::npos) << msg;
}

TEST(HunyuanVAE, ReleaseCheckpointKeysLoseTheirVaePrefix) {
  // load_vae: when any key starts with "vae.", only those are kept, with "vae." removed.
  const std::string dir = vae_dir();
  if (dir.empty()) GTEST_SKIP() << "no HunyuanVideo VAE fixture";
  Fixture f = load_fixture(dir);
  const HunyuanVaeConfig cfg = HunyuanVaeConfig::from_json(f.config);
  TensorSet wrapped;
  wrapped.origin = "pytorch_model.pt";
  for (const auto& n : f.weights.names()) wrapped.add("vae." + n, f.weights.get(n), "pytorch_model.pt");
  wrapped.add("loss.discriminator.weight", at::ones({2}), "pytorch_model.pt");  // dropped, as upstream drops it
  const TensorSet stripped = hunyuan_vae_strip_prefix(wrapped);
  EXPECT_EQ(stripped.size(), f.weights.size());
  const HunyuanVAE v = HunyuanVAE::load(stripped, cfg);
  EXPECT_TRUE(at::equal(v.post_quant_conv.weight, f.weights.get("post_quant_conv.weight")));
  // Unprefixed sets pass through unchanged.
  EXPECT_EQ(hunyuan_vae_strip_prefix(f.weights).size(), f.weights.size());
}

TEST(HunyuanVAE, ReleaseConfigAndTileGeometry) {
  // vae/config.json of the release (diffusers format, '_' keys are metadata).
  const auto j = nlohmann::json::parse(R"({
    "_class_name": "AutoencoderKLCausal3D", "_diffusers_version": "0.4.2", "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlockCausal3D", "DownEncoderBlockCausal3D", "DownEncoderBlockCausal3D", "DownEncoderBlockCausal3D"],
    "up_block_types": ["UpDecoderBlockCausal3D", "UpDecoderBlockCausal3D", "UpDecoderBlockCausal3D", "UpDecoderBlockCausal3D"],
    "in_channels": 3, "out_channels": 3, "latent_channels": 16, "layers_per_block": 2, "norm_num_groups": 32,
    "sample_size": 256, "sample_tsize": 64, "scaling_factor": 0.476986, "time_compression_ratio": 4,
    "spatial_compression_ratio": 8, "mid_block_add_attention": true})");
  const HunyuanVaeConfig c = HunyuanVaeConfig::from_json(j);
  EXPECT_EQ(c.to_json(), HunyuanVaeConfig::release_884_16c().to_json());
  EXPECT_EQ(c.spatial_factor(), 8);
  EXPECT_EQ(c.temporal_factor(), 4);
  for (int i = 0; i < 4; ++i) {  // ARCHITECTURE.md §11: strides (1,2,2), (2,2,2), (2,2,2), none
    EXPECT_EQ(c.spatial_resample(i), i < 3) << i;
    EXPECT_EQ(c.temporal_resample(i), i == 1 || i == 2) << i;
  }
  // §11 release values: encode tiles 65 frames every 48, blend 4 latent frames; 256 px every 192 px, blend 8
  // latents, crop 24. Decode tiles 17 latent frames every 12, blend 16 frames, crop 48; 32 latents every 24,
  // blend 64 px, crop 192 px.
  const HunyuanVaeTiling t = c.tiling();
  EXPECT_EQ(t.latent_size, 32);
  EXPECT_EQ(t.latent_tsize, 16);
  EXPECT_EQ(t.enc_tstep(), 48);
  EXPECT_EQ(t.enc_tblend(), 4);
  EXPECT_EQ(t.enc_step(), 192);
  EXPECT_EQ(t.enc_blend(), 8);
  EXPECT_EQ(t.enc_limit(), 24);
  EXPECT_EQ(t.dec_tstep(), 12);
  EXPECT_EQ(t.dec_tblend(), 16);
  EXPECT_EQ(t.dec_tlimit(), 48);
  EXPECT_EQ(t.dec_step(), 24);
  EXPECT_EQ(t.dec_blend(), 64);
  EXPECT_EQ(t.dec_limit(), 192);
  // 129 frames at 704 x 1248 (33 x 88 x 156 latents) decode in 3 temporal x (4 x 7) spatial tiles.
  EXPECT_EQ(HunyuanVaeTiling::origins(33, t.dec_tstep()).size(), 3u);
  EXPECT_EQ(HunyuanVaeTiling::origins(88, t.dec_step()).size(), 4u);
  EXPECT_EQ(HunyuanVaeTiling::origins(156, t.dec_step()).size(), 7u);

  auto err = [&](const char* key, const nlohmann::json& value) {
    nlohmann::json k = j;
    k[key] = value;
    return focalscope::testing::error_of([&] { HunyuanVaeConfig::from_json(k); });
  };
  EXPECT_NE(err("use_tiling", true).find("use_tiling"), std::string::npos);
  EXPECT_NE(err("time_compression_ratio", 8).find("time_compression_ratio"), std::string::npos);
  EXPECT_NE(err("norm_num_groups", 48).find("norm_num_groups"), std::string::npos);
  EXPECT_NE(err("sample_size", nlohmann::json::array({256, 256})).find("sample_size"), std::string::npos);
  EXPECT_NE(err("act_fn", "gelu").find("gelu"), std::string::npos);
  // Missing keys take upstream's constructor defaults (diffusers from_config), not the release's.
  EXPECT_EQ(HunyuanVaeConfig::from_json(nlohmann::json::object()).latent_channels, 4);
}
