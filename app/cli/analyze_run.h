// One analysis sample = one generation with a SimilarityCapture attached, then the statistics of its maps.
// Shared by `focalscope analyze` and `focalscope bench-capture` so both measure the same code path.
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "analysis/layer_stats.h"
#include "engine/capture/similarity_capture.h"
#include "engine/pipeline/i2v_pipeline.h"

namespace focalscope::cli {

struct AnalyzeSample {
  std::string id;                     // "seed_3", or a benchmark case id
  std::string image_path;             // for the report
  at::Tensor image;                   // [3, H, W] in [-1, 1]
  std::string prompt;
  std::vector<std::string> keywords;  // prompt words to capture
  int64_t seed = 0;
};

struct AnalyzeSettings {
  GenerateRequest base;             // sampling settings; image, prompt and seed come from each sample
  CaptureSelection selection;       // captured steps / layers (empty = all) and passes
  CaptureSource source = CaptureSource::NormedInput;
  std::vector<int> stat_steps;      // sampler steps averaged into a layer's value (empty = every captured step)
};

struct SampleOutcome {
  AnalyzeSample sample;
  RunParams params;
  std::vector<CaptureKeyword> keywords;
  CaptureLayout layout;
  std::vector<analysis::SampleLayerStats> stats;  // one per pass slot of the layout
  std::vector<analysis::MapStats> layer_values;   // per layer slot: mean over frames, keywords, stat steps (cond pass
                                                  // when captured, else uncond)
  std::shared_ptr<SimilarityCapture> capture;     // kept only when asked for (figures)
  at::Tensor video;                               // [3, F, H, W]; kept only when asked for
  double seconds_generate = 0, seconds_stats = 0;
  bool cancelled = false;
};

// The capture layout a sample will use (for the memory estimate shown before the run).
CaptureLayout plan_capture(const ModelBundle& m, const AnalyzeSettings& st, const RunParams& params, int64_t keywords);

// Generates the sample with capture on, then computes its statistics. `hooks.listener` must be null (the capture
// is attached here); on_step / cancel / on_stage are passed through. A cancelled run returns cancelled = true and
// no statistics.
SampleOutcome run_analysis_sample(const ModelBundle& m, const AnalyzeSample& s, const AnalyzeSettings& st,
                                  bool keep_maps, const RunHooks& hooks = {});

// Per-pass statistics of every ready map of a capture.
std::vector<analysis::SampleLayerStats> capture_statistics(const SimilarityCapture& cap);

// Step slots of `layout` for the given sampler steps (all slots when empty); Error for a step not captured.
std::vector<int> stat_step_slots(const CaptureLayout& layout, const std::vector<int>& steps);

}  // namespace focalscope::cli
