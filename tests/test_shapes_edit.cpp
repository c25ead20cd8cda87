// The Shapes editing world (engine/shapes/shapes_edit*), the checker's handling of background movers and the
// background-fidelity metrics (analysis/edit_metrics). Also guards the plain world: sample_case must stay
// byte-identical (training data and the shipped benchmark set depend on it) after the planning refactor the
// editing world needed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "analysis/edit_metrics.h"
#include "analysis/shapes_checker.h"
#include "engine/core/error.h"
#include "engine/shapes/png_io.h"
#include "engine/shapes/shapes_bench.h"
#include "engine/shapes/shapes_edit.h"
#include "engine/shapes/shapes_edit_bench.h"
#include "engine/shapes/shapes_world.h"

namespace {

using namespace focalscope;
using namespace focalscope::shapes;
using analysis::background_psnr;
using analysis::background_ssim;
using analysis::check_case;
using nlohmann::json;

constexpr int kPerDimension = 34;  // 102 cases, the size of the shipped set
constexpr uint64_t kSeed0 = 31'337;

ShapesWorldConfig world64() {
  ShapesWorldConfig cfg;
  cfg.width = 64;
  cfg.height = 64;
  return cfg;
}

// Sampled and rendered once for the whole suite (the expensive part).
struct Sample {
  EditCase e;
  std::vector<RgbFrame> source, expected;
};
const std::vector<Sample>& samples() {
  static const std::vector<Sample> v = [] {
    std::vector<Sample> out;
    for (Dimension d : all_dimensions())
      for (int i = 0; i < kPerDimension; ++i) {
        Sample s;
        s.e = sample_edit_case(kSeed0 + 1000ULL * static_cast<int>(d) + i, world64(), d);
        s.source = render_annotation(s.e.source.annotation);
        s.expected = render_annotation(s.e.edited.annotation);
        out.push_back(std::move(s));
      }
    return out;
  }();
  return v;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

bool in_mask(const EditCase& e, int x, int y) { return e.mask[static_cast<size_t>(y) * e.mask_w + x] != 0; }

// The annotation with one object made invisible in every frame.
json without(const json& ann, int id) {
  json a = ann;
  for (auto& frame : a["states"])
    for (auto& s : frame)
      if (s["id"].get<int>() == id) s["opacity"] = 0.0;
  return a;
}

// ---- the plain world is unchanged ----------------------------------------------------------------------

TEST(ShapesWorldRegression, SampleCaseIsByteIdenticalToBeforeTheEditingWorld) {
  // FNV-1a of annotation.dump() for sample_case(seed) (96x96, dimension from the seed, up to 3 objects),
  // computed with the code as it was before shapes_plan.h was split out.
  const std::map<uint64_t, uint64_t> want{{0, 0xb7e2849bc02d53e3ULL},
                                          {1, 0x5d9b5cca17923880ULL},
                                          {77, 0x747888c097f7b0f4ULL},
                                          {424242, 0x7a40e9deba1ee149ULL},
                                          {123456789, 0x364284eb84a4f6a8ULL}};
  for (const auto& [seed, hash] : want) EXPECT_EQ(fnv1a(sample_case(seed).annotation.dump()), hash) << "seed " << seed;
}

TEST(ShapesWorldRegression, SampleCaseReproducesTheShippedBenchmarkSet) {
  const std::string root = std::string(FOCALSCOPE_SOURCE_DIR) + "/assets/bench/shapes";
  if (!std::filesystem::exists(root + "/index.json")) GTEST_SKIP() << root << " not present";
  const auto cases = read_bench_set(root);
  ASSERT_EQ(cases.size(), 300u);
  const ShapesWorldConfig cfg = world64();
  int compared = 0;
  for (size_t i = 0; i < cases.size(); i += 7, ++compared)
    EXPECT_EQ(sample_case(cases[i].c.seed, cfg, cases[i].c.dim, 3).annotation, cases[i].c.annotation) << cases[i].id;
  EXPECT_GE(compared, 40);
}

// ---- the editing world -----------------------------------------------------------------------------------

TEST(ShapesEdit, SameSeedSameCase) {
  const auto a = sample_edit_case(5, world64()), b = sample_edit_case(5, world64());
  EXPECT_EQ(a.to_json(), b.to_json());
  EXPECT_EQ(a.mask, b.mask);
  EXPECT_NE(sample_edit_case(6, world64()).to_json(), a.to_json());
}

TEST(ShapesEdit, SourceAndEditedShareTheFirstFrame) {
  int checked = 0;
  for (const auto& s : samples()) {
    if (checked++ >= 50) break;
    const EditCase& e = s.e;
    const json &sa = e.source.annotation, &ea = e.edited.annotation;
    EXPECT_EQ(sa.at("states").at(0), ea.at("states").at(0)) << e.seed;
    EXPECT_EQ(sa.at("objects"), ea.at("objects")) << e.seed;
    EXPECT_EQ(sa.at("background"), ea.at("background")) << e.seed;
    EXPECT_EQ(s.source.at(0), s.expected.at(0)) << e.seed;
    EXPECT_EQ(e.source.dim, e.edited.dim);
    EXPECT_NE(e.source.action, e.edited.action) << e.seed;
    EXPECT_NE(e.source.prompt, e.edited.prompt) << e.seed;
    EXPECT_EQ(e.instruction(), e.edited.prompt);
    EXPECT_EQ(sa.at("prompt"), e.source.prompt);
  }
}

TEST(ShapesEdit, EveryDimensionAndMostActionsOccur) {
  std::map<std::string, int> source, edited;
  for (const auto& s : samples()) {
    ++source[s.e.source.action];
    ++edited[s.e.edited.action];
  }
  std::printf("  actions (source / edited):");
  for (Dimension d : all_dimensions())
    for (const auto& a : actions_of(d)) std::printf(" %s %d/%d", a.c_str(), source[a], edited[a]);
  std::printf("\n");
  // circle is rare at 64x64 (its orbit, a second path and a drifting distractor seldom fit together).
  for (const char* a : {"change_color", "grow", "shrink", "fade_out", "spin", "move_left", "jump", "move_to", "push",
                        "swap", "hide_behind"})
    EXPECT_GT(source[a] + edited[a], 0) << a;
}

TEST(ShapesEdit, MaskCoversEveryChangedPixelAndNotEverything) {
  for (const auto& s : samples()) {
    const EditCase& e = s.e;
    ASSERT_EQ(e.mask_w, 64);
    ASSERT_EQ(e.mask_h, 64);
    ASSERT_EQ(e.mask.size(), 64u * 64u);
    const double frac = e.mask_fraction();
    EXPECT_GE(frac, 0.02) << e.seed;
    EXPECT_LE(frac, 0.60) << e.seed;
    const int actor = e.source.annotation.at("actor").get<int>();
    // The actor's pixels in either clip (where removing it changes the frame) and every pixel where the two
    // clips differ lie inside the mask.
    const auto src_wo = render_annotation(without(e.source.annotation, actor));
    const auto exp_wo = render_annotation(without(e.edited.annotation, actor));
    int outside = 0;
    for (size_t t = 0; t < s.source.size(); ++t)
      for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) {
          if (in_mask(e, x, y)) continue;
          const bool changed = !std::equal(s.source[t].at(x, y), s.source[t].at(x, y) + 3, s.expected[t].at(x, y)) ||
                               !std::equal(s.source[t].at(x, y), s.source[t].at(x, y) + 3, src_wo[t].at(x, y)) ||
                               !std::equal(s.expected[t].at(x, y), s.expected[t].at(x, y) + 3, exp_wo[t].at(x, y));
          outside += changed;
        }
    EXPECT_EQ(outside, 0) << "seed " << e.seed << " " << e.source.action << " -> " << e.edited.action;
  }
}

TEST(ShapesEdit, BackgroundMoversMoveIdenticallyInBothClips) {
  for (const auto& s : samples()) {
    const EditCase& e = s.e;
    const json &sa = e.source.annotation, &ea = e.edited.annotation;
    ASSERT_TRUE(sa.contains("background_motion")) << e.seed;
    ASSERT_EQ(sa.at("background_motion"), ea.at("background_motion"));
    ASSERT_GE(sa.at("background_motion").size(), 1u) << e.seed;
    const double k = 64 / 96.0;
    for (const auto& v : sa.at("background_motion")) {
      const int id = v.get<int>();
      EXPECT_NE(id, sa.at("actor").get<int>());
      EXPECT_NE(id, sa.at("target").get<int>());
      EXPECT_EQ(sa.at("objects").at(id).at("role"), "distractor");
      for (size_t t = 0; t < sa.at("states").size(); ++t) EXPECT_EQ(sa["states"][t][id], ea["states"][t][id]) << e.seed;
      const auto& first = sa["states"].front()[id];
      const auto& last = sa["states"].back()[id];
      const double moved = std::hypot(last["x"].get<double>() - first["x"].get<double>(),
                                      last["y"].get<double>() - first["y"].get<double>());
      EXPECT_GE(moved, 15 * k - 0.01) << e.seed;
      EXPECT_LE(moved, 30 * k + 0.01) << e.seed;
    }
    // ...and the movement shows: the rendered frames differ outside the mask from frame 0 on.
    const auto& mover_first = sa["states"].front()[sa["background_motion"][0].get<int>()];
    const auto& mover_last = sa["states"].back()[sa["background_motion"][0].get<int>()];
    EXPECT_NE(mover_first, mover_last);
    EXPECT_LT(background_psnr(std::vector<RgbFrame>(s.source.size(), s.source[0]), s.source, e.mask, 64, 64), 40)
        << e.seed;
  }
}

// The checker judges the edited clip by the edit instruction: the expected clip passes, the untouched source
// clip does not (the instruction asks for something else).
TEST(ShapesEdit, CheckerPassesExpectedClipsAndFailsSourceClips) {
  int expected_pass = 0, source_fail = 0, source_own = 0;
  const int n = static_cast<int>(samples().size());
  int shown = 0;
  for (const auto& s : samples()) {
    const auto ve = check_case(s.expected, s.e.edited.annotation);
    expected_pass += ve.pass;
    if (!ve.pass && shown++ < 6)
      std::printf("    expected clip fails: seed %llu %s -> %s: %s\n", static_cast<unsigned long long>(s.e.seed),
                  s.e.source.action.c_str(), s.e.edited.action.c_str(), ve.failures().c_str());
    source_fail += !check_case(s.source, s.e.edited.annotation).pass;
    source_own += check_case(s.source, s.e.source.annotation).pass;
  }
  std::printf("  expected clip passes the instruction:   %3d / %d = %5.1f%%\n", expected_pass, n, 100.0 * expected_pass / n);
  std::printf("  source clip fails the instruction:      %3d / %d = %5.1f%%\n", source_fail, n, 100.0 * source_fail / n);
  std::printf("  source clip passes its own prompt:      %3d / %d = %5.1f%%\n", source_own, n, 100.0 * source_own / n);
  EXPECT_GE(expected_pass, 0.9 * n);
  EXPECT_GE(source_fail, 0.8 * n);
  EXPECT_GE(source_own, 0.9 * n);
}

// Without "background_motion" a drifting distractor is just an object that did not stay put.
TEST(ShapesEdit, CheckerStillFlagsMoversThatAreNotDeclared) {
  int flagged = 0, total = 0;
  for (const auto& s : samples()) {
    if (s.e.source.dim != Dimension::Motion) continue;
    json ann = s.e.edited.annotation;
    ann.erase("background_motion");
    ++total;
    flagged += !check_case(s.expected, ann).pass;
  }
  EXPECT_GE(flagged, 0.9 * total);
}

TEST(ShapesEdit, JsonRoundTrip) {
  for (size_t i = 0; i < samples().size(); i += 17) {
    const EditCase& e = samples()[i].e;
    const EditCase back = EditCase::from_json(json::parse(e.to_json().dump()));
    EXPECT_EQ(back.seed, e.seed);
    EXPECT_EQ(back.dim, e.dim);
    EXPECT_EQ(back.source.annotation, e.source.annotation);
    EXPECT_EQ(back.edited.annotation, e.edited.annotation);
    EXPECT_EQ(back.source.prompt, e.source.prompt);
    EXPECT_EQ(back.instruction(), e.instruction());
    EXPECT_EQ(back.mask, e.mask);
    EXPECT_EQ(back.mask_w, e.mask_w);
    EXPECT_EQ(back.to_json(), e.to_json());
  }
  json bad = samples()[0].e.to_json();
  bad["instruction"] = "Something else.";
  EXPECT_THROW(EditCase::from_json(bad, "bad.json"), Error);
  bad = samples()[0].e.to_json();
  bad["edited"]["annotation"]["states"][0][0]["x"] = 1.0;
  EXPECT_THROW(EditCase::from_json(bad, "bad.json"), Error);
}

TEST(ShapesEditBench, WritesAndReadsBack) {
  const auto root =
      (std::filesystem::temp_directory_path() / ("focalscope_shapes_edit_bench_" + std::to_string(::getpid()))).string();
  const auto index = write_edit_bench_set(root, 1, kEditBenchSeedBase, world64());
  EXPECT_EQ(index["cases"].size(), 3u);
  const auto cases = read_edit_bench_set(root);
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& bc : cases) {
    const EditCase fresh = sample_edit_case(bc.c.seed, world64(), bc.c.dim);
    EXPECT_EQ(bc.c.to_json(), fresh.to_json()) << bc.id;
    EXPECT_GE(bc.c.seed, kTrainSeedLimit);
    const auto src = read_edit_clip(bc, "source"), exp = read_edit_clip(bc, "expected");
    EXPECT_EQ(src, render_annotation(fresh.source.annotation)) << bc.id;
    EXPECT_EQ(exp, render_annotation(fresh.edited.annotation)) << bc.id;
    EXPECT_EQ(read_png(bc.ref_path()), src.at(0));
    int w = 0, h = 0;
    EXPECT_EQ(read_mask_png(bc.mask_path(), w, h), fresh.mask);
    EXPECT_EQ(w, 64);
    EXPECT_EQ(h, 64);
  }
  EXPECT_THROW(write_edit_bench_set(root, 1, 12345), Error);
  EXPECT_THROW(read_edit_clip(cases[0], "other"), Error);
  std::filesystem::remove_all(root);
}

