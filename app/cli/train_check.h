// `focalscope train --stage check`: generates fresh training-range Shapes cases (never the benchmark's seeds)
// with a model folder and runs the strict checker on them, per dimension, next to the empty-prompt floor
// (the same runs with CFG scale 0, i.e. only the unconditional "" pass) — the quick health check of a
// training run, not the benchmark.
#pragma once
#include <cstdint>
#include <string>

namespace focalscope::cli {

struct TrainCheckOptions {
  std::string model_dir;
  int cases_per_dimension = 10;
  uint64_t seed = 1;
  int steps = -1;        // sampling steps (-1: the model's default)
  double cfg = -1;       // guidance (-1: the model's default)
  bool floor = true;     // also run the empty-prompt floor
  std::string frames_dir;  // when set, PNG strips of every generated case are written here
};

// Prints a table; returns the JSON summary as a string.
std::string run_train_check(const TrainCheckOptions& opt);

}  // namespace focalscope::cli
