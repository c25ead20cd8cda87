// Command-line options of the desktop app (`focalscope`, `focalscope gui`).
#pragma once
#include <string>
#include <vector>

namespace focalscope::gui {

struct AppOptions {
  bool demo = false;          // large fonts, benchmark presets, automatic A/B
  std::string script;         // scripted session file
  std::string screenshot;     // save the window as PNG when the demo's first A/B / the script is done
  bool exit_after = false;    // quit once that screenshot is written (or the script ends)
  bool stats = false;         // print measured frame rates (while generating / idle) on exit
  bool fresh = false;         // ignore (and do not overwrite) saved settings and window layout
  std::string model_dir;      // overrides the saved model folder
  std::string image, prompt;  // override the saved inputs
  int threads = 1;            // torch threads on the worker
  int width = 0, height = 0;  // window size (0: saved / 1600x1000)
  double timeout_s = 0;       // with exit_after: give up (exit 1) after this long; 0 = 900 s
};

// Parses argv (after the program name / "gui"). Throws Error on bad options. `help` is set for --help.
AppOptions parse_app_options(const std::vector<std::string>& argv, bool& help);
const char* app_usage();

// Opens the window and runs until it is closed (or the script / demo says exit). Returns the exit code.
int run_app(const AppOptions& opt);

}  // namespace focalscope::gui