// The shipped set (assets/bench/shapes-edit) is what the current code samples.
TEST(ShapesEditBench, ShippedSetMatchesTheWorld) {
  const std::string root = std::string(FOCALSCOPE_SOURCE_DIR) + "/assets/bench/shapes-edit";
  if (!std::filesystem::exists(root + "/index.json")) GTEST_SKIP() << root << " not generated";
  const auto cases = read_edit_bench_set(root);
  EXPECT_GE(cases.size(), 100u);
  for (size_t i = 0; i < cases.size(); i += 11) {
    const auto& bc = cases[i];
    EXPECT_GE(bc.c.seed, kTrainSeedLimit);
    EXPECT_EQ(bc.c.to_json(), sample_edit_case(bc.c.seed, world64(), bc.c.dim).to_json()) << bc.id;
    EXPECT_EQ(read_edit_clip(bc, "expected"), render_annotation(bc.c.edited.annotation)) << bc.id;
  }
}

// ---- background metrics --------------------------------------------------------------------------------

std::vector<RgbFrame> noise_video(int w, int h, int frames, uint32_t seed) {
  std::vector<RgbFrame> v;
  uint32_t s = seed;
  for (int t = 0; t < frames; ++t) {
    RgbFrame f(w, h);
    for (auto& b : f.rgb) {
      s = s * 1664525u + 1013904223u;
      b = static_cast<uint8_t>(s >> 24);
    }
    v.push_back(f);
  }
  return v;
}

