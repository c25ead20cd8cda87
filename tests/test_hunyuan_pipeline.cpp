// HunyuanVideo-I2V end to end on the CPU (issue 26 item 1): a release-layout folder with tiny weights (DiT random at
// the reference fixture's sizes, the VAE fixture's weights, tiny LLaVA / CLIP-L text-encoder folders) run by
// generate_hunyuan and by `focalscope generate --model-dir`: shapes, determinism, token_replace's frame 0, the
// hallucination trace, CFG with the negative prompt, and one-line errors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/core/error.h"
#include "engine/core/fixture.h"
#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/models/hunyuan/hunyuan_release.h"
#include "engine/models/hunyuan/text/hunyuan_text_encoders.h"
#include "engine/guidance/hunyuan_release_guidance.h"
#include "engine/pipeline/hunyuan_pipeline.h"
#include "render/image.h"
#include "tests/fixture_check.h"
#include "tests/hunyuan_release_layout.h"
#include "tests/pth_writer.h"

using namespace focalscope;
namespace fs = std::filesystem;

namespace {

using focalscope::testing::error_of;

struct Layout : focalscope::testing::HunyuanReleaseLayout {
  fs::path image_png;
  at::Tensor image;  // [3, 40, 56] in [-1, 1], the PNG's pixels
};

// ckpts/ in the release layout (tests/hunyuan_release_layout.h), the DiT's text widths the tiny text encoders' so the
// whole pipeline runs; plus a reference image.
Layout& layout() {
  static Layout* l = [] {
    auto* r = new Layout;
    c10::InferenceMode guard;
    static_cast<focalscope::testing::HunyuanReleaseLayout&>(*r) = focalscope::testing::write_hunyuan_release_layout(
        fs::temp_directory_path() / ("focalscope_hy_pipeline_" + std::to_string(::getpid())),
        /*text_widths_of_encoders=*/true, 11, 0.05);
    if (r->root.empty()) return r;
    // A smooth reference image (not the output size: the pipeline resizes and crops), saved as PNG for the CLI.
    const at::Tensor yy = at::linspace(-1, 1, 40).view({1, 40, 1}), xx = at::linspace(-1, 1, 56).view({1, 1, 56});
    at::Tensor img = at::cat({(yy * 0.8).expand({1, 40, 56}), (xx * 0.7).expand({1, 40, 56}),
                              (at::sin(yy * 3) * at::cos(xx * 2) * 0.6).expand({1, 40, 56})}, 0);
    const at::Tensor u8 = ((img + 1) * 127.5).round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
    r->image = u8.permute({2, 0, 1}).to(at::kFloat) / 127.5 - 1.0;  // what load_image_tensor reads back
    render::Image png;
    png.width = 56;
    png.height = 40;
    png.pixels.assign(u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel());
    r->image_png = r->top / "ref.png";
    render::save_png(r->image_png.string(), png);
    return r;
  }();
  return *l;
}

#define REQUIRE_LAYOUT()                                                               \
  if (layout().root.empty()) GTEST_SKIP() << "Hunyuan reference fixtures not found"; \
  c10::InferenceMode guard

const HunyuanBundle& bundle() {
  static HunyuanBundle b = HunyuanBundle::load(layout().ckpts.string());
  return b;
}

HunyuanRequest small_request(int64_t seed = 3) {
  HunyuanRequest q;
  q.image = layout().image;
  q.prompt = "a red ball rolls to the left";
  q.seed = seed;
  q.steps = 4;
  q.frames = 9;
  q.height = 32;
  q.width = 32;
  q.hallucination_window = 3;
  return q;
}

}  // namespace

TEST(HunyuanPipeline, LoadsTheWholeReleaseFolder) {
  REQUIRE_LAYOUT();
  const HunyuanBundle& b = bundle();
  EXPECT_EQ(b.cfg.text_states_dim, 32);
  EXPECT_EQ(b.cfg.text_states_dim_2, 16);
  EXPECT_NE(b.variant.find("HunyuanVideo-I2V"), std::string::npos) << b.variant;
  EXPECT_EQ(b.vae->cfg.latent_channels, b.cfg.in_channels);
  EXPECT_TRUE(b.mllm && b.clip);
}

