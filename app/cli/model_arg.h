// --model-dir handling shared by the commands: a given folder, else the embedded default model.
#pragma once
#include <memory>
#include <string>

#include "engine/pipeline/model_bundle.h"

namespace focalscope::cli {

// Empty dir -> the embedded default (assets/models/shapes); a clear Error when neither is usable.
std::unique_ptr<ModelBundle> load_model_arg(const std::string& dir, const LoadOptions& opt = {});
std::string resolve_model_dir(const std::string& dir);

}  // namespace focalscope::cli
