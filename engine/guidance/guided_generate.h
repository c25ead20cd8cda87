// generate() with Focal Guidance attached: plans FSG anchors from the run's CLIP tokens, then runs the sampler with
// the guidance listener first in the probe chain (so a capture listener after it sees the guided values).
#pragma once
#include <memory>

#include "engine/guidance/focal_guidance.h"
#include "engine/pipeline/i2v_pipeline.h"

namespace focalscope {

struct GuidedResult {
  GenerateResult run;
  FsgPlan plan;                 // words with CLIP scores, selected keywords (empty when guidance is off)
  std::vector<int> weak_layers; // the set guidance used
};

// With guidance off (or all lambdas 0) this is exactly generate(m, req, hooks): bit-identical output.
GuidedResult generate_guided(const ModelBundle& m, const GenerateRequest& req, const GuidanceConfig& g,
                             const RunHooks& hooks = {});

}  // namespace focalscope