TEST(HunyuanPipeline, GeneratesFramesDeterministicallyWithFrameZeroTheImage) {
  REQUIRE_LAYOUT();
  const HunyuanBundle& b = bundle();
  int steps_seen = 0;
  std::vector<std::string> stages;
  HunyuanRequest q = small_request();
  q.on_step = [&](int done, int total, double) {
    EXPECT_EQ(done, ++steps_seen);
    EXPECT_EQ(total, 4);
  };
  q.on_stage = [&](const std::string& s) { stages.push_back(s); };
  const auto t0 = std::chrono::steady_clock::now();
  const HunyuanResult r = generate_hunyuan(b, q);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("tiny HunyuanVideo-I2V: 9 frames 32x32, 4 steps in %.2f s (encode %.2f, sample %.2f, decode %.2f)\n", secs,
              r.seconds_encode, r.seconds_sample, r.seconds_decode);
  EXPECT_LT(secs, 30.0);
  EXPECT_EQ(steps_seen, 4);
  EXPECT_EQ(stages, (std::vector<std::string>{"encode image", "encode text", "sample", "decode"}));
  // Shapes: pixels [F, 3, H, W] in [0, 1]; latents [1, 16, 3, 4, 4].
  ASSERT_EQ(r.video.sizes(), (std::vector<int64_t>{9, 3, 32, 32}));
  EXPECT_GE(r.video.min().item<float>(), 0.0f);
  EXPECT_LE(r.video.max().item<float>(), 1.0f);
  EXPECT_TRUE(at::isfinite(r.video).all().item<bool>());
  EXPECT_EQ(r.latent.sizes(), (std::vector<int64_t>{1, 16, 3, 4, 4}));
  EXPECT_EQ(r.params.lat_f, 3);
  EXPECT_EQ(r.params.flow_shift, 17.0);
  EXPECT_EQ(r.params.embedded_guidance, 6.0);
  EXPECT_EQ(r.params.cfg, 1.0);
  EXPECT_EQ(r.params.fps, 24);
  // MLLM rows: the tiny vision tower has 4x4 patches -> 16 image tokens, every 4th kept -> 4, then text.
  EXPECT_EQ(r.visual_rows, 4);
  EXPECT_GT(r.text_rows, r.visual_rows);
  // token_replace: latent frame 0 is the reference image's latent, exactly.
  EXPECT_TRUE(at::equal(r.latent.narrow(2, 0, 1), r.img_latents));
  // ... so the decoded frame 0 is the one nearest the image's VAE round trip. Not bit for bit: the causal VAE's
  // GroupNorm statistics span the whole clip, so the other (here random-model) frames shift frame 0's decode too
  // (docs/architectures.md, "Generating with HunyuanVideo-I2V").
  const at::Tensor rt = b.vae->decode_to_unit(r.img_latents)[0].permute({1, 0, 2, 3})[0];  // [3, H, W]
  const double d0 = (r.video[0] - rt).abs().mean().item<double>();
  std::printf("mean |frame - the image's VAE round trip|: frame 0 %.4f", d0);
  for (int k = 1; k < 9; ++k) {
    const double dk = (r.video[k] - rt).abs().mean().item<double>();
    std::printf(", %d: %.4f", k, dk);
    EXPECT_LT(d0, dk) << "frame " << k;
  }
  std::printf("\n");
  EXPECT_LT(d0, 0.2);
  // The hallucination metric: one value per step (step 0 has none: NaN), window 3.
  EXPECT_EQ(r.hallucination.window, 3);
  ASSERT_EQ(r.hallucination.steps(), 4);
  EXPECT_TRUE(std::isnan(r.hallucination.global[0]));
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(std::isfinite(r.hallucination.global[i]) && r.hallucination.global[i] >= 0) << i;
  // Same seed -> same video; another seed -> another.
  const HunyuanResult r2 = generate_hunyuan(b, small_request());
  EXPECT_TRUE(at::equal(r.video, r2.video));
  const HunyuanResult r3 = generate_hunyuan(b, small_request(4));
  EXPECT_FALSE(at::equal(r.latent, r3.latent));
  EXPECT_TRUE(at::equal(r3.latent.narrow(2, 0, 1), r.img_latents));
}

