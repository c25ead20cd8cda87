// Runs the Shapes benchmark: generate every case (per guidance setting and seed), judge it with the strict checker,
// score VBench-I2V subject/background consistency with the model's own image encoder.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "analysis/bench_table.h"
#include "engine/guidance/guidance_config.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/shapes/shapes_bench.h"
#include "engine/shapes/rgb_frame.h"

namespace focalscope {

struct BenchSetting {
  std::string name;        // row name: "baseline", "FSG", "AC", "FG", "empty prompt (floor)"
  GuidanceConfig guidance;
  bool empty_prompt = false;
  // The ground-truth video through the model's VAE instead of a generation: the best score this model's latent
  // space allows (the VAE blurs small shapes, and the checker is strict about shape), so the gap from baseline to
  // ceiling is what the DiT still has to learn. Deterministic: one seed is enough.
  bool vae_ceiling = false;
};

struct BenchOptions {
  int seeds = 1;
  int steps = -1;
  double cfg = -1;
  // Called after each case: (setting, seed, done, total, case score).
  std::function<void(const std::string&, int, int, int, const analysis::CaseScore&)> on_case;
  // When set, every video is also written as one PNG filmstrip (frames left to right, scaled 2x) to
  // DIR/<setting>/<case>_seed<k>.png, so a failed case can be looked at next to its failures in cases.csv.
  std::string strips_dir;
};

// The benchmark folder next to the default model (assets/bench/shapes), else that path relative to the cwd.
std::string default_bench_dir();
// Cases of `bench_dir` (default_bench_dir() when empty), only `dimension` when given, at most `limit` per
// dimension when > 0; counts per dimension into `per_dim`. Errors name the flag (--dimension) when none is left.
std::vector<shapes::BenchCase> select_bench_cases(const std::string& bench_dir, const std::string& dimension, int limit,
                                                  std::map<std::string, int>* per_dim = nullptr);

// The noise seed of case `bc` at seed index k: the same for every setting (and for `ablate`), so rows pair up.
int64_t bench_case_seed(const shapes::BenchCase& bc, int k);

std::vector<shapes::RgbFrame> video_to_rgb_frames(const at::Tensor& video);  // [3, F, H, W] in [-1, 1]

// Subject and background consistency of a video against its first frame (VBench-I2V formula, features from the
// model's CLIP image tower; background = objects masked out with the reference's background).
std::pair<double, double> i2v_consistency(const ModelBundle& m, const std::vector<shapes::RgbFrame>& frames);

analysis::RowStats run_bench_setting(const ModelBundle& m, const std::vector<shapes::BenchCase>& cases,
                                     const BenchSetting& setting, const BenchOptions& opt,
                                     std::vector<std::vector<analysis::CaseScore>>* per_seed = nullptr);

}  // namespace focalscope
