// One analysis sample = one generation with a SimilarityCapture attached, then the statistics of its maps.
// Shared by `focalscope analyze` and `focalscope bench-capture` so both measure the same code path.
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "analysis/layer_stats.h"
#include "engine/capture/similarity_capture.h"
#include "engine/capture/text_response.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/shapes/shapes_bench.h"

namespace focalscope::cli {

struct AnalyzeSample {
  std::string id;                     // "seed_3", or a benchmark case id
  std::string image_path;             // for the report
  at::Tensor image;                   // [3, H, W] in [-1, 1]
  std::string prompt;
  std::vector<std::string> keywords;  // prompt words to capture
  int64_t seed = 0;
};

// What a keyword's map is compared with (the default weak-layer rule, analysis/weak_layers.h ControlWords):
//   NonObjectWords   (default, the validated rule) the prompt's other content words (verbs, adverbs, directions),
//                    captured in the same run.
//   AbsentSameClass  the keyword's matched controls: words of its own class (colour for a colour word, shape for a
//                    shape word) that the prompt does not contain, each read in the prompt with the keyword swapped
//                    for it (V(w)_l from that text, the run's own z): "does this layer tell 'red' from 'blue'?".
//                    Measured and rejected: on the embedded model no layer's keyword maps beat these (docs/validation.md).
enum class ControlKind { AbsentSameClass, NonObjectWords };
const char* control_kind_name(ControlKind k);             // "absent" | "other-words"
ControlKind parse_control_kind(const std::string& name);  // Error naming --control otherwise

// Alternatives per colour / shape keyword that the text response compares the prompt with (see run_analysis_sample).
inline constexpr int kTextResponseAlternativesPerKeyword = 1;

struct AnalyzeSettings {
  GenerateRequest base;             // sampling settings; image, prompt and seed come from each sample
  CaptureSelection selection;       // captured steps / layers (empty = all) and passes
  CaptureSource source = CaptureSource::NormedInput;
  std::vector<int> stat_steps;      // sampler steps averaged into a layer's value (empty = every captured step)
  int random_directions = 20;       // random-direction baseline maps per layer (0: none); see RandomDirections
  bool control_words = true;        // also capture control words, the null of the default weak-layer rule
  ControlKind control_kind = ControlKind::NonObjectWords;
  bool text_response = true;        // also measure each layer's text response (the default weak-layer rule's input)
};

struct SampleOutcome {
  AnalyzeSample sample;
  RunParams params;
  std::vector<CaptureKeyword> keywords;
  CaptureLayout layout;
  std::vector<analysis::SampleLayerStats> stats;  // one per pass slot of the layout
  std::vector<analysis::MapStats> layer_values;   // per layer slot: mean over frames, keywords, stat steps (cond pass
                                                  // when captured, else uncond)
  std::vector<std::vector<double>> random_moran;  // [layer slot][direction]: the random-direction baseline's Moran's I
  std::vector<double> control_moran;  // [layer slot]: Moran's I of the control words' maps (mean over them; empty if none)
  // Wan2.2 two-expert runs: the expert of each sampler step (1 high-noise, 0 low-noise; empty for one DiT) and, per
  // expert ([0] low, [1] high), everything the weak-layer rule reads averaged over the stat steps that expert ran
  // (layer_values empty when it ran none of them), so each expert gets its own weak-layer decision.
  std::vector<int> step_expert;
  struct ExpertCurves {
    std::vector<analysis::MapStats> layer_values;
    std::vector<double> control_moran, text_response;
    std::vector<std::vector<double>> random_moran;
  };
  std::vector<ExpertCurves> by_expert;
  std::vector<double> text_response;  // [layer slot]: the layer's text response R_l (engine/capture/text_response.h),
                                      // mean over the stat steps; empty without it
  std::vector<std::string> control_words;  // the prompt's content words that name no object (verbs, adverbs, ...)
  bool control_looked_for = false;         // AnalyzeSettings::control_words was on for this sample
                                                  // (same pass and averaging as layer_values); empty without it
  std::shared_ptr<SimilarityCapture> capture;     // kept only when asked for (figures)
  at::Tensor video;                               // [3, F, H, W]; kept only when asked for
  double seconds_generate = 0, seconds_stats = 0;
  bool cancelled = false;
};

// "shapes" -> assets/bench/shapes (next to the embedded model, below the working directory or near the executable);
// anything else must be a benchmark folder.
std::string find_bench_root(const std::string& suite);
// The prompt's object words (colour and shape words), else its first word.
std::vector<std::string> default_keywords(const std::string& prompt, const ModelBundle& m);
// The first n cases of a benchmark set as samples (round-robin over the dimensions with `interleave`), seeds seed,
// seed+1, ...; keywords empty = default_keywords. cases_out (optional) receives the cases in the same order.
std::vector<AnalyzeSample> suite_samples(const ModelBundle& m, const std::string& root, int n, bool interleave, int64_t seed,
                                         const std::vector<std::string>& keywords,
                                         std::vector<shapes::BenchCase>* cases_out = nullptr);
// The prompt's control words: content words (not function words) that are not among `keywords`; the null of the
// word-specificity statistic (a keyword's map should be more structured than a verb's).
std::vector<std::string> control_words(const ModelBundle& m, const std::string& prompt, const std::vector<std::string>& keywords);

// A keyword's matched control: `word` replaces `keyword` in `prompt` (every occurrence) to give `text`.
struct AbsentControl {
  std::string keyword, word, text;
};
// Up to `per_keyword` controls for each Shapes colour / shape keyword: the other colours / shapes of the vocabulary
// that the prompt does not mention, in vocabulary order. Keywords outside the Shapes vocabulary get none.
std::vector<AbsentControl> absent_controls(const std::string& prompt, const std::vector<std::string>& keywords,
                                           int per_keyword = 3);
// Their value vectors: per model layer, [controls, dim] (each the mean of the word's rows in its own text).
FixedDirections absent_control_directions(const ModelBundle& m, const std::vector<AbsentControl>& controls);

// Adds a finished sample to per-layer curves: its layer values and, when captured, its random-direction null (the
// mean over directions per layer).
void add_to_curves(const SampleOutcome& o, analysis::LayerCurves& curves);
// The same for the steps expert `e` ran (SampleOutcome::by_expert[e]); Error when it ran none of the stat steps.
void add_expert_to_curves(const SampleOutcome& o, int e, analysis::LayerCurves& curves);
// The same for the steps expert `e` ran (SampleOutcome::by_expert[e]); Error when it ran none of the stat steps.
void add_expert_to_curves(const SampleOutcome& o, int e, analysis::LayerCurves& curves);

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
// Wan2.2: those of `slots` whose sampler step expert `expert` ran (step_expert: 1 high-noise, 0 low-noise per step).
std::vector<int> expert_step_slots(const CaptureLayout& layout, const std::vector<int>& step_expert, int expert,
                                   const std::vector<int>& slots);

}  // namespace focalscope::cli
