#include "app/cli/model_arg.h"

#include "engine/core/error.h"

namespace focalscope::cli {

std::string resolve_model_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  std::string d = default_model_dir();
  if (d.empty())
    fail("--model-dir", "not given and the embedded default model (assets/models/shapes/focalscope.json) was not found; "
                        "set FOCALSCOPE_MODEL_DIR or pass --model-dir");
  return d;
}

std::unique_ptr<ModelBundle> load_model_arg(const std::string& dir, const LoadOptions& opt) {
  return load_model_bundle(resolve_model_dir(dir), opt);
}

}  // namespace focalscope::cli
