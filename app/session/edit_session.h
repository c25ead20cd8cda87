// The app's Edit mode (KV-Lock video editing, engine/guidance/guided_edit.h) as plain values: what the user edits
// (EditInputs), what goes to the worker (EditRunRequest) and what comes back (EditSnapshot, immutable, published after
// every stage and step like RunSnapshot). Torch-free, so the GUI reads it without ATen.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/session/run_config.h"
#include "app/session/run_snapshot.h"
#include "engine/pipeline/kv_lock_config.h"
#include "render/image.h"
#include "render/mask_io.h"

namespace focalscope::session {

struct EditInputs {
  std::string video_path;      // source video file or frame folder (the worker reads the frames the run needs)
  std::string mask_path;       // last mask file loaded ("" when the mask was only painted)
  std::string prompt;          // what the edited video shows
  std::string source_prompt;   // what the source shows ("" -> the edit prompt)
  std::string guidance = "kvlock";  // "off" (the plain edit) or a KV-Lock token (edit_guidance_tokens())
  bool compose_fg = false;     // "fg+<token>": Focal Guidance with the Focal Guidance pane's settings on top

  bool operator==(const EditInputs& o) const;
  bool operator!=(const EditInputs& o) const { return !(*this == o); }
};

// "off" then the engine's KV-Lock tokens (kvlock, kvlock-fixed, ...): the Edit mode's guidance combo.
const std::vector<std::string>& edit_guidance_tokens();
// One line per token for tooltips ("" for unknown ones).
const char* edit_guidance_help(const std::string& token);
// The engine's --guidance string for the inputs: "kvlock", "fg+kvlock-kv", "off", "fg" (plain edit + FG).
std::string edit_mode_string(const EditInputs& in);
// Parses "kvlock", "fg+kvlock", "off", "fg" into guidance + compose_fg; false (in unchanged) with a one-line error
// for anything else.
bool set_edit_guidance(EditInputs& in, const std::string& mode, std::string* error = nullptr);

nlohmann::json to_json(const EditInputs& in);
EditInputs edit_inputs_from_json(const nlohmann::json& j);  // missing keys keep defaults, wrong types are ignored

struct EditRunRequest {
  EditInputs edit;
  RunInputs sampling;          // seed, steps, CFG, frames, area, negative prompt, model folder (the Inputs pane's)
  GuidanceConfig fg;           // the Focal Guidance pane's settings, used when edit.compose_fg
  std::shared_ptr<const render::Mask> mask;  // at the source video's size; 1 frame (painted) or a mask video's frames
  std::string mask_name;       // for error messages: the mask file, or "the painted mask"
};

struct EditSnapshot {
  uint64_t job_id = 0;
  RunState state = RunState::Idle;
  std::string stage, error;    // error: one line (Error's "<file>: <problem>") when state == Failed
  EditInputs inputs;
  std::string mode;            // the engine's guidance mode that ran ("kvlock", "fg+kvlock", "off")
  std::string model_name;
  bool lock = false;           // the mode has the background K/V lock (alpha is meaningful)

  int steps_total = 0, steps_done = 0, frames_total = 0, fps = 16, width = 0, height = 0;
  double elapsed_s = 0, eta_s = 0;
  double mask_fraction = 0;    // of the run's pixels (all frames), as prepare_edit measured it

  // At the run's size: the source frames the edit is compared with, the edited video (Done), and the union of the
  // mask over frames (width * height, 0/1) with its outline as segments (x0, y0, x1, y1 in mask pixels).
  std::shared_ptr<const std::vector<render::Image>> source_frames, edit_frames;
  std::shared_ptr<const std::vector<uint8_t>> run_mask;
  std::shared_ptr<const std::vector<float>> mask_outline;

  // Background fidelity: the edit vs the source outside the mask, frames 1..N (frame 0 is the shared reference).
  double bg_psnr = NAN, bg_ssim = NAN;

  // KV-Lock: sigma2 per step as it samples (the curve the lock reads: inside the mask, else the whole latent), and
  // when done what each step did (alpha, the sigma2 it read), tau and the locked steps.
  std::vector<double> sigma2;
  std::vector<KvLockStep> kvlock;
  double tau = 0;
  bool tau_calibrated = false;
  int kappa = 0;
  std::vector<std::string> noops;  // switched-on parts that did nothing (run_edit's noops)

  double progress() const;     // 0..1 over load + sampling + decode
};
using EditSnapshotPtr = std::shared_ptr<const EditSnapshot>;

}  // namespace focalscope::session
