// BLAS detection: which libblas libtorch runs on, and the warning for the reference BLAS.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/core/blas_check.h"
#include "tests/run_capture.h"
#include "tests/test_util.h"

using namespace focalscope;
using focalscope::testing::run_capture;

namespace {
const char* kReferenceBlasDir = "/usr/lib/x86_64-linux-gnu/blas";

}  // namespace

TEST(Blas, DetectsTheLoadedLibraryAndMeasures) {
  // The child run under the reference BLAS skips the (slow there) timing to keep this file fast.
  const bool child = std::getenv("FOCALSCOPE_EXPECT_REFERENCE_BLAS") != nullptr;
  BlasInfo info = detect_blas(/*measure=*/!child);
  std::printf("BLAS: %s\n", blas_summary(info).c_str());
  for (const auto& l : info.loaded) std::printf("  mapped: %s\n", l.c_str());
  // libtorch calls sgemm_, so some loaded object must provide it.
  ASSERT_FALSE(info.library.empty()) << info.vendor;
  EXPECT_TRUE(std::filesystem::exists(info.library)) << info.library;
  EXPECT_FALSE(info.vendor.empty());
  if (!child) EXPECT_GT(info.matmul_gflops, 0.0);
  // The path is resolved through the alternatives symlinks, so it tells which implementation it is.
  const bool path_says_reference = info.library.find("/blas/libblas.so") != std::string::npos;
  EXPECT_EQ(info.is_reference, path_says_reference) << info.library << " / " << info.vendor;
  if (info.library.find("openblas") != std::string::npos) {
    EXPECT_EQ(info.vendor.rfind("OpenBLAS", 0), 0u) << info.vendor;
    EXPECT_FALSE(info.is_reference);
  }
  // The expected variable is set when this binary re-runs itself under the reference BLAS (below).
  if (const char* e = std::getenv("FOCALSCOPE_EXPECT_REFERENCE_BLAS"); e && std::string(e) == "1") {
    EXPECT_TRUE(info.is_reference) << blas_summary(info);
    EXPECT_NE(slow_blas_warning(info), "");
  }
  EXPECT_EQ(slow_blas_warning(info).empty(), !info.is_reference);
}

TEST(Blas, WarningTextTellsHowToFix) {
  BlasInfo fake;
  fake.library = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0";
  fake.vendor = "reference (netlib)";
  fake.is_reference = true;
  fake.matmul_gflops = 1.5;
  const std::string w = slow_blas_warning(fake);
  EXPECT_NE(w.find("WARNING"), std::string::npos);
  EXPECT_NE(w.find(fake.library), std::string::npos);
  EXPECT_NE(w.find("apt-get install libopenblas0-pthread"), std::string::npos);
  EXPECT_NE(w.find("update-alternatives"), std::string::npos);
  EXPECT_NE(w.find("1.5 GFLOP/s"), std::string::npos);
  EXPECT_GT(std::count(w.begin(), w.end(), '\n'), 5);
  fake.is_reference = false;
  EXPECT_EQ(slow_blas_warning(fake), "");
  warn_if_slow_blas();  // must not throw whatever is loaded
}

// Re-runs the first test in a child process whose libblas.so.3 resolves to the netlib reference build, which must
// then be reported as reference (skipped where that build is not installed).
TEST(Blas, DetectsReferenceBlasViaLibraryPath) {
  if (std::getenv("FOCALSCOPE_EXPECT_REFERENCE_BLAS")) GTEST_SKIP() << "child run";
  if (!std::filesystem::exists(std::string(kReferenceBlasDir) + "/libblas.so.3")) GTEST_SKIP() << "no reference BLAS installed";
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string cmd = std::string("FOCALSCOPE_EXPECT_REFERENCE_BLAS=1 LD_LIBRARY_PATH=") + kReferenceBlasDir + " '" + self +
                          "' --gtest_filter=Blas.DetectsTheLoadedLibraryAndMeasures 2>&1";
  int rc = 0;
  const std::string out = run_capture(cmd, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("reference (netlib)"), std::string::npos) << out;
  std::printf("%s", out.c_str());
}

