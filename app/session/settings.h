// What the app remembers between runs: inputs, guidance, view options and the window geometry
// (<config dir>/settings.json; the ImGui window layout lives beside it in imgui.ini).
#pragma once
#include <string>

#include "app/session/edit_session.h"
#include "app/session/run_config.h"

namespace focalscope::session {

struct ViewSettings {
  bool auto_run = true;          // re-run when an input or a guidance setting changes
  bool ab = true;                // run baseline + guided side by side
  float overlay_opacity = 0.65f;
  int colormap = 0;              // render::Colormap
  bool shared_scale = true;      // grid cells share one colour scale
  bool loop = true;
  float font_scale = 1.0f;
  bool show_hallucination = false;  // overlay the hallucination map on the videos
  bool edit_mode = false;        // the Edit mode (KV-Lock video editing) instead of generate / analyze
  float brush_radius = 4.0f;     // Edit mode's mask brush, in source pixels
  float mask_color[4] = {1.0f, 0.2f, 0.55f, 0.45f};  // the painted mask's overlay (RGBA)
};

struct WindowSettings {
  int x = -1, y = -1;            // -1: let the window manager place it
  int width = 1600, height = 1000;
  bool maximized = false;
};

struct AppSettings {
  RunInputs inputs;
  GuidanceConfig guidance;
  EditInputs edit;               // the Edit mode's fields (the painted mask itself is not kept)
  ViewSettings view;
  WindowSettings window;
};

// $FOCALSCOPE_CONFIG_DIR, else $XDG_CONFIG_HOME/focalscope, else ~/.config/focalscope, else ./.focalscope.
std::string config_dir();

// Missing file: defaults. Unreadable or malformed: defaults, and `warning` says why (never throws).
AppSettings load_settings(const std::string& path, std::string* warning = nullptr);
// Creates the directory; returns false (and `error`) when the file cannot be written.
bool save_settings(const std::string& path, const AppSettings& s, std::string* error = nullptr);

}  // namespace focalscope::session
