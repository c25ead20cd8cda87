#pragma once
#include "engine/core/fixture.h"
#include "engine/formats/quantised_weight.h"

namespace focalscope {
// Reproduces a `wan_dit_i2v_tiny`-format folder: every call in config.json "calls", the per-block intermediates
// recorded for each timestep input, the sinusoid and RoPE tables, and the i2v mask.
FixtureResult run_dit_fixture(const Fixture& f);
// Same, with the DiT weights taken from another tensor set (e.g. BF16 shards of the checkpoint-layout fixture), and
// `kept` block weights held as quantised codes (decoded per block while it runs; WanModel::load).
FixtureResult run_dit_fixture(const Fixture& f, const TensorSet& weights, const formats::QuantisedWeights* kept = nullptr);
}  // namespace focalscope
