// The embedded default model as shipped in assets/models/shapes: it loads, its manifest is consistent, it turns a
// benchmark case into a video whose first frame is the reference (I2V), the strict checker can read that video,
// and Focal Guidance with the recorded weak layers changes the output. Skipped only while the model is not
// exported yet.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <set>

#include "analysis/shapes_checker.h"
#include "engine/core/error.h"
#include "engine/guidance/guided_generate.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/shapes/shapes_bench.h"
#include "engine/shapes/shapes_prompts.h"
#include "engine/train/shapes_data.h"

using namespace focalscope;

namespace {

const std::string kModelDir = std::string(FOCALSCOPE_SOURCE_DIR) + "/assets/models/shapes";
const std::string kBenchDir = std::string(FOCALSCOPE_SOURCE_DIR) + "/assets/bench/shapes";

const ModelBundle& model() {
  static std::unique_ptr<ModelBundle> m = load_model_bundle(kModelDir);
  return *m;
}

GenerateRequest request_for(const shapes::BenchCase& c) {
  GenerateRequest req;
  req.image = train::frame_to_tensor(shapes::render_reference(c.c));
  req.prompt = c.c.prompt;
  req.steps = 8;  // a short schedule: this tests the plumbing, the benchmark measures quality
  req.seed = 3;
  return req;
}

}  // namespace

class EmbeddedModel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModelDir + "/focalscope.json")) GTEST_SKIP() << "no embedded model in " << kModelDir;
  }
};

TEST_F(EmbeddedModel, ManifestIsConsistent) {
  const ModelBundle& m = model();
  EXPECT_EQ(m.layout.format, "focalscope");
  EXPECT_EQ(m.defaults.frames, 13);
  EXPECT_EQ(m.defaults.max_area, 64 * 64);
  EXPECT_TRUE(m.clip_text.has_value()) << "Focal Guidance's keyword selection needs the CLIP text tower";
  EXPECT_FALSE(m.weak_layers.empty()) << "the manifest should record the weak layers `focalscope analyze` detected";
  for (int l : m.weak_layers) {
    EXPECT_GE(l, 0);
    EXPECT_LT(l, m.dit.cfg.num_layers);
  }
  EXPECT_LT(m.weak_layers.size(), static_cast<size_t>(m.dit.cfg.num_layers)) << "responsive layers must remain";
}

TEST_F(EmbeddedModel, GeneratesAVideoThatStartsFromTheReferenceAndCanBeChecked) {
  const auto cases = shapes::read_bench_set(kBenchDir);
  ASSERT_FALSE(cases.empty());
  const auto& c = cases.front();
  GenerateRequest req = request_for(c);
  const GenerateResult r = generate(model(), req);
  ASSERT_EQ(r.video.sizes(), (at::IntArrayRef{3, 13, 64, 64}));
  EXPECT_TRUE(at::isfinite(r.video).all().item<bool>());
  const double first = (r.video.select(1, 0) - req.image).abs().mean().item<double>();
  EXPECT_LT(first, 0.08) << "the first frame should reproduce the reference image (mean |diff| in [-1,1] units)";
  const auto verdict = analysis::check_case(train::tensor_to_frames(r.video), c.c.annotation);
  EXPECT_FALSE(verdict.answers.empty());
}

TEST_F(EmbeddedModel, FocalGuidanceChangesTheOutputAndOffDoesNot) {
  const auto cases = shapes::read_bench_set(kBenchDir);
  ASSERT_FALSE(cases.empty());
  const GenerateRequest req = request_for(cases.front());
  GuidanceConfig off;
  GuidanceConfig fg;
  fg.set_mode("fg");
  const GuidedResult a = generate_guided(model(), req, off), b = generate_guided(model(), req, fg);
  const GenerateResult base = generate(model(), req);
  EXPECT_TRUE(at::equal(a.run.video, base.video)) << "guidance off must be the baseline bit for bit";
  EXPECT_FALSE(b.plan.keywords.empty()) << "the prompt names objects in the image: some word should be selected";
  EXPECT_FALSE(at::equal(a.run.video, b.run.video)) << "Focal Guidance should change the video";
}

