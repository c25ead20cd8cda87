// Every fixture folder under the fixtures root (FOCALSCOPE_FIXTURES, default ../shared/fixtures/wan_reference):
// load, run the module it describes, compare every recorded output (max|ours-ref| <= 1e-4 * max(1, max|ref|)).
// Nothing here names a folder or a size: another reference set in the same format runs unchanged.
#include <gtest/gtest.h>

#include <ATen/Context.h>

#include <filesystem>

#include "engine/pipeline/run_module.h"
#include "tests/fixture_check.h"

using namespace focalscope;

namespace {
std::vector<std::string> fixture_dirs() {
  std::vector<std::string> out;
  namespace fs = std::filesystem;
  const auto root = focalscope::testing::fixtures_root();
  if (!fs::is_directory(root)) return out;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && fs::exists(e.path() / "config.json") && fs::exists(e.path() / "io.safetensors"))
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

class FixtureParity : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureParity, EveryRecordedOutputMatches) {
  Fixture f = load_fixture(GetParam());
  FixtureResult r = run_module_fixture(f);
  EXPECT_FALSE(r.outputs.empty());
  double worst = focalscope::testing::check_fixture(f, r);
  RecordProperty("worst_relative_error", std::to_string(worst));
}

// Upstream's precision (bf16 DiT/umT5 GEMMs with float32 norms, statistics and time embedding): within the bound
// docs/real_weights.md documents (kMixedPrecisionBound), and really in bf16 (not silently float32: a non-zero error).
// The VAE runs in float32 upstream and the schedulers are float64 scalar maths, so they have no bf16 path.
// 0.1, not tighter: on CPUs without AVX-512, libtorch 1.13's fallback bf16 GEMM measured 6.3% (umT5, DiT) where
// AVX-512 CPUs and an H200 stay at 1-5.4% (table in docs/real_weights.md); a wrong weight or layout is ~100%.
constexpr double kMixedPrecisionBound = 1e-1;

TEST_P(FixtureParity, Bf16WithinDocumentedBound) {
  Fixture f = load_fixture(GetParam());
  const std::string kind = fixture_kind(f);
  if (kind == "vae" || kind == "scheduler") GTEST_SKIP() << kind << " has no bf16 path (float32/float64 upstream)";
  f.target.dtype = at::kBFloat16;
  FixtureResult r = run_module_fixture(f);
  const double worst = focalscope::testing::check_fixture(f, r, nullptr, kMixedPrecisionBound);
  EXPECT_GT(worst, 1e-5) << "a bf16 run should differ from the float32 reference";
}

// On a machine with a GPU (never in CI): the same float32 bar on CUDA.
TEST_P(FixtureParity, CudaFloat32MatchesWhenAvailable) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA in this libtorch / machine";
  Fixture f = load_fixture(GetParam());
  f.target.device = c10::Device(c10::kCUDA);
  FixtureResult r = run_module_fixture(f);
  focalscope::testing::check_fixture(f, r);
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, FixtureParity, ::testing::ValuesIn(fixture_dirs()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = std::filesystem::path(i.param).filename().string();
                           for (auto& c : n) if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(FixtureParitySet, RootHasFixtures) {
  EXPECT_GE(fixture_dirs().size(), 1u) << "no fixture folders under " << focalscope::testing::fixtures_root();
}
