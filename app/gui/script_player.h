// Plays a parsed script (app/session/script.h) against the live app, a few commands per frame, so the window
// keeps rendering while it waits for runs.
#pragma once
#include <string>
#include <vector>

#include "app/gui/app_state.h"
#include "app/session/script.h"

namespace focalscope::gui {

class ScriptPlayer {
 public:
  explicit ScriptPlayer(std::vector<session::ScriptCommand> cmds, std::string name)
      : cmds_(std::move(cmds)), name_(std::move(name)) {}
  // Executes commands until one must wait for later frames. Call once per frame, before drawing.
  void step(AppState& st);
  bool finished() const { return pc_ >= cmds_.size() || failed_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }

 private:
  bool run(AppState& st, const session::ScriptCommand& c);  // false: call again next frame
  void fail(AppState& st, const session::ScriptCommand& c, const std::string& msg);

  std::vector<session::ScriptCommand> cmds_;
  std::string name_;
  size_t pc_ = 0;
  bool failed_ = false;
  std::string error_;
  double started_ = -1;   // when the current waiting command began
  int settle_ = 0;        // frames to keep drawing after a wait (texture uploads)
  int phase_ = 0;         // progress within the current command
};

// True when no run is queued or in flight and the grid has uploaded everything it can show.
bool app_settled(const AppState& st);

}  // namespace focalscope::gui
