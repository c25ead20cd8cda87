// The embedded default model as shipped in assets/models/shapes: it loads, its manifest is consistent, it turns a
// benchmark case into a video whose first frame is the reference (I2V), the strict checker can read that video,
// and Focal Guidance with the recorded weak layers changes the output. Skipped only while the model is not
// exported yet.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "analysis/shapes_checker.h"
#include "engine/guidance/guided_generate.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/shapes/shapes_bench.h"
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
