// `focalscope gui [options]` (also `focalscope` with no subcommand, or with options only): the desktop app.
// Compiled into the executable itself (not the focalscope_gui library) so its registration is never dropped.
#include <cstdio>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/gui/app_options.h"
#include "app/session/script.h"
#include "engine/core/error.h"

namespace focalscope::gui {

const char* app_usage() {
  return "usage: focalscope [gui] [options]\n\n"
         "Opens the FocalScope desktop app (Dear ImGui + GLFW + OpenGL 3) on the embedded default model.\n\n"
         "  --demo              talk mode: large fonts, benchmark preset prompts, automatic A/B\n"
         "  --script FILE       play a scripted session (see app/session/script.h for the commands)\n"
         "  --screenshot PNG    save the window when the demo's first A/B / the script is done\n"
         "  --exit-after        quit after that (headless tests: run under xvfb-run)\n"
         "  --stats             print measured frame rates (while generating / idle) on exit\n"
         "  --fresh             ignore saved settings and window layout, and do not save them\n"
         "  --model-dir DIR     model folder (default: the embedded model, or the saved choice)\n"
         "  --image PNG         reference image\n"
         "  --prompt TEXT       prompt\n"
         "  --threads N         torch threads of the generation worker (default 1: the UI keeps a core)\n"
         "  --size WxH          window size (default: saved, else 1600x1000)\n"
         "  --timeout S         with --exit-after: give up after S seconds (default 900)\n\n"
         "Settings and layout persist in $FOCALSCOPE_CONFIG_DIR (default ~/.config/focalscope).\n";
}

AppOptions parse_app_options(const std::vector<std::string>& argv, bool& help) {
  cli::Args a(argv, {"script", "screenshot", "model-dir", "image", "prompt", "threads", "size", "timeout"},
              {"demo", "exit-after", "stats", "fresh", "help"});
  help = a.flag("help");
  if (!a.positional().empty()) fail(a.positional()[0], "unexpected argument (see focalscope gui --help)");
  AppOptions o;
  o.demo = a.flag("demo");
  o.script = a.str("script");
  o.screenshot = a.str("screenshot");
  o.exit_after = a.flag("exit-after");
  o.stats = a.flag("stats");
  o.fresh = a.flag("fresh");
  o.model_dir = a.str("model-dir");
  o.image = a.str("image");
  o.prompt = a.str("prompt");
  o.threads = static_cast<int>(a.integer("threads", 1, 1, 256));
  o.timeout_s = a.number("timeout", 0, 1, 86400);
  if (a.has("size")) {
    int w = 0, h = 0;
    if (std::sscanf(a.str("size").c_str(), "%dx%d", &w, &h) != 2 || w < 640 || h < 480 || w > 8192 || h > 8192)
      fail("--size", "'" + a.str("size") + "' is not WxH (640x480 .. 8192x8192)");
    o.width = w;
    o.height = h;
  }
  if (o.demo && !o.script.empty()) fail("--demo", "cannot be combined with --script");
  // The script is read and checked now, before a window (or a display) is needed: a missing, directory, oversized or
  // malformed script is one error line naming it (file:line), not a window that does nothing.
  if (!o.script.empty()) (void)session::parse_script(o.script);
  return o;
}

int run_gui(const std::vector<std::string>& argv) {
  bool help = false;
  AppOptions o = parse_app_options(argv, help);
  if (help) {
    std::printf("%s", app_usage());
    return 0;
  }
  return run_app(o);
}

}  // namespace focalscope::gui

namespace {
int gui_command(const std::vector<std::string>& argv) { return focalscope::gui::run_gui(argv); }
}  // namespace
FOCALSCOPE_COMMAND("gui", "the desktop app (default when no command is given; --demo, --script, --help)", gui_command);