TEST(Blas, CoreUpgradeOnlyRaisesKnownCoresToTheCpusLevel) {
  CpuIsa sse, avx, avx2, avx512, bf16;
  avx.avx = true;
  avx2 = avx, avx2.avx2_fma = true;
  avx512 = avx2, avx512.avx512 = true;
  bf16 = avx512, bf16.avx512_bf16 = true;
  // The case measured here: Debian's OpenBLAS 0.3.21 falls back to SSE3 kernels on an AVX-512 BF16 Xeon.
  EXPECT_EQ(openblas_core_upgrade("Prescott", bf16), "Cooperlake");
  EXPECT_EQ(openblas_core_upgrade("Prescott", avx512), "SkylakeX");
  EXPECT_EQ(openblas_core_upgrade("Nehalem", avx2), "Haswell");
  EXPECT_EQ(openblas_core_upgrade("Core2", avx), "Sandybridge");
  EXPECT_EQ(openblas_core_upgrade("Sandybridge", avx2), "Haswell");
  EXPECT_EQ(openblas_core_upgrade("Haswell", avx512), "SkylakeX");
  EXPECT_EQ(openblas_core_upgrade("SkylakeX", bf16), "Cooperlake");
  // At or above the CPU's level: OpenBLAS's own pick stands.
  EXPECT_EQ(openblas_core_upgrade("Prescott", sse), "");
  EXPECT_EQ(openblas_core_upgrade("Zen", avx2), "");
  EXPECT_EQ(openblas_core_upgrade("Haswell", avx2), "");
  EXPECT_EQ(openblas_core_upgrade("Cooperlake", bf16), "");
  EXPECT_EQ(openblas_core_upgrade("Cooperlake", avx512), "");
  EXPECT_EQ(openblas_core_upgrade("SapphireRapids", bf16), "");
  // Names not on the ladder (other architectures, no OpenBLAS) are never touched.
  EXPECT_EQ(openblas_core_upgrade("", bf16), "");
  EXPECT_EQ(openblas_core_upgrade("ARMV8", bf16), "");
  EXPECT_EQ(openblas_core_upgrade("Excavator", bf16), "");
}

namespace {
// `focalscope info` in a child with `env_prefix`; returns the "[core ...]" part of its BLAS line ("" if none).
std::string info_core_field(const std::string& env_prefix) {
  int rc = 0;
  const std::string out = run_capture("env " + env_prefix + " '" + std::string(FOCALSCOPE_EXE) + "' info 2>&1", &rc);
  EXPECT_EQ(rc, 0) << out;
  const auto b = out.find("[core ");
  if (b == std::string::npos) return "";
  return out.substr(b + 6, out.find(']', b) - b - 6);
}
}  // namespace

// The executable's own start-up choice: with no OPENBLAS_CORETYPE it runs at the CPU's level (forcing a core only
// when OpenBLAS's own pick is below it, and saying so); a core the user names is kept.
TEST(Blas, ExecutableRunsKernelsAtTheCpusLevelAndKeepsTheUsersChoice) {
  if (openblas_core().empty()) GTEST_SKIP() << "OpenBLAS is not the BLAS here";
  const CpuIsa isa = detect_cpu_isa();
  const std::string field = info_core_field("-u OPENBLAS_CORETYPE -u FOCALSCOPE_OPENBLAS_OWN_CORE");
  ASSERT_FALSE(field.empty()) << "no [core ...] in focalscope info";
  std::printf("focalscope info: [core %s]\n", field.c_str());
  const std::string forced_tag = ", forced by focalscope: OpenBLAS picked ";
  if (const auto f = field.find(forced_tag); f != std::string::npos) {
    const std::string core = field.substr(0, f), own = field.substr(f + forced_tag.size());
    EXPECT_FALSE(core.empty());
    EXPECT_EQ(openblas_core_upgrade(own, isa), core) << field;
  } else {
    EXPECT_EQ(openblas_core_upgrade(field, isa), "") << "OpenBLAS runs below this CPU's level: " << field;
  }
  EXPECT_EQ(info_core_field("-u FOCALSCOPE_OPENBLAS_OWN_CORE OPENBLAS_CORETYPE=Prescott"), "Prescott");
}
