// Compares a FixtureResult against the fixture's io.safetensors: every recorded tensor must be either an input
// or reproduced, and every reproduced one must be within the parity bar. Returns the worst relative error.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/core/fixture.h"
#include "tests/test_util.h"

namespace focalscope::testing {

inline double check_fixture(const Fixture& f, const FixtureResult& r, const TensorSet* expected = nullptr,
                            double tol = 1e-4) {
  const TensorSet& io = expected ? *expected : f.io;
  std::set<std::string> produced;
  double worst = 0;
  for (const auto& [name, t] : r.outputs) {
    produced.insert(name);
    if (!io.has(name)) {
      ADD_FAILURE() << f.dir << ": runner produced '" << name << "' which the fixture does not record";
      continue;
    }
    at::Tensor ref = io.get(name);
    EXPECT_TRUE(close_to_ref(t, ref, tol)) << f.dir << " / " << name;
    if (t.sizes() == ref.sizes()) {
      double err = (t.to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>();
      double rel = err / std::max(1.0, ref.to(at::kDouble).abs().max().item<double>());
      worst = std::max(worst, rel);
    }
  }
  for (const auto& n : io.names())
    EXPECT_TRUE(produced.count(n) || r.inputs.count(n) || (expected && f.io.has(n) && !expected->has(n)))
        << f.dir << ": recorded tensor '" << n << "' was neither reproduced nor declared an input";
  std::printf("[parity] %s: %zu outputs, worst relative error %.3g\n", f.dir.c_str(), r.outputs.size(), worst);
  return worst;
}

}  // namespace focalscope::testing
