// Immutable snapshots of a run, published by the worker after every stage and every finished denoising step.
// The GUI grabs the latest shared_ptr once per frame and reads it without locks; the worker never mutates a
// published snapshot (each step adds a new StepRecord and republishes). Per-step records, maps and frames are
// shared between consecutive snapshots, so publishing costs a few pointer copies.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "analysis/map_stats.h"
#include "app/session/run_config.h"
#include "engine/pipeline/hallucination_trace.h"
#include "render/image.h"

namespace focalscope::session {

enum class RunState { Idle, Queued, Loading, Encoding, Sampling, Decoding, Done, Cancelled, Failed };
const char* run_state_name(RunState s);
inline bool is_active(RunState s) { return s == RunState::Queued || s == RunState::Loading || s == RunState::Encoding ||
                                           s == RunState::Sampling || s == RunState::Decoding; }

enum class PassKind { Cond = 0, Uncond = 1 };

// One keyword's text-visual similarity map at one (layer, step) (paper Eq. 10): F' x H' x W' token grid,
// row-major (f, h, w), for the conditional pass and (with CFG) the unconditional pass.
struct SimilarityMap {
  int frames = 0, height = 0, width = 0;
  std::vector<float> cond, uncond;            // uncond empty when the run had no CFG
  analysis::MapStats cond_stats, uncond_stats;  // frame means (Eq. 4, 5)
  float cond_min = 0, cond_max = 0, uncond_min = 0, uncond_max = 0;

  bool has(PassKind p) const { return p == PassKind::Cond ? !cond.empty() : !uncond.empty(); }
  const std::vector<float>& values(PassKind p) const { return p == PassKind::Cond ? cond : uncond; }
  const analysis::MapStats& stats(PassKind p) const { return p == PassKind::Cond ? cond_stats : uncond_stats; }
  float vmin(PassKind p) const { return p == PassKind::Cond ? cond_min : uncond_min; }
  float vmax(PassKind p) const { return p == PassKind::Cond ? cond_max : uncond_max; }
  size_t frame_size() const { return static_cast<size_t>(height) * width; }
};
using MapPtr = std::shared_ptr<const SimilarityMap>;

// Everything one finished denoising step produced.
struct StepRecord {
  int step = 0;                // 0-based
  double timestep = 0;
  int expert = -1;             // Wan2.2 I2V-A14B: 1 the high-noise expert ran this step, 0 the low-noise one; -1 one DiT
  double elapsed_s = 0;        // since sampling started
  std::vector<std::vector<MapPtr>> maps;  // [keyword][layer]; null where that layer was not captured
};
using StepPtr = std::shared_ptr<const StepRecord>;

// A prompt word as a keyword chip.
struct KeywordInfo {
  std::string word;
  double clip_score = NAN;     // max_n S_{m,n} (Eq. 6); NaN when not computed
  bool selected = false;       // passes tau_sel (a Focal Guidance keyword)
  bool captured = false;       // has similarity maps in this run
};

// What Focal Guidance did in one weak layer (engine GuidanceStats::Layer), for the guidance panel.
struct GuidanceLayerStats {
  int layer = 0;
  int64_t ac_applications = 0;    // forwards in which the Attention Cache (Eq. 13) ran in this layer
  int64_t ac_tokens_touched = 0;  // summed over those forwards: tokens with a non-zero thresholded cache value
  int64_t ac_tokens_seen = 0;     // summed over those forwards: tokens
  int64_t fsg_applications = 0;   // forwards in which FSG (Eq. 8 / 9) ran in this layer
};

struct RunSnapshot {
  uint64_t job_id = 0;
  Variant variant = Variant::Baseline;
  RunState state = RunState::Idle;
  std::string stage;           // "load model", "encode text", "sampling", "decode", ...
  std::string error;           // set when state == Failed
  RunInputs inputs;
  GuidanceConfig guidance;
  bool guidance_applied = false;  // Focal Guidance acted on this run (guided variant with FSG or AC on)
  std::vector<int> guidance_weak_layers;       // the weak layers guidance used
  std::vector<std::string> guided_keywords;    // the keywords it guided (Eq. 6 selection or the given words)
  // The guidance settings in effect: `guidance` with tau_sel / tau_cache as they ran (the model's calibrated values
  // while auto) and, for a guided run, every value from GuidedResult::config. Baseline runs: the thresholds the
  // keyword chips were scored with.
  GuidanceConfig guidance_ran;
  // Guided runs: one line per switched-on part of guidance that did nothing, and why (GuidedResult::noops), and
  // what the Attention Cache did per weak layer (GuidanceStats).
  std::vector<std::string> guidance_noops;
  std::vector<GuidanceLayerStats> guidance_layer_stats;
  double cache_max = -1;                       // largest aggregated cache value before the threshold; -1: none built
  int64_t cache_values = 0, cache_above = 0;   // aggregated cache values seen / above tau_cache