// Timing for docs/architectures.md (FOCALSCOPE_HY_BENCH=1): 33 frames at 64x64, 10 steps, cfg 1 and cfg 3.
TEST(HunyuanPipeline, TimingOfALargerTinyRun) {
  REQUIRE_LAYOUT();
  if (!std::getenv("FOCALSCOPE_HY_BENCH")) GTEST_SKIP() << "set FOCALSCOPE_HY_BENCH=1 to time a 33-frame 64x64 run";
  for (double cfg : {1.0, 3.0}) {
    HunyuanRequest q = small_request();
    q.frames = 33;
    q.height = q.width = 64;
    q.steps = 10;
    q.cfg = cfg;
    const auto t0 = std::chrono::steady_clock::now();
    const HunyuanResult r = generate_hunyuan(bundle(), q);
    std::printf("33 frames 64x64, 10 steps, cfg %.0f: %.2f s (encode %.2f, sample %.2f, decode %.2f), sigma2 final %.3g\n",
                cfg, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), r.seconds_encode,
                r.seconds_sample, r.seconds_decode, r.hallucination.global.back());
  }
}

TEST(HunyuanPipeline, CfgEncodesTheNegativePromptAndChangesTheRun) {
  REQUIRE_LAYOUT();
  HunyuanRequest q = small_request();
  q.steps = 2;
  q.frames = 5;
  const HunyuanResult plain = generate_hunyuan(bundle(), q);
  q.cfg = 3.0;
  const HunyuanResult guided = generate_hunyuan(bundle(), q);
  EXPECT_EQ(guided.params.negative_prompt, kHunyuanNegativePromptI2V);
  EXPECT_TRUE(plain.params.negative_prompt.empty());
  EXPECT_EQ(guided.video.sizes(), plain.video.sizes());
  EXPECT_FALSE(at::equal(guided.latent, plain.latent));
  std::printf("cfg 3 vs cfg 1: max |latent diff| %.3g\n", (guided.latent - plain.latent).abs().max().item<double>());
  EXPECT_TRUE(at::equal(guided.latent.narrow(2, 0, 1), plain.img_latents));
}

TEST(HunyuanPipeline, ListenerSeesTheMllmImageRows) {
  REQUIRE_LAYOUT();
  struct Rows : ProbeListener {
    int calls = 0;
    int64_t img_rows = -1;
    bool wants(const ForwardInfo&, int) const override { return true; }
    void on_cross_attn_values(BlockProbe& p) override {
      ++calls;
      if (p.img_v.defined()) img_rows = p.img_v.size(1);
    }
  } rows;
  HunyuanRequest q = small_request();
  q.steps = 2;
  q.frames = 5;
  q.listener = &rows;
  const HunyuanResult r = generate_hunyuan(bundle(), q);
  EXPECT_EQ(rows.calls, 2 * (2 + 2));  // steps x (double + single blocks)
  EXPECT_EQ(rows.img_rows, r.visual_rows);
}

