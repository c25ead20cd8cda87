// Shared helpers for the GoogleTest suite.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/core/error.h"

namespace focalscope::testing {

// Root of the Wan reference fixtures: $FOCALSCOPE_FIXTURES, else ../shared/fixtures/wan_reference beside the repo.
inline std::string fixtures_root() {
  if (const char* e = std::getenv("FOCALSCOPE_FIXTURES"); e && *e) return e;
  return std::string(FOCALSCOPE_SOURCE_DIR) + "/../shared/fixtures/wan_reference";
}
// Other shared fixtures (morans_i, wan_checkpoint_layout): siblings of the Wan reference root.
inline std::string shared_fixture(const std::string& name) {
  return (std::filesystem::path(fixtures_root()).parent_path() / name).string();
}
inline std::string temp_dir(const std::string& tag) {
  auto p = std::filesystem::temp_directory_path() / ("focalscope_test_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(p);
  return p.string();
}

// The one-line message of the focalscope::Error that f() throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const focalscope::Error& e) {
    return e.what();
  }
  return "";
}

// The project's parity bar: max|ours - ref| <= tol * max(1, max|ref|).
inline ::testing::AssertionResult close_to_ref(const at::Tensor& ours, const at::Tensor& ref, double tol = 1e-4) {
  if (ours.sizes() != ref.sizes())
    return ::testing::AssertionFailure() << "shape " << ours.sizes() << " vs reference " << ref.sizes();
  auto a = ours.to(at::kDouble), b = ref.to(at::kDouble);
  double err = (a - b).abs().max().item<double>();
  double scale = std::max(1.0, b.abs().max().item<double>());
  if (err <= tol * scale) return ::testing::AssertionSuccess() << "max err " << err;
  return ::testing::AssertionFailure() << "max |ours-ref| = " << err << " > " << tol * scale;
}

// Runs the focalscope CLI (`exe args`); returns its exit code, stdout + stderr in *out.
inline int run_cli(const std::string& exe, const std::string& args, std::string* out) {
  FILE* p = ::popen((exe + " " + args + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  out->clear();
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out->append(buf, n);
  const int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace focalscope::testing