  // Model and resolved parameters.
  std::string model_name, model_dir;
  std::vector<std::string> model_notes;  // what loading said, e.g. one line per LoRA merged with its unmatched keys
  int num_layers = 0;
  int steps_total = 0, frames_total = 0, fps = 16;
  double cfg = 0;
  int lat_f = 0, lat_h = 0, lat_w = 0, width = 0, height = 0;
  bool has_uncond = false;

  // Progress.
  int steps_done = 0;
  double elapsed_s = 0, eta_s = 0;   // sampling time so far / estimate of what is left (incl. decode)
  double seconds_load = 0, seconds_encode = 0, seconds_sample = 0, seconds_decode = 0;

  std::vector<KeywordInfo> keywords;     // chips, in prompt order; maps use keyword_index()
  std::vector<int> capture_keywords;     // indices into keywords that have maps, in the maps' order
  std::vector<int> sampled_steps;        // steps whose maps are kept (the grid's columns)
  std::vector<StepPtr> steps;            // finished steps, in order
  std::vector<int> weak_layers;          // detected from this run's maps (empty until enough steps)
  std::vector<int> model_weak_layers;    // recorded in the model's manifest (`focalscope analyze`), may be empty
  // Ground truth of a model trained with planted weak layers (manifest "planted_weak_layers"); shown only, never
  // read by the detector or by guidance.
  std::vector<int> model_planted_weak_layers;
  double model_tau_sel = NAN, model_tau_cache = NAN;  // the model's calibrated thresholds (NaN: none)
  // KV-Lock's hallucination metric, step by step as the run samples (engine/pipeline/hallucination_trace.h), and the
  // tau it is read against (the model's calibrated one, else the paper's 0.01).
  HallucinationTrace hallucination;
  double hallucination_tau = kPaperHallucinationTau;
  bool hallucination_tau_calibrated = false;

  std::shared_ptr<const render::Image> reference;
  std::shared_ptr<const std::vector<render::Image>> frames;  // decoded video (set when Done)

  bool finished() const { return state == RunState::Done; }
  // Position of word in capture_keywords (the first index of StepRecord::maps), -1 if not captured.
  int map_slot(const std::string& word) const;
  // The map for (capture slot, layer, step index into `steps`), or null.
  const SimilarityMap* map(int slot, int layer, int step_index) const;
  double progress() const;   // 0..1 over load + sampling + decode
};
using SnapshotPtr = std::shared_ptr<const RunSnapshot>;

// Per-layer curves (Fig. 2) for one keyword slot and pass: Moran's I and std averaged over the finished steps
// (or one step when step_index >= 0). NaN where a layer has no maps.
// With bootstrap_reps > 0, *_lo / *_hi hold a 95% percentile-bootstrap interval of each layer's mean over its steps
// (analysis/resampling.h, fixed seed, so a redraw gives the same band); a layer with one step has lo = hi = mean.
struct LayerCurves {
  std::vector<double> moran, std_dev;
  std::vector<double> moran_lo, moran_hi, std_lo, std_hi;  // empty without bootstrap_reps
  int steps_used = 0;
};
LayerCurves layer_curves(const RunSnapshot& s, int slot, PassKind pass, int step_index = -1, int bootstrap_reps = 0);

// Semantic-weak layers of this run (analysis/weak_layers.h, contiguous band) from the conditional maps of the
// finished steps, averaged over keywords; one sample per step. Empty when there is too little data.
std::vector<int> detect_weak_layers(const RunSnapshot& s);

// The weak layers to mark for a run: the set guidance used (guided runs), else the model's, else the detected set.
std::vector<int> marked_weak_layers(const RunSnapshot& s);

// Latent frame index that a pixel frame belongs to (Wan VAE: frame 0 alone, then 4 frames per latent frame).
int latent_frame_of(int pixel_frame, int temporal_stride = 4);

}  // namespace focalscope::session
