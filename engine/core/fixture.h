// Reference-fixture folders (../shared/fixtures/wan_reference/* format): config.json, weights.safetensors
// (optional), io.safetensors. Each engine component provides a runner that reproduces every output tensor
// the folder records, under the same names, from the folder's inputs and config alone (nothing hard-coded),
// so the same code serves the parity tests and `focalscope run-module`.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/weights.h"

namespace focalscope {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Where a runner puts the module: its weights in `dtype` (float32: the reference precision; bf16/fp16: the
// module's own mixed-precision policy) on `device`. Inputs go to the device as they are; outputs are returned
// wherever the module left them (run_module_fixture brings them back to the CPU).
struct FixtureTarget {
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::ScalarType::Float;
};

struct Fixture {
  std::string dir;
  nlohmann::json config;
  TensorSet weights;  // empty when the folder has no weights.safetensors
  TensorSet io;
  FixtureTarget target;
  const at::Tensor& in(const std::string& name) const { return io.get(name); }
  at::Tensor in_target(const std::string& name) const;  // in(name) moved to target.device (dtype unchanged)
};

struct FixtureResult {
  NamedTensors outputs;             // every tensor the runner computed, named as in io.safetensors
  std::set<std::string> inputs;     // io tensors that are inputs / constants (not to be compared)
};

Fixture load_fixture(const std::string& dir);  // throws Error naming the folder and the missing file

}  // namespace focalscope
