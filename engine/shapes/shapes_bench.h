// The Shapes benchmark set on disk: <root>/<dimension>/<case_id>/{ref.png, case.json} plus <root>/index.json.
// Seeds come from [seed_base, ...) with seed_base >= kTrainSeedLimit, so benchmark cases never occur in
// training (see assets/bench/README.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/shapes/shapes_world.h"

namespace focalscope::shapes {

struct BenchCase {
  std::string id;        // e.g. "motion_0042"
  std::string ref_path;  // <root>/<dimension>/<id>/ref.png
  ShapesCase c;
};

// Case seed for the i-th case of a dimension.
uint64_t bench_seed(uint64_t seed_base, Dimension d, int i);

// Writes per_dimension cases for each dimension; returns the index JSON (also written to <root>/index.json).
// Throws Error if seed_base < kTrainSeedLimit (the set must not overlap training seeds).
nlohmann::json write_bench_set(const std::string& root, int per_dimension, uint64_t seed_base,
                               const ShapesWorldConfig& cfg = {});

// Reads <root>/index.json and every case.json it lists.
std::vector<BenchCase> read_bench_set(const std::string& root);

}  // namespace focalscope::shapes
