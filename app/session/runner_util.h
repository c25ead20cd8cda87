// Internal to the session library (torch inside; the GUI never includes it): the conversions and the guidance
// translation that both the generate runs (session_runner.cpp) and the edit runs (edit_job.cpp) use.
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "app/session/run_config.h"
#include "app/session/run_snapshot.h"
#include "engine/guidance/guidance_config.h"
#include "render/image.h"

namespace focalscope {
struct ModelBundle;
}

namespace focalscope::session {

// RGB8 image -> the pipeline's [3, H, W] float in [-1, 1].
at::Tensor to_tensor(const render::Image& img);
// [3, F, H, W] in [-1, 1] -> F RGB8 frames.
std::vector<render::Image> to_frames(const at::Tensor& video);
// The engine's Focal Guidance settings for a guided run (weak layers: the user's set, else the model's, else the
// set detected from `baseline`'s maps; thresholds on "model default" go in as not given).
focalscope::GuidanceConfig engine_guidance(const GuidanceConfig& g, const ModelBundle& m, const RunSnapshot* baseline);

}  // namespace focalscope::session
