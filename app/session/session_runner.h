// Runs generations on one worker thread and publishes immutable RunSnapshots (see run_snapshot.h).
//
//   SessionRunner runner;                 // starts the worker (torch limited to `torch_threads` on it)
//   runner.submit(request);               // cancels the run in flight (between steps) and queues this one
//   SnapshotPtr s = runner.snapshot(Variant::Baseline);   // any thread, any time; never blocks on the worker
//
// An A/B request runs the baseline, then the guided variant. The baseline is reused when its inputs (and the
// analysed words) did not change, so moving a guidance slider re-runs only the guided side.
// The model is loaded on the worker and cached per directory.
//
// The Edit mode's runs (KV-Lock editing, edit_session.h) go through the same worker and model cache:
//   runner.submit_edit(edit_request);     // replaces anything queued (a generation too) and cancels the run in flight
//   EditSnapshotPtr e = runner.edit_snapshot();
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "app/session/edit_session.h"
#include "app/session/run_config.h"
#include "app/session/run_snapshot.h"

namespace focalscope {
struct ModelBundle;
}

namespace focalscope::session {

struct RunnerOptions {
  int torch_threads = 1;       // intra-op threads on the worker (leave the other core to the UI)
  int max_grid_columns = 10;   // sampled steps kept for the layer x step grid (Fig. 1)
  int worker_nice = 10;        // scheduling priority drop of the worker thread (0 = same as the UI)
};

class SessionRunner {
 public:
  explicit SessionRunner(RunnerOptions opt = {});
  ~SessionRunner();  // cancels and joins
  SessionRunner(const SessionRunner&) = delete;
  SessionRunner& operator=(const SessionRunner&) = delete;

  // Queues req (replacing anything queued) and cancels the run in flight. Returns the job id.
  uint64_t submit(RunRequest req);
  // An edit (source video + mask + prompt): like submit(), one queue for both kinds of job.
  uint64_t submit_edit(EditRunRequest req);
  void cancel();

  SnapshotPtr snapshot(Variant v) const;
  EditSnapshotPtr edit_snapshot() const;
  bool busy() const;                 // a job is queued or running
  uint64_t last_job() const;         // id of the last submitted job
  uint64_t finished_job() const;     // id of the last job that ran to its end (done, failed or cancelled)
  const RunnerOptions& options() const { return opt_; }

 private:
  void worker_loop();
  void run_job(const RunRequest& req, uint64_t job);
  // Returns false when cancelled or failed.
  bool run_variant(const RunRequest& req, Variant v, uint64_t job);
  void publish(Variant v, std::shared_ptr<RunSnapshot> s);
  void run_edit_job(const EditRunRequest& req, uint64_t job);  // edit_job.cpp
  void publish_edit(std::shared_ptr<EditSnapshot> s);
  // The model of `dir` with `loras` merged; reloaded when either changes (a LoRA is merged into the weights at load).
  // clip: a CLIP file for a Wan2.2 I2V-A14B folder (as the CLI's --clip); Error for any other model.
  ModelBundle* model_for(const std::string& dir, const std::vector<LoraEntry>& loras, const std::string& clip, std::string& resolved,
                         double& seconds);

  RunnerOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<RunRequest> pending_;
  std::optional<EditRunRequest> pending_edit_;  // at most one of pending_ / pending_edit_ is set
  uint64_t pending_id_ = 0, next_id_ = 1, last_job_ = 0, finished_job_ = 0;
  bool running_ = false, quit_ = false;
  std::atomic<bool> cancel_{false};
  SnapshotPtr slots_[kNumVariants];
  EditSnapshotPtr edit_slot_;

  // Worker-only state.
  std::string model_dir_;
  std::vector<LoraEntry> model_loras_;
  std::string model_clip_;
  std::unique_ptr<ModelBundle> model_;
  std::optional<RunRequest> baseline_key_;  // request whose baseline is in slot A (Done)
  double last_decode_s_ = 0;                // VAE decode time of the last run (ETA estimate)
  std::thread thread_;
};

// The model folder a run uses: dir, else the embedded default; Error with a clear message when neither exists.
std::string resolve_model_dir(const std::string& dir);

// The planted-weak-layer model that ships beside the embedded one: <default_model_dir()>/../shapes-planted
// (normalised); empty when the embedded model itself is not found. The folder may be absent: see has_model_manifest.
std::string planted_model_dir();
// The embedded MMDiT model (HunyuanVideo-I2V architecture) beside the embedded one: <default_model_dir()>/../shapes-mmdit
std::string mmdit_model_dir();
// dir/focalscope.json exists (a FocalScope model folder, cheap enough to call every second, not every frame).
bool has_model_manifest(const std::string& dir);

}  // namespace focalscope::session