// Focal Guidance on the release: a word's rows are where the MLLM's causal text first differs when that word
// changes (rows before it cannot see it), the plan selects by CLIP-L's Eq. 6 or takes given keywords, and the run
// with FG differs from the plain one while FG off (strengths 0) is the plain run bit for bit.
TEST(HunyuanPipeline, FocalGuidanceRowsPlanAndRun) {
  REQUIRE_LAYOUT();
  HunyuanBundleOptions bo;
  bo.clip_vision = true;
  static const HunyuanBundle vb = HunyuanBundle::load(layout().ckpts.string(), bo);
  ASSERT_TRUE(vb.clip->has_vision()) << "the tiny layout's text_encoder_2 is a whole CLIPModel";
  const std::string p1 = "a red ball rolls to the left", p2 = "a red cube rolls to the left";
  const auto img = image_m11_to_u8_hwc(layout().image);
  const MllmEncoding e1 = vb.mllm->encode({p1}, {img}), e2 = vb.mllm->encode({p2}, {img});
  const auto rows = hunyuan_prompt_word_rows(*vb.mllm, p1, e1.image_rows);
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[2].word, "ball");
  ASSERT_FALSE(rows[2].rows.empty());
  const int64_t first = rows[2].rows.front();
  const at::Tensor diff = (e1.states[0] - e2.states[0]).abs().amax(-1);  // [rows]
  EXPECT_EQ(diff.narrow(0, 0, first).max().item<float>(), 0.0f) << "rows before 'ball' cannot see it";
  EXPECT_GT(diff[first].item<float>(), 0.0f) << "the first row of 'ball' is where the texts part; first differing row "
                                             << (diff > 0).nonzero().min().item<int64_t>() << ", rows of ball "
                                             << rows[2].rows.front() << "-" << rows[2].rows.back() << ", image rows "
                                             << e1.image_rows;
  for (size_t w = 1; w < rows.size(); ++w) EXPECT_GT(rows[w].rows.front(), rows[w - 1].rows.back()) << rows[w].word;

  HunyuanRequest q = small_request();
  q.steps = 3;
  const HunyuanParams P = resolve_hunyuan_params(vb, q);
  GuidanceConfig g;
  g.set_mode("fg");
  g.weak_layers = {2, 3};
  g.keywords = {"ball"};
  const HunyuanGuidanceSetup s = plan_hunyuan_focal_guidance(vb, q.prompt, q.image, g, P.lat_h / 2, P.lat_w / 2);
  ASSERT_EQ(s.plan.keywords.size(), 1u);
  EXPECT_EQ(s.plan.keywords[0].tokens, rows[2].rows);
  EXPECT_TRUE(std::isfinite(s.plan.keywords[0].clip_max));
  ASSERT_TRUE(s.anchors.defined());
  EXPECT_EQ(s.anchors.size(1), e1.image_rows);
  EXPECT_NEAR(s.anchors.sum().item<double>(), 1.0, 1e-5);
  g.tau_sel = -2;  // Eq. 6 selection: every content word passes, function words never
  g.keywords.clear();
  const HunyuanGuidanceSetup all = plan_hunyuan_focal_guidance(vb, q.prompt, q.image, g, P.lat_h / 2, P.lat_w / 2);
  for (const auto& k : all.plan.keywords) EXPECT_FALSE(is_function_word(k.word)) << k.word;
  EXPECT_GE(all.plan.keywords.size(), 3u);

  const HunyuanResult plain = generate_hunyuan(vb, q);
  FocalGuidance fg(s.config, 4, s.weak_layers, s.anchors, s.plan);
  q.listener = &fg;
  const HunyuanResult guided = generate_hunyuan(vb, q);
  EXPECT_FALSE(at::equal(plain.latent, guided.latent)) << "FG on two weak layers changes the run";
  EXPECT_GT(fg.stats().weak.at(0).fsg_applications, 0);
  GuidanceConfig zero = s.config;
  zero.lambda_txt = zero.lambda_lat = zero.lambda_cache = 0;
  FocalGuidance off(zero, 4, s.weak_layers, s.anchors, s.plan);
  q.listener = &off;
  EXPECT_TRUE(at::equal(plain.latent, generate_hunyuan(vb, q).latent)) << "strengths 0: the plain run, bit for bit";
}

