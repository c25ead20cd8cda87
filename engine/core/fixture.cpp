#include "engine/core/fixture.h"

#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/core/json_io.h"

#include <ATen/ATen.h>

namespace focalscope {

at::Tensor Fixture::in_target(const std::string& name) const { return io.get(name).to(target.device); }

Fixture load_fixture(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) fail(dir, "fixture folder not found");
  Fixture f;
  f.dir = dir;
  const auto cfg = fs::path(dir) / "config.json";
  f.config = read_json_object_file(cfg.string());
  const auto io = fs::path(dir) / "io.safetensors";
  if (!fs::exists(io)) fail(io.string(), "missing");
  f.io = load_safetensors(io.string());
  const auto w = fs::path(dir) / "weights.safetensors";
  if (fs::exists(w)) f.weights = load_safetensors(w.string());
  return f;
}

}  // namespace focalscope
