// The app's visible state as JSON (pane rectangles, run states, selection), for headless tests that check a
// screenshot's pixels against where the panels are.
#pragma once
#include <string>

#include "app/gui/app_state.h"

namespace focalscope::gui {

// Throws Error naming the path when it cannot be written.
void write_state_json(const AppState& st, const std::string& path);

}  // namespace focalscope::gui
