// The loop every stage shares: run steps until the step target or the time budget, draw a progress line with
// ETA, append a CSV loss log, checkpoint every few minutes and on the way out (also on SIGINT / SIGTERM, so a
// `kill` of a background run loses nothing).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/train/train_options.h"

namespace focalscope::train {

struct LoopSpec {
  std::string stage;                  // "vae", "clip", "dit": names the log and the progress line
  std::vector<std::string> columns;   // CSV columns of step()'s return values; the first is the total loss
  int64_t samples_per_step = 1;
  std::function<int64_t(int64_t step)> samples_at;  // optional: samples of step s when it varies (phases)
  int64_t start_step = 0;             // steps already done (from the checkpoint)
  int64_t target_steps = 0;           // total steps to reach
  // Runs optimisation step `step` (0-based) and returns its values (columns.size() of them).
  std::function<std::vector<double>(int64_t step)> step;
  // Saves the state after `steps_done` steps.
  std::function<void(int64_t steps_done)> checkpoint;
};

StageResult run_loop(const StageOptions& opt, const LoopSpec& spec);

// Multiplier of the base learning rate at step s (0-based) for a linear cool-down over the last `cooldown` steps
// before `target`: 1 before it, (target - s) / cooldown inside it (so the last step runs at base / cooldown),
// 1 when cooldown <= 0. Why: annealing the rate at the end removes the gradient noise a constant rate leaves in
// the weights, a gain that otherwise takes many more steps (and that the EMA only partly recovers).
double lr_cooldown_factor(int64_t s, int64_t target, int64_t cooldown);

// "1:02:03" / "4:05".
std::string format_duration(double seconds);
// True once SIGINT / SIGTERM arrived while a StopSignalScope was alive (run_loop holds one: it then checkpoints
// and returns).
bool stop_requested();

// Routes SIGINT / SIGTERM to stop_requested() for its lifetime (and clears an earlier request), so work outside
// the loop (a stage's minutes-long preparation) can stop cleanly too.
class StopSignalScope {
 public:
  StopSignalScope();
  ~StopSignalScope();
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;

 private:
  using Handler = void (*)(int);
  Handler old_int_, old_term_;
};

}  // namespace focalscope::train
