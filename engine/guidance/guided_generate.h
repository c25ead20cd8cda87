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
  GuidanceStats stats;          // what it did (tokens the Attention Cache touched per weak layer, ...)
  std::vector<std::string> noops;  // guidance_noops(): switched-on parts that did nothing, and why
  GuidanceConfig config;        // what ran: the request's config with the model's defaults filled in
};

// `g` with the model's calibrated thresholds (ModelBundle::calibrated_*) for those not given explicitly.
GuidanceConfig with_model_defaults(GuidanceConfig g, const ModelBundle& m);

// With guidance off (or all lambdas 0) this is exactly generate(m, req, hooks): bit-identical output. Thresholds not
// given explicitly take the model's calibrated values (with_model_defaults).
GuidedResult generate_guided(const ModelBundle& m, const GenerateRequest& req, const GuidanceConfig& config,
                             const RunHooks& hooks = {}, bool record_cache_values = false);

}  // namespace focalscope