TEST(HunyuanPipeline, BadSizesAndMissingFoldersAreOneLineNamingThem) {
  REQUIRE_LAYOUT();
  HunyuanRequest q = small_request();
  q.frames = 8;
  std::string m = error_of([&] { resolve_hunyuan_params(bundle(), q); });
  EXPECT_NE(m.find("--frames"), std::string::npos) << m;
  q = small_request();
  q.height = 40;
  m = error_of([&] { resolve_hunyuan_params(bundle(), q); });
  EXPECT_NE(m.find("--height"), std::string::npos) << m;
  EXPECT_NE(m.find("multiple of 16"), std::string::npos) << m;
  q = small_request();
  q.width = 24;
  m = error_of([&] { generate_hunyuan(bundle(), q); });
  EXPECT_NE(m.find("--width"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  // Default size: the release's 720p bucket (generate_crop_size_list(960, 32) + get_closest_ratio) of a 16:9 image.
  const auto [bh, bw] = hunyuan_bucket(720, 1280);
  EXPECT_EQ(bh, 704);
  EXPECT_EQ(bw, 1248);
  q = small_request();
  q.height = q.width = -1;  // neither given: the image's bucket (40 x 56 -> 800 x 1120, ratio 0.714)
  const HunyuanParams p = resolve_hunyuan_params(bundle(), q);
  EXPECT_EQ(std::make_pair(p.height, p.width), hunyuan_bucket(40, 56));
  EXPECT_EQ(p.height % 16, 0);
  EXPECT_EQ(p.width % 16, 0);
  q.height = 32;  // only one of them
  m = error_of([&] { resolve_hunyuan_params(bundle(), q); });
  EXPECT_NE(m.find("--width"), std::string::npos) << m;
  // A release without text_encoder_2/: one line naming the folder.
  const fs::path bad = layout().top / "no-clip";
  fs::create_directories(bad);
  fs::copy(layout().ckpts, bad / "ckpts", fs::copy_options::recursive);
  fs::remove_all(bad / "ckpts/text_encoder_2");
  m = error_of([&] { HunyuanBundle::load((bad / "ckpts").string()); });
  EXPECT_NE(m.find((bad / "ckpts/text_encoder_2").string()), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  fs::remove_all(bad);
}

#ifdef FOCALSCOPE_EXE
namespace {
int run_cli(const std::string& args, std::string* out) { return focalscope::testing::run_cli(FOCALSCOPE_EXE, args, out); }
}  // namespace

TEST(HunyuanPipeline, GenerateCommandWritesAnMp4FromTheReleaseFolder) {
  REQUIRE_LAYOUT();
  std::string out;
  const fs::path dir = layout().top / "cli";
  fs::create_directories(dir);
  const std::string base = "generate --model-dir " + layout().ckpts.string() + " --image " + layout().image_png.string() +
                           " --prompt 'a red ball rolls to the left' --steps 3 --seed 7 --threads 2 ";
#ifdef FOCALSCOPE_WITH_VIDEO
  const fs::path mp4 = dir / "out.mp4";
  ASSERT_EQ(run_cli(base + "--frames 9 --height 32 --width 48 --out " + mp4.string() + " --frames-png " +
                        (dir / "frames").string() + " --hallucination-out " + (dir / "h.csv").string(), &out), 0) << out;
  std::printf("%s", out.c_str());
  EXPECT_TRUE(fs::exists(mp4));
  EXPECT_GT(fs::file_size(mp4), 100u);
  EXPECT_NE(out.find("wrote " + mp4.string() + ": 9 frames 48x32 @ 24 fps | 3 steps"), std::string::npos) << out;
  EXPECT_NE(out.find("hallucination"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir / "frames/frame_008.png")) << out;
  std::ifstream csv(dir / "h.csv");
  int lines = 0;
  for (std::string s; std::getline(csv, s);) ++lines;
  EXPECT_EQ(lines, 1 + 3);  // header + one row per step
#endif
  // Bad sizes / a missing text encoder: exit 2, one line naming the flag or folder.
  EXPECT_EQ(run_cli(base + "--frames 6 --height 32 --width 32 --out " + (dir / "x.mp4").string(), &out), 2) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("--frames"), std::string::npos) << out;
  EXPECT_EQ(run_cli(base + "--frames 5 --height 30 --width 32 --out " + (dir / "x.mp4").string(), &out), 2) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("--height"), std::string::npos) << out;
  const fs::path bad = layout().top / "no-mllm";
  fs::create_directories(bad);
  fs::copy(layout().ckpts, bad / "ckpts", fs::copy_options::recursive);
  fs::remove_all(bad / "ckpts/text_encoder_i2v");
  const std::string bad_args = "generate --model-dir " + (bad / "ckpts").string() + " --image " + layout().image_png.string() +
                               " --prompt x --frames 5 --height 32 --width 32 --out " + (dir / "x.mp4").string();
  EXPECT_EQ(run_cli(bad_args, &out), 2) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find((bad / "ckpts/text_encoder_i2v").string()), std::string::npos) << out;
  fs::remove_all(bad);
  // Focal Guidance from the command line: the summary line, and a release-size default the tiny model cannot use.
  ASSERT_EQ(run_cli(base + "--frames 5 --height 32 --width 32 --out " + (dir / "fg.png").string() +
                        " --guidance fg --keywords ball --weak-layers 2,3", &out), 0) << out;
  EXPECT_NE(out.find("focal guidance fg: weak layers 2 3 | keywords: ball"), std::string::npos) << out;
  EXPECT_EQ(run_cli(base + "--frames 5 --height 32 --width 32 --out " + (dir / "fg.png").string() + " --guidance fg", &out), 2) << out;
  EXPECT_NE(out.find("--weak-layers"), std::string::npos) << out;
  EXPECT_EQ(run_cli(base + "--frames 5 --height 32 --width 32 --out " + (dir / "fg.png").string() +
                        " --guidance fg --keywords cube --weak-layers 2", &out), 2) << out;
  EXPECT_NE(out.find("keyword 'cube'"), std::string::npos) << out;
}
// `focalscope analyze` on the release folder: the layer curves of a keyword over seeds, its rows those of the cropped
// MLLM text, the prompt's other content words as the controls, the same files as a Wan analysis; and one-line refusals.
TEST(HunyuanPipeline, AnalyzeCommandMeasuresTheReleaseFoldersLayers) {
  REQUIRE_LAYOUT();
  std::string out;
  const fs::path dir = layout().top / "analyze";
  const std::string prompt = "a red ball rolls to the left";
  const std::string base = "analyze --model-dir " + layout().ckpts.string() + " --image " + layout().image_png.string() +
                           " --prompt '" + prompt + "' --steps 3 --frames 5 --height 64 --width 64 --threads 2 --out " +
                           dir.string();
  ASSERT_EQ(run_cli(base + " --keywords ball --samples 2", &out), 0) << out;
  std::printf("%s", out.c_str());
  for (const char* f : {"metrics.json", "per_layer.csv", "fig1_similarity_mosaic.png", "fig2_layer_curves.png", "fig3_map_overlay.png"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  std::ifstream in(dir / "metrics.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["architecture"], "hunyuan-mmdit");
  EXPECT_EQ(j["weak_rule"]["reference"], "words");
  ASSERT_EQ(j["layers"].size(), static_cast<size_t>(bundle().cfg.mm_double_blocks_depth + bundle().cfg.mm_single_blocks_depth));
  for (const auto& l : j["layers"]) {
    EXPECT_TRUE(std::isfinite(l["moran_i"]["mean"].get<double>())) << l.dump();
    EXPECT_TRUE(l.contains("p_weak")) << "two samples: bootstrap intervals";
  }
  ASSERT_EQ(j["samples"].size(), 2u);
  const auto& s0 = j["samples"][0];
  const MllmEncoding e = bundle().mllm->encode({prompt}, {image_m11_to_u8_hwc(layout().image)});
  const auto rows = hunyuan_prompt_word_rows(*bundle().mllm, prompt, e.image_rows);
  EXPECT_EQ(s0["keywords"][0]["word"], "ball");
  EXPECT_EQ(s0["keywords"][0]["tokens"].get<std::vector<int64_t>>(), rows[2].rows) << "the MLLM rows of 'ball'";
  EXPECT_EQ(s0["control_words"].get<std::vector<std::string>>(), (std::vector<std::string>{"red", "rolls", "left"}));
  EXPECT_NE(j["samples"][0]["layer_moran_i"], j["samples"][1]["layer_moran_i"]) << "two seeds, two runs";
  EXPECT_NE(out.find("weak layers: "), std::string::npos) << out;
  // Refusals: one line naming the flag.
  for (const auto& [args, names] : std::vector<std::pair<std::string, std::string>>{
           {"", "--keywords"}, {" --keywords cube", "keyword 'cube'"}, {" --keywords ball --weak-reference response", "--weak-reference"}}) {
    EXPECT_EQ(run_cli(base + args, &out), 2) << args << "\n" << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_NE(out.find(names), std::string::npos) << out;
  }
}
#endif
