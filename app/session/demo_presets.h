// Preset cases for `--demo`: reference images and prompts from the Shapes benchmark (assets/bench/shapes when
// present, otherwise the same cases regenerated from the benchmark seeds), one or more per dimension
// (dynamic attributes, motion, interaction).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "render/image.h"

namespace focalscope::session {

struct DemoPreset {
  std::string id;         // e.g. "motion_0000"
  std::string dimension;  // "dynamic_attributes" | "motion" | "interaction"
  std::string prompt;
  std::string image_path; // the benchmark's ref.png when read from disk, else "bench:<id>"
  std::shared_ptr<const render::Image> image;
};

// Never throws: an unreadable benchmark folder falls back to regenerated cases.
std::vector<DemoPreset> demo_presets(int per_dimension = 2);

}  // namespace focalscope::session
