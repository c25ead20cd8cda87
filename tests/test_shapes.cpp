// The Shapes world (engine/shapes) and its checker (analysis/shapes_checker): determinism, the checker's
// pass rate on ground-truth videos, and its refusal of everything that only looks like the answer
// (a still video, the wrong direction/object/colour, a fragmented actor, stray-blob noise).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "analysis/blob_segmentation.h"
#include "analysis/shapes_checker.h"
#include "analysis/vbench_consistency.h"
#include "engine/core/error.h"
#include "engine/shapes/png_io.h"
#include "engine/shapes/shapes_bench.h"
#include "engine/shapes/shapes_prompts.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/shapes/shapes_world.h"

namespace {

using namespace focalscope;
using namespace focalscope::shapes;
using analysis::check_case;
using nlohmann::json;

constexpr int kPerDimension = 100;  // 300 cases per measured rate
constexpr uint64_t kSeed0 = 424242;

// The refusal tests use fewer cases than the pass-rate test, to keep the suite fast.
constexpr int kPerDimensionVariants = 40;

std::vector<ShapesCase> test_cases(int per_dim = kPerDimension) {
  std::vector<ShapesCase> v;
  for (Dimension d : all_dimensions())
    for (int i = 0; i < per_dim; ++i) v.push_back(sample_case(kSeed0 + 7919ULL * i + static_cast<int>(d), {}, d));
  return v;
}

struct Rate {
  int pass = 0, total = 0;
  double pct() const { return total ? 100.0 * pass / total : 0.0; }
};

// Pass rate of check_case over cases that `make` gives a video for (empty vector = skip the case).
template <class Make>
Rate measure(const char* label, const std::vector<ShapesCase>& cases, Make make, int show_failures = 0,
             bool show_passes = false) {
  Rate r;
  for (const auto& c : cases) {
    const auto frames = make(c);
    if (frames.empty()) continue;
    const auto v = check_case(frames, c.annotation);
    ++r.total;
    r.pass += v.pass;
    if (!v.pass && show_failures-- > 0)
      std::printf("    [%s] seed %llu %s: %s\n", label, static_cast<unsigned long long>(c.seed), c.action.c_str(),
                  v.failures().c_str());
    if (v.pass && show_passes)
      std::printf("    [%s] PASSED seed %llu %s (%s)\n", label, static_cast<unsigned long long>(c.seed), c.action.c_str(),
                  c.prompt.c_str());
  }
  std::printf("  %-34s %4d / %4d pass = %5.1f%%\n", label, r.pass, r.total, r.pct());
  return r;
}

// Mutates a copy of the annotation's states, then renders it.
template <class Fn>
std::vector<RgbFrame> render_mutated(const ShapesCase& c, Fn fn) {
  json ann = c.annotation;
  fn(ann);
  return render_annotation(ann);
}

json& state_of(json& ann, int t, int id) {
  for (auto& s : ann["states"][t])
    if (s["id"].get<int>() == id) return s;
  throw Error("no state");
}

bool is_motion_with_direction(const std::string& a) {
  return a.rfind("move_", 0) == 0 || a == "stop" || a == "jump" || a == "bounce";
}

// The actor goes the opposite way (moves mirrored through its start).
std::vector<RgbFrame> wrong_direction(const ShapesCase& c) {
  if (c.dim != Dimension::Motion || !is_motion_with_direction(c.action)) return {};
  return render_mutated(c, [](json& ann) {
    const double x0 = state_of(ann, 0, 0)["x"], y0 = state_of(ann, 0, 0)["y"];
    for (size_t t = 0; t < ann["states"].size(); ++t) {
      json& s = state_of(ann, static_cast<int>(t), 0);
      s["x"] = 2 * x0 - s["x"].get<double>();
      s["y"] = 2 * y0 - s["y"].get<double>();
    }
  });
}

// Another object (the target, else a distractor) does what the actor should do; the actor stays as it was.
std::vector<RgbFrame> wrong_object(const ShapesCase& c) {
  const int n = static_cast<int>(c.annotation["objects"].size());
  if (n < 2) return {};
  return render_mutated(c, [](json& ann) {
    const json a0 = state_of(ann, 0, 0);
    const json j0 = state_of(ann, 0, 1);
    for (size_t t = 0; t < ann["states"].size(); ++t) {
      json& a = state_of(ann, static_cast<int>(t), 0);
      json& j = state_of(ann, static_cast<int>(t), 1);
      j["x"] = j0["x"].get<double>() + a["x"].get<double>() - a0["x"].get<double>();
      j["y"] = j0["y"].get<double>() + a["y"].get<double>() - a0["y"].get<double>();
      j["size"] = j0["size"].get<double>() * a["size"].get<double>() / a0["size"].get<double>();
      j["rotation"] = a["rotation"];
      j["opacity"] = a["opacity"];
      if (a["color"] != a0["color"]) j["color"] = a["color"];
      const int z = a["z"];
      a = a0;
      a["z"] = z;
    }
  });
}

// The actor ends in a colour nobody asked for (change_color: the wrong new colour; otherwise it turns
// another colour from frame 2 on, while still visibly doing its action, a fading one included).
std::vector<RgbFrame> wrong_colour(const ShapesCase& c) {
  return render_mutated(c, [&c](json& ann) {
    std::set<std::string> used;
    for (const auto& o : ann["objects"]) used.insert(o["color"].get<std::string>());
    if (c.action == "change_color") used.insert(ann["params"]["to_color"].get<std::string>());
    std::string wrong;
    for (const auto& nc : named_colors())
      if (!used.count(nc.name)) wrong = nc.name;
    const Rgb w = named_color(wrong).rgb;
    const Rgb a = named_color(ann["objects"][0]["color"].get<std::string>()).rgb;
    const int T = static_cast<int>(ann["states"].size());
    for (int t = 0; t < T; ++t) {
      json& s = state_of(ann, t, 0);
      const double u = static_cast<double>(t) / (T - 1);
      double f = c.action == "change_color" ? std::clamp((u - 0.15) / 0.5, 0.0, 1.0) : (t >= 2 ? 1.0 : 0.0);
      json col = json::array();
      for (int k = 0; k < 3; ++k) col.push_back(static_cast<int>(std::lround(a[k] + (w[k] - a[k]) * f)));
      s["color"] = col;
    }
  });
}

// The actor's pixels in the last frames are cut into 4x4 blocks scattered around where it should be:
// the right colour in about the right place, but not one object.
std::vector<RgbFrame> fragmented(const ShapesCase& c) {
  if (c.action == "fade_out" || c.action == "hide_behind") return {};  // nothing of the actor left to break
  auto frames = render_case(c);
  const auto without = render_mutated(c, [](json& ann) {
    for (auto& fr : ann["states"])
      for (auto& s : fr)
        if (s["id"].get<int>() == 0) s["opacity"] = 0.0;
  });
  SplitMix64 rng(c.seed);
  const int T = static_cast<int>(frames.size()), w = frames[0].w, h = frames[0].h;
  for (int t = T - 4; t < T; ++t) {
    RgbFrame out = without[t];
    for (int by = 0; by < h; by += 4)
      for (int bx = 0; bx < w; bx += 4) {
        int diff = 0;
        for (int y = by; y < by + 4; ++y)
          for (int x = bx; x < bx + 4; ++x)
            for (int k = 0; k < 3; ++k) diff += std::abs(frames[t].at(x, y)[k] - without[t].at(x, y)[k]) > 30;
        if (diff < 8) continue;  // a block with (almost) none of the actor
        const int ox = rng.range(-14, 14), oy = rng.range(-14, 14);
        for (int y = by; y < by + 4; ++y)
          for (int x = bx; x < bx + 4; ++x) {
            const int nx = std::clamp(x + ox, 0, w - 1), ny = std::clamp(y + oy, 0, h - 1);
            for (int k = 0; k < 3; ++k) out.at(nx, ny)[k] = frames[t].at(x, y)[k];
          }
      }
    frames[t] = out;
  }
  return frames;
}

// Ground truth plus a dozen 4-7 px blobs of named colours per frame after the first.
std::vector<RgbFrame> noisy(const ShapesCase& c) {
  auto frames = render_case(c);
  SplitMix64 rng(c.seed ^ 0xABCDEF);
  for (size_t t = 1; t < frames.size(); ++t)
    for (int b = 0; b < 12; ++b) {
      const Rgb col = rng.pick(named_colors()).rgb;
      const int s = rng.range(4, 7), x0 = rng.range(0, 95 - s), y0 = rng.range(0, 95 - s);
      for (int y = y0; y < y0 + s; ++y)
        for (int x = x0; x < x0 + s; ++x)
          for (int k = 0; k < 3; ++k) frames[t].at(x, y)[k] = col[k];
    }
  return frames;
}

TEST(ShapesWorld, SameSeedSameCase) {
  for (uint64_t seed : {1ULL, 77ULL, 123456789ULL}) {
    const auto a = sample_case(seed), b = sample_case(seed);
    EXPECT_EQ(a.prompt, b.prompt);
    EXPECT_EQ(a.annotation, b.annotation);
    EXPECT_EQ(render_case(a), render_case(b));
  }
  EXPECT_NE(sample_case(1).annotation, sample_case(2).annotation);
  // A stored case renders the same pixels as a freshly sampled one.
  const auto c = sample_case(99);
  const auto back = case_from_json(json::parse(case_to_json(c).dump()));
  EXPECT_EQ(render_case(back), render_case(c));
}

TEST(ShapesWorld, FrameZeroIsTheReference) {
  const auto c = sample_case(5, {}, Dimension::Motion);
  const auto frames = render_case(c);
  ASSERT_EQ(frames.size(), 13u);
  EXPECT_EQ(frames[0], render_reference(c));
  EXPECT_EQ(frames[0].w, 96);
  const auto st = render_static(c);
  ASSERT_EQ(st.size(), 13u);
  EXPECT_EQ(st[12], frames[0]);
}

TEST(ShapesWorld, CoversEveryActionAndRespectsTheCurriculum) {
  std::map<std::string, int> seen;
  for (int i = 0; i < 600; ++i) {
    const auto c = sample_case(1000 + i, {}, {}, 1 + i % 3);
    ++seen[c.action];
    const int n = static_cast<int>(c.annotation["objects"].size());
    const int most = std::max(c.dim == Dimension::Interaction ? 2 : 1, 1 + i % 3);
    EXPECT_LE(n, most) << c.action;
    // Object references are unambiguous: no two objects share colour and shape.
    std::set<std::string> keys;
    for (const auto& o : c.annotation["objects"]) keys.insert(o["color"].get<std::string>() + o["shape"].get<std::string>());
    EXPECT_EQ(static_cast<int>(keys.size()), n);
  }
  for (Dimension d : all_dimensions())
    for (const auto& a : actions_of(d)) EXPECT_GT(seen[a], 0) << a;
}

TEST(ShapesWorld, NamedColoursAreFarFromBackgrounds) {
  double closest = 1e9;
  for (const auto& c : named_colors())
    for (const auto& b : background_tones())
      closest = std::min(closest, std::sqrt(std::pow(c.rgb[0] - b[0], 2.0) + std::pow(c.rgb[1] - b[1], 2.0) +
                                            std::pow(c.rgb[2] - b[2], 2.0)));
  EXPECT_GE(closest, 100.0);
  EXPECT_GE(named_colors().size(), 6u);
}

TEST(ShapesPrompts, ObjectWordsAndCorpus) {
  EXPECT_EQ(object_words("The red ball moves to the blue box."), (std::vector<std::string>{"red", "ball", "blue", "box"}));
  EXPECT_EQ(object_words("The green triangle turns yellow."), (std::vector<std::string>{"green", "triangle", "yellow"}));
  const auto corpus = prompt_corpus(2000, 7);
  ASSERT_EQ(corpus.size(), 2000u);
  std::set<std::string> vocab, prompts(corpus.begin(), corpus.end());
  for (const auto& p : corpus) {
    std::istringstream ss(p);
    for (std::string w; ss >> w;) vocab.insert(w);
    EXPECT_FALSE(object_words(p).empty()) << p;
  }
  std::printf("  prompt corpus: %zu distinct prompts, %zu distinct words\n", prompts.size(), vocab.size());
  EXPECT_GT(prompts.size(), 500u);
  EXPECT_LT(vocab.size(), 250u);  // a modest closed vocabulary
  EXPECT_EQ(prompt_corpus(10, 7), prompt_corpus(10, 7));
}

TEST(ShapesChecker, GroundTruthPasses) {
  const auto cases = test_cases();
  std::map<Dimension, std::vector<ShapesCase>> by_dim;
  for (const auto& c : cases) by_dim[c.dim].push_back(c);
  auto gt = [](const ShapesCase& c) { return render_case(c); };
  const Rate all = measure("ground truth (all)", cases, gt, 10);
  for (auto& [d, cs] : by_dim) measure(("ground truth " + dimension_name(d)).c_str(), cs, gt);
  EXPECT_GE(all.pct(), 97.0);
}

TEST(ShapesChecker, StillVideoFails) {
  const Rate r = measure("static copy of the reference", test_cases(), [](const ShapesCase& c) { return render_static(c); }, 0, true);
  EXPECT_EQ(r.total, 3 * kPerDimension);
  EXPECT_EQ(r.pass, 0);
}

TEST(ShapesChecker, WrongDirectionObjectColourFail) {
  const auto cases = test_cases(kPerDimensionVariants);
  const Rate dir = measure("wrong direction (motion)", cases, wrong_direction, 0, true);
  const Rate obj = measure("wrong object", cases, wrong_object, 0, true);
  const Rate col = measure("wrong colour", cases, wrong_colour, 0, true);
  EXPECT_GT(dir.total, 30);
  EXPECT_EQ(dir.pass, 0);
  EXPECT_EQ(obj.pass, 0);
  EXPECT_EQ(col.pass, 0);
}

TEST(ShapesChecker, FragmentsAndNoiseFail) {
  const auto cases = test_cases(kPerDimensionVariants);
  const Rate frag = measure("fragmented actor (last 4 frames)", cases, fragmented, 0, true);
  const Rate noise = measure("stray-blob noise", cases, noisy, 0, true);
  EXPECT_EQ(frag.pass, 0);
  EXPECT_EQ(noise.pass, 0);
}

TEST(ShapesChecker, ToleratesMildBlurAndColourDrift) {
  // A box blur and a colour shift, as a generated video might have: ground truth should still mostly pass.
  auto degrade = [](const ShapesCase& c) {
    auto frames = render_case(c);
    for (auto& f : frames) {
      RgbFrame out = f;
      for (int y = 0; y < f.h; ++y)
        for (int x = 0; x < f.w; ++x)
          for (int k = 0; k < 3; ++k) {
            int sum = 0, n = 0;
            for (int dy = -1; dy <= 1; ++dy)
              for (int dx = -1; dx <= 1; ++dx) {
                const int nx = std::clamp(x + dx, 0, f.w - 1), ny = std::clamp(y + dy, 0, f.h - 1);
                sum += f.at(nx, ny)[k];
                ++n;
              }
            out.at(x, y)[k] = static_cast<uint8_t>(std::clamp(sum / n + (k == 0 ? 12 : -8), 0, 255));
          }
      f = out;
    }
    return frames;
  };
  const Rate r = measure("blurred + colour drift", test_cases(30), degrade, 5);
  EXPECT_GE(r.pct(), 90.0);
}

TEST(VBenchConsistency, HandComputed) {
  // ref = (1, 0); frames at 0, 90 and 45 degrees, then pointing away (cosine clipped to 0).
  const std::vector<float> ref{1, 0};
  const std::vector<std::vector<float>> f{{2, 0}, {0, 3}, {1, 1}, {-1, 0}};
  const auto s = analysis::vbench_consistency(ref, f);
  const double r2 = 1 / std::sqrt(2.0);
  ASSERT_EQ(s.s.size(), 4u);
  ASSERT_EQ(s.c.size(), 3u);
  EXPECT_NEAR(s.s[0], 1, 1e-12);
  EXPECT_NEAR(s.s[1], 0, 1e-12);
  EXPECT_NEAR(s.s[2], r2, 1e-7);
  EXPECT_NEAR(s.s[3], 0, 1e-12);
  EXPECT_NEAR(s.c[0], 0, 1e-12);
  EXPECT_NEAR(s.c[1], r2, 1e-7);
  EXPECT_NEAR(s.c[2], 0, 1e-12);  // cos = -1/sqrt2, clipped
  EXPECT_NEAR(s.score, 0.4 * 1 + 0.3 * (r2 / 3) + 0.3 * 0, 1e-7);
  EXPECT_THROW(analysis::vbench_consistency(ref, {{1, 0}}), Error);
  EXPECT_THROW(analysis::vbench_consistency(ref, {{1, 0}, {1, 0, 0}}), Error);
}

TEST(VBenchConsistency, ObjectMasksCoverObjectsOnly) {
  const auto c = sample_case(31, {}, Dimension::Motion, 1);
  const auto frames = render_case(c);
  const auto masks = analysis::object_masks(frames);
  ASSERT_EQ(masks.size(), frames.size());
  const auto& s = c.annotation["states"][12][0];
  const int cx = static_cast<int>(s["x"].get<double>()), cy = static_cast<int>(s["y"].get<double>());
  EXPECT_EQ(masks[12][cy * 96 + cx], 1);
  int covered = 0;
  for (auto m : masks[12]) covered += m;
  EXPECT_LT(covered, 96 * 96 / 4);
  // With the object masked out, the frame is background only: nothing left to segment.
  const auto bg_only = analysis::mask_objects(frames[12], masks[12], frames[0]);
  const auto seg = analysis::segment_frame(bg_only, analysis::fit_background(frames[0]));
  EXPECT_TRUE(seg.blobs.empty());
}

TEST(ShapesBench, WritesAndReadsBack) {
  const auto root = (std::filesystem::temp_directory_path() / ("focalscope_shapes_bench_" + std::to_string(::getpid()))).string();
  const auto index = write_bench_set(root, 3, kBenchSeedBase);
  EXPECT_EQ(index["cases"].size(), 9u);
  const auto cases = read_bench_set(root);
  ASSERT_EQ(cases.size(), 9u);
  for (const auto& bc : cases) {
    EXPECT_EQ(read_png(bc.ref_path), render_reference(bc.c)) << bc.id;
    EXPECT_EQ(bc.c.annotation, sample_case(bc.c.seed, {}, bc.c.dim).annotation) << bc.id;
    EXPECT_GE(bc.c.seed, kTrainSeedLimit);
  }
  EXPECT_THROW(write_bench_set(root, 3, 12345), Error);
  std::filesystem::remove_all(root);
}

}  // namespace
