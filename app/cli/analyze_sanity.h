// `focalscope analyze --sanity`: checks that the similarity maps measure what they claim (after Adebayo et al. 2018,
// "Sanity Checks for Saliency Maps"), each reported as pass / fail with its numbers:
//   (a) model randomisation: one layer's text value projection (cross_attn.v) re-drawn from the DiT's initialisation
//       at a time, and as a second variant cascading from the top layer down. A randomised layer's V(k) is a random
//       direction, so its keyword Moran's I must fall inside the 95% interval of that layer's random-direction baseline
//       (cos(r, z) for random r, measured in the same runs: z's own structure keeps it above zero).
//   (b) data randomisation: the prompt's words for one object are replaced by a colour and shape absent from the image;
//       the replaced words' maps must lose the structure the original words' maps have on that object (Moran's I and
//       the map's contrast on the object, paired per sample).
//   (c) specificity: in scenes with two named objects, each object's shape word must peak on its own object (token grid
//       of the reference frame, where the objects are known), more often than chance.
#pragma once
#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/cli/analyze_run.h"
#include "engine/shapes/shapes_bench.h"

namespace focalscope::cli {

struct SanityOptions {
  int samples = 8;                       // per check (the first ones of the analysis' sample list that fit)
  const std::atomic<bool>* cancel = nullptr;
  std::function<void()> on_generation;   // called after every generation (progress)
};

struct SanityResult {
  nlohmann::json json;                   // every number, per check and layer
  std::vector<std::string> lines;        // the terminal report
  bool cancelled = false;
};

// `model` is modified during (a) and restored before returning (also on error). Samples need a Shapes annotation for
// (b) and (c) (benchmark cases); with --image / --prompt only (a) runs.
SanityResult run_sanity_checks(ModelBundle& model, const std::vector<AnalyzeSample>& samples,
                               const std::vector<const shapes::BenchCase*>& cases, const AnalyzeSettings& st,
                               const SanityOptions& opt);

}  // namespace focalscope::cli