// Eq. 6 on the Shapes world: the words the default tau_sel selects are the ones naming objects in the image (their
// colours and shapes), not the prompt's verbs, articles or adverbs.
TEST_F(EmbeddedModel, KeywordSelectionPicksTheWordsThatNameObjectsInTheImage) {
  const auto cases = shapes::read_bench_set(kBenchDir);
  ASSERT_GE(cases.size(), 30u);
  const ModelBundle& m = model();
  GuidanceConfig g;
  g.set_mode("fsg");
  int object_words = 0, object_selected = 0, other_words = 0, other_selected = 0;
  double object_score = 0, other_score = 0;
  for (size_t i = 0; i < cases.size(); i += cases.size() / 30) {
    const auto& c = cases[i];
    std::set<std::string> names;
    for (const auto& o : c.c.annotation["objects"]) {
      names.insert(o["color"].get<std::string>());
      for (const auto& syn : shapes::shape_synonyms(o["shape"].get<std::string>())) names.insert(syn);
    }
    GenerateRequest req = request_for(c);
    at::NoGradGuard ng;
    const at::Tensor img = req.image.unsqueeze(0);
    const at::Tensor clip_fea = m.clip.forward(m.clip.preprocess(img), m.clip_blocks).to(at::kFloat);
    const FsgPlan plan = plan_focal_guidance(m, c.c.prompt, clip_fea, g, 8, 8);
    for (const auto& w : plan.words) {
      std::string lw = w.word;
      for (auto& ch : lw) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      while (!lw.empty() && !std::isalnum(static_cast<unsigned char>(lw.back()))) lw.pop_back();
      const bool is_object = names.count(lw) != 0;
      (is_object ? object_words : other_words)++;
      (is_object ? object_selected : other_selected) += w.selected;
      (is_object ? object_score : other_score) += w.clip_max;
    }
  }
  std::printf("object words: %d, selected %d (mean max-sim %.3f); other words: %d, selected %d (mean max-sim %.3f)\n",
              object_words, object_selected, object_score / object_words, other_words, other_selected,
              other_score / other_words);
  EXPECT_GE(object_selected, 0.9 * object_words) << "object words should be selected";
  EXPECT_LE(other_selected, 0.1 * other_words) << "verbs, articles and adverbs should not";
}

// A hand-edited manifest with a wrong analysis entry is refused with one line naming the key and its value (symlinked
// weights, a rewritten focalscope.json).
TEST_F(EmbeddedModel, BadManifestEntriesAreNamed) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("focalscope_manifest_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kModelDir))
    if (e.path().filename() != "focalscope.json") fs::create_symlink(e.path(), dir / e.path().filename());
  nlohmann::json good;
  std::ifstream(kModelDir + "/focalscope.json") >> good;
  auto expect = [&](const char* key, const nlohmann::json& value, const std::string& needle) {
    nlohmann::json m = good;
    const std::string k = key;
    const auto dot = k.find('.');
    if (dot == std::string::npos) m[k] = value;
    else m[k.substr(0, dot)][k.substr(dot + 1)] = value;
    std::ofstream(dir / "focalscope.json") << m.dump();
    try {
      load_model_bundle(dir.string());
      ADD_FAILURE() << key << " = " << value.dump() << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect("weak_layers", "6,7", "weak_layers must be a list of layer indices, got \"6,7\"");
  expect("weak_layers", nlohmann::json::array({3, 99}), "weak_layers: 99 is not a layer index of this model (0-11)");
  expect("calibration.tau_cache", "high", "calibration.tau_cache must be a number in [-1, 1], got \"high\"");
  expect("calibration.tau_sel", 3, "calibration.tau_sel must be a number in [-1, 1], got 3");
  expect("kvlock.tau", -1, "kvlock.tau must be a number in (0, 1e+06], got -1");
  expect("kvlock.tau_local", nullptr, "kvlock.tau_local must be a number in (0, 1e+06], got null");
  fs::remove_all(dir);
}