TEST(EditMetrics, IdenticalAndMaskedOnlyDifferencesScorePerfect) {
  const auto& s = samples()[3];
  const std::vector<uint8_t> none(64 * 64, 0);
  EXPECT_DOUBLE_EQ(background_psnr(s.source, s.source, none, 64, 64), 60.0);
  EXPECT_DOUBLE_EQ(background_ssim(s.source, s.source, none, 64, 64), 1.0);
  const auto noise = noise_video(64, 64, 13, 7);
  EXPECT_DOUBLE_EQ(background_ssim(noise, noise, none, 64, 64), 1.0);
  // Source and expected clips differ only inside the mask.
  for (const auto& x : samples()) EXPECT_DOUBLE_EQ(background_psnr(x.source, x.expected, x.e.mask, 64, 64), 60.0) << x.e.seed;
  // Anything outside the mask counts.
  EXPECT_LT(background_psnr(s.source, s.expected, none, 64, 64), 60.0);
  EXPECT_LT(background_ssim(s.source, s.expected, none, 64, 64), 1.0);
}

TEST(EditMetrics, HandComputedValues) {
  // Every background value off by 2 in frames 1..3: MSE 4 -> 10 log10(255^2 / 4) = 42.11 dB; frame 0 ignored.
  std::vector<RgbFrame> a(4, RgbFrame(8, 8)), b = a;
  for (auto& f : a) std::fill(f.rgb.begin(), f.rgb.end(), 100);
  for (auto& f : b) std::fill(f.rgb.begin(), f.rgb.end(), 102);
  std::fill(b[0].rgb.begin(), b[0].rgb.end(), 0);
  std::vector<uint8_t> mask(8 * 8, 0);
  const double want = 10 * std::log10(255.0 * 255.0 / 4);
  EXPECT_NEAR(background_psnr(a, b, mask, 8, 8), want, 1e-9);
  // Masked pixels are ignored whatever they hold; a 4x4 mask is resized (nearest) onto the 8x8 frames.
  std::vector<uint8_t> small(4 * 4, 0);
  small[0] = 255;  // -> the 2x2 top-left block
  for (auto& f : b) f.at(0, 0)[0] = f.at(1, 1)[2] = 0;
  EXPECT_NEAR(background_psnr(a, b, small, 4, 4), want, 1e-9);
  // Constant images: SSIM = (2*100*102 + C1) / (100^2 + 102^2 + C1), the contrast term being 1.
  const double c1 = std::pow(0.01 * 255, 2);
  for (auto& f : b) std::fill(f.rgb.begin(), f.rgb.end(), 102);
  EXPECT_NEAR(background_ssim(a, b, mask, 8, 8), (2 * 100.0 * 102 + c1) / (100.0 * 100 + 102.0 * 102 + c1), 1e-9);
  // Noise of different seeds is far from identical.
  EXPECT_LT(background_ssim(noise_video(32, 32, 3, 1), noise_video(32, 32, 3, 2), std::vector<uint8_t>(32 * 32, 0), 32, 32), 0.2);
}

TEST(EditMetrics, ClearErrors) {
  const std::vector<RgbFrame> a(3, RgbFrame(8, 8)), other_size(3, RgbFrame(8, 6)), fewer(2, RgbFrame(8, 8));
  const std::vector<uint8_t> mask(64, 0), full(64, 255);
  EXPECT_THROW(background_psnr(a, other_size, mask, 8, 8), Error);
  EXPECT_THROW(background_ssim(a, other_size, mask, 8, 8), Error);
  EXPECT_THROW(background_psnr(a, fewer, mask, 8, 8), Error);
  EXPECT_THROW(background_psnr(a, a, full, 8, 8), Error);
  EXPECT_THROW(background_ssim(a, a, full, 8, 8), Error);
  EXPECT_THROW(background_psnr(a, a, mask, 4, 4), Error);  // 64 bytes are not a 4x4 mask
  EXPECT_THROW(background_psnr({a[0]}, {a[0]}, mask, 8, 8), Error);
  try {
    background_psnr(a, other_size, mask, 8, 8);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos);
    EXPECT_NE(msg.find("background PSNR"), std::string::npos) << msg;
  }
}

}  // namespace
