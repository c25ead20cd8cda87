// Playback shared by the Video A/B pane and the Edit mode's source | edit pair: one clock advanced by the frame
// loop's dt (so speed does not depend on the UI frame rate), the controls row, and a frame texture that is
// re-uploaded only when what it shows changes.
#pragma once
#include <string>
#include <vector>

#include "app/gui/app_state.h"

namespace focalscope::gui {

// Advances vs.frame at fps over nframes (wrapping when loop, else stopping at the end); clamps it to the range.
void advance_playback(VideoState& vs, int nframes, int fps, bool loop);
// Play / Pause (Space while the pane has focus), loop, and a scrub slider filling the line up to `reserve` pixels.
void playback_controls(VideoState& vs, int nframes, bool* loop, float reserve = 0);
// Uploads frames[f] into vs.tex[slot] unless it already holds `key` (e.g. "<job>/<frame>").
void show_frame(VideoState& vs, int slot, const std::string& key, const render::Image& frame);

}  // namespace focalscope::gui
