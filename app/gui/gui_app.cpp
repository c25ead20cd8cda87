// The desktop app's main loop: GLFW window + OpenGL 3 context, Dear ImGui frame, panels, frame pacing,
// drag-and-drop, screenshots, `--stats`, the demo's automatic A/B and scripted sessions.
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>
#include <GLFW/glfw3.h>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include <time.h>

#include "app/gui/app_options.h"
#include "app/gui/app_state.h"
#include "app/gui/panels.h"
#include "app/gui/screenshot.h"
#include "app/gui/script_player.h"
#include "app/gui/theme.h"
#include "engine/core/error.h"

namespace focalscope::gui {

namespace {

AppState* g_state = nullptr;  // for GLFW callbacks (one window)
volatile std::sig_atomic_t g_quit_signal = 0;  // Ctrl-C / SIGTERM: leave the loop and save settings
void on_quit_signal(int) { g_quit_signal = 1; }

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void on_glfw_error(int code, const char* desc) { std::fprintf(stderr, "glfw error %d: %s\n", code, desc); }

void on_drop(GLFWwindow*, int count, const char** paths) {
  if (!g_state || count < 1 || !paths[0]) return;
  if (g_state->settings.view.edit_mode) {  // Edit mode: a dropped video or frame folder is the source
    g_state->settings.edit.video_path = paths[0];
    load_edit_video_async(*g_state, paths[0]);
    return;
  }
  g_state->settings.inputs.image_path = paths[0];
  load_image_async(*g_state, paths[0]);
}

GLFWwindow* open_window(const AppState& st, const char** glsl) {
  struct Try {
    int major, minor;
    bool core;
    const char* glsl;
  };
  const Try tries[] = {{3, 3, true, "#version 150"}, {3, 0, false, "#version 130"}};
  int w = st.opt.width > 0 ? st.opt.width : st.settings.window.width;
  int h = st.opt.height > 0 ? st.opt.height : st.settings.window.height;
  w = std::clamp(w, 640, 8192);
  h = std::clamp(h, 480, 8192);
  for (const Try& t : tries) {
    glfwDefaultWindowHints();
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, t.major);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, t.minor);
    if (t.core) {
      glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
      glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
    }
    glfwWindowHint(GLFW_MAXIMIZED, st.settings.window.maximized && st.opt.width <= 0 ? GLFW_TRUE : GLFW_FALSE);
    if (GLFWwindow* win = glfwCreateWindow(w, h, "FocalScope", nullptr, nullptr)) {
      *glsl = t.glsl;
      return win;
    }
  }
  return nullptr;
}

void remember_window(GLFWwindow* win, session::WindowSettings& ws) {
  ws.maximized = glfwGetWindowAttrib(win, GLFW_MAXIMIZED) == GLFW_TRUE;
  if (!ws.maximized) {
    glfwGetWindowSize(win, &ws.width, &ws.height);
    glfwGetWindowPos(win, &ws.x, &ws.y);
  }
}

void shortcuts(AppState& st) {
  const ImGuiIO& io = ImGui::GetIO();
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_R, false)) {
    if (st.settings.view.edit_mode) submit_edit(st);
    else submit_run(st);
  }
  if (io.KeyCtrl && ImGui::IsKeyPressed(GLFW_KEY_Q, false)) st.want_quit = true;
  if (!io.WantTextInput && ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false) && st.busy()) st.runner->cancel();
  if (ImGui::IsKeyPressed(GLFW_KEY_F12, false)) st.screenshot_request = st.export_dir + "/screenshot.png";
}

// Demo: presets from the benchmark, A/B on, the next preset after each finished A/B has played a while.
struct Demo {
  bool active = false;
  bool first_done = false;
  uint64_t first_job = 0;
  double done_at = -1;
  int settle = 0;
  bool shot_taken = false;

  void start(AppState& st) {
    active = true;
    st.settings.view.ab = true;
    st.settings.view.auto_run = true;
    st.video.playing = true;
    if (!st.presets.empty()) apply_preset(st, 0);
    if (st.image.pixels) {
      submit_run(st);
      first_job = st.runner->last_job();
    }
  }
  // Both sides finished (a failed side counts: its message is on screen) for `job` or later.
  bool ab_done(const AppState& st, uint64_t job) const {
    for (int v = 0; v < 2; ++v) {
      const auto& s = st.snap[v];
      if (!s || !(s->state == session::RunState::Done || s->state == session::RunState::Failed ||
                  (v == 1 && s->state == session::RunState::Idle && s->job_id > 0)))
        return false;
    }
    return st.snap[1]->job_id >= job && app_settled(st);
  }
  void step(AppState& st) {
    if (!active) return;
    if (!first_done && ab_done(st, first_job)) {
      first_done = true;
      done_at = st.now;
      settle = 6;
      st.info("demo: first A/B finished");
    }
    if (first_done && settle > 0) --settle;
    // Automatic A/B through the presets (not when the run is for a screenshot).
    if (first_done && st.opt.screenshot.empty() && !st.busy() && done_at > 0 && st.now - done_at > 12.0 &&
        !st.presets.empty()) {
      apply_preset(st, (st.preset + 1) % static_cast<int>(st.presets.size()));
      submit_run(st);
      done_at = -1;
    }
    if (first_done && done_at < 0 && ab_done(st, st.runner->last_job())) done_at = st.now;
  }
  bool ready_for_screenshot() const { return first_done && settle <= 0; }
};

}  // namespace

int run_app(const AppOptions& opt) {
  // Parse the script before opening anything: a bad script fails fast, naming the line.
  std::unique_ptr<ScriptPlayer> script;
  if (!opt.script.empty()) script = std::make_unique<ScriptPlayer>(session::parse_script(opt.script), opt.script);

  AppState st;
  st.opt = opt;
  const std::string cfg = session::config_dir();
  st.settings_path = (std::filesystem::path(cfg) / "settings.json").string();
  st.ini_path = (std::filesystem::path(cfg) / "imgui.ini").string();
  // Scripts and the demo are reproducible: they neither read nor write settings (nor the window layout).
  const bool persist = !opt.fresh && !script && !opt.demo;
  if (persist) {
    std::string warning;
    st.settings = session::load_settings(st.settings_path, &warning);
    if (!warning.empty()) st.error(warning);
  }
  if (!opt.model_dir.empty()) st.settings.inputs.model_dir = opt.model_dir;
  if (!opt.image.empty()) st.settings.inputs.image_path = opt.image;
  if (!opt.prompt.empty()) st.settings.inputs.prompt = opt.prompt;
  if (script) st.settings.view.auto_run = false;  // the script says when to generate
  if (script || opt.exit_after) st.mouse_override = true;  // no stray hover from wherever the pointer is

  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit())
    fail("display", "cannot initialise GLFW (no display? set DISPLAY, or run headless under xvfb-run -s '-screen 0 1600x1000x24')");
  const char* glsl = nullptr;
  GLFWwindow* win = open_window(st, &glsl);
  if (!win) {
    glfwTerminate();
    fail("display", "cannot create an OpenGL 3 window (the GL driver offers no 3.x context)");
  }
  if (st.settings.window.x >= 0 && st.settings.window.y >= 0 && opt.width <= 0 && persist)
    glfwSetWindowPos(win, st.settings.window.x, st.settings.window.y);
  glfwMakeContextCurrent(win);
  glfwSwapInterval(1);
  g_state = &st;
  glfwSetDropCallback(win, on_drop);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;
  if (persist) {
    std::error_code ec;
    std::filesystem::create_directories(cfg, ec);
    io.IniFilename = st.ini_path.c_str();
  }
  // Fonts are rasterised at the startup scale (crisp); later "UI scale" changes scale them relative to it.
  const float loaded_scale = std::clamp(st.settings.view.font_scale, 0.75f, 2.0f);
  apply_theme((opt.demo ? 1.3f : 1.0f) * loaded_scale);
  ImGui_ImplGlfw_InitForOpenGL(win, true);
  ImGui_ImplOpenGL3_Init(glsl);

  session::RunnerOptions ro;
  ro.torch_threads = std::max(1, opt.threads);
  st.runner = std::make_unique<session::SessionRunner>(ro);
  st.presets = session::demo_presets(2);
  if (!st.settings.inputs.image_path.empty()) {
    load_image_async(st, st.settings.inputs.image_path);
  } else if (!script && !opt.demo && st.settings.inputs.prompt.empty() && !st.presets.empty()) {
    apply_preset(st, 0);  // first start: something to look at right away (auto re-run starts it)
  }
  // The Edit mode's source from the settings (its painted mask is not kept between sessions).
  if (!st.settings.edit.video_path.empty()) load_edit_video_async(st, st.settings.edit.video_path);
  st.info(std::string("FocalScope ") + (opt.demo ? "demo" : script ? "script " + opt.script : "ready") +
          "; settings in " + cfg + (persist ? "" : " (not saved this session)"));

  Demo demo;
  if (opt.demo) demo.start(st);

  using Clock = std::chrono::steady_clock;
  const double frame_budget = 1.0 / 60.0;
  const double timeout = opt.timeout_s > 0 ? opt.timeout_s : 900.0;
  double last = glfwGetTime();
  double last_cpu_ms = 0;
  const bool profile = std::getenv("FOCALSCOPE_PROFILE_FRAMES") != nullptr;  // per-phase frame times to stderr
  double prof[3] = {0, 0, 0};
  int prof_n = 0;
  const double t_start = last;
  int frames_after_script = 0;
  int linger = 8;
  bool shot_for_exit = false;

  std::signal(SIGINT, on_quit_signal);
  std::signal(SIGTERM, on_quit_signal);
  while (!glfwWindowShouldClose(win) && !st.want_quit && !g_quit_signal) {
    const auto frame_start = Clock::now();
    const double cpu0 = thread_cpu_ms();
    // Power: with nothing moving (no run, no playing video, no script / demo / pending work), wait for input
    // instead of redrawing at 60 fps; after an event, draw a few frames so ImGui settles.
    const bool animating = st.busy() || opt.demo || opt.exit_after || (script && !script->finished()) ||
                           (st.video.playing && (st.done[0] || st.done[1])) || st.image.pending.valid() ||
                           st.export_task.valid() || st.run_after_image || !st.screenshot_request.empty() ||
                           st.dirty_since >= 0 || io.WantTextInput || edit_loading(st) || st.edit.run_after_load ||
                           (st.settings.view.edit_mode && st.edit.video.playing && st.edit.done);
    bool waited = false;
    if (!animating && linger <= 0) {
      const double t0 = glfwGetTime();
      glfwWaitEventsTimeout(0.25);
      waited = true;
      if (glfwGetTime() - t0 < 0.24) linger = 4;  // woken by an event
    } else {
      glfwPollEvents();
      if (linger > 0) --linger;
    }
    st.now = glfwGetTime();
    if (!waited) st.stats.add(st.now - last, st.busy(), last_cpu_ms);  // throttled idle frames are not counted
    last = st.now;

    poll_image(st);
    poll_edit(st);
    poll_exports(st);
    grab_snapshots(st);
    if (script) script->step(st);
    demo.step(st);
    maybe_auto_run(st);

    io.FontGlobalScale = std::clamp(st.settings.view.font_scale, 0.75f, 2.0f) / loaded_scale;
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    if (st.mouse_override) {
      io.MousePos = st.mouse_x < 0 ? ImVec2(-FLT_MAX, -FLT_MAX) : ImVec2(st.mouse_x, st.mouse_y);
      io.MouseDown[0] = st.click_frames > 0;
      if (st.click_frames > 0) --st.click_frames;
    }
    ImGui::NewFrame();
    shortcuts(st);
    for (float* r : {st.grid_rect, st.view_rect, st.video_rect[0], st.video_rect[1]}) std::fill(r, r + 4, 0.0f);
    // One mode's panes at a time; the other mode's keep no rectangle (state dumps, the overlap test in begin_pane).
    const bool edit_mode = st.settings.view.edit_mode;
    for (int p = 0; p < static_cast<int>(Pane::Count); ++p)
      if (is_edit_pane(static_cast<Pane>(p)) != edit_mode) std::fill(st.pane_rect[p], st.pane_rect[p] + 4, 0.0f);
    draw_menu_bar(st);
    if (edit_mode) {
      panel_edit_inputs(st);
      panel_edit_mask(st);
      panel_edit_result(st);
      panel_edit_lock(st);
    } else {
      panel_inputs(st);
      panel_guidance(st);
      panel_keywords(st);
      panel_grid(st);
      panel_curves(st);
      panel_large_view(st);
      panel_video(st);
      panel_export(st);
    }
    st.request_reset_layout = false;
    ImGui::Render();
    const auto t_built = Clock::now();

    int fbw, fbh;
    glfwGetFramebufferSize(win, &fbw, &fbh);
    glViewport(0, 0, fbw, fbh);
    const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];  // panes without overlap draw no background
    glClearColor(bg.x, bg.y, bg.z, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    const auto t_drawn = Clock::now();

    // Exit conditions for headless runs: the script finished / the demo's first A/B is on screen.
    if (opt.exit_after && !shot_for_exit) {
      bool ready = false;
      if (script) ready = script->finished() && ++frames_after_script > 3;
      else if (opt.demo) ready = demo.ready_for_screenshot();
      else ready = app_settled(st) && ++frames_after_script > 30;
      if (ready) {
        shot_for_exit = true;
        if (!opt.screenshot.empty()) st.screenshot_request = opt.screenshot;
      }
    } else if (!opt.exit_after && !opt.screenshot.empty() && !demo.shot_taken &&
               ((script && script->finished()) || (opt.demo && demo.ready_for_screenshot()))) {
      demo.shot_taken = true;
      st.screenshot_request = opt.screenshot;
    }
    if (!st.screenshot_request.empty()) {
      try {
        save_screenshot(st.screenshot_request, fbw, fbh);
        st.info("screenshot " + st.screenshot_request + " (" + std::to_string(fbw) + "x" + std::to_string(fbh) + ")");
      } catch (const std::exception& e) {
        st.error(e.what());
        if (opt.exit_after) st.exit_code = 1;
      }
      st.screenshot_request.clear();
    }
    glfwSwapBuffers(win);
    last_cpu_ms = thread_cpu_ms() - cpu0;
    if (profile) {
      const auto t_swapped = Clock::now();
      auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
      prof[0] += ms(frame_start, t_built);
      prof[1] += ms(t_built, t_drawn);
      prof[2] += ms(t_drawn, t_swapped);
      if (++prof_n == 60) {
        std::fprintf(stderr, "[profile] per frame: build %.2f ms, GL submit %.2f ms, screenshot+swap %.2f ms\n", prof[0] / prof_n,
                     prof[1] / prof_n, prof[2] / prof_n);
        prof[0] = prof[1] = prof[2] = 0;
        prof_n = 0;
      }
    }

    if (opt.exit_after && shot_for_exit) {
      if (script && script->failed()) st.exit_code = 1;
      break;
    }
    if (script && script->failed() && opt.exit_after) {
      st.exit_code = 1;
      break;
    }
    if (opt.exit_after && st.now - t_start > timeout) {
      st.error("gave up after " + std::to_string(static_cast<int>(timeout)) + " s (--exit-after)");
      st.exit_code = 1;
      break;
    }
    // Frame pacing: at most 60 fps so the UI never competes with the worker for more than it needs.
    const double spent = std::chrono::duration<double>(Clock::now() - frame_start).count();
    if (spent < frame_budget) std::this_thread::sleep_for(std::chrono::duration<double>(frame_budget - spent));
  }

  if (script && script->failed()) {
    std::fprintf(stderr, "error: %s\n", script->error().c_str());
    st.exit_code = 1;
  }
  remember_window(win, st.settings.window);
  st.runner.reset();  // cancels the run in flight and joins the worker
  if (st.export_task.valid()) st.export_task.wait();
  if (persist) {
    std::string err;
    if (!session::save_settings(st.settings_path, st.settings, &err)) std::fprintf(stderr, "warning: %s\n", err.c_str());
  }
  if (opt.stats) std::printf("%s", st.stats.report().c_str());

  // GL objects must go before the context.
  st.atlas = MapAtlas{};
  st.image.thumb.reset();
  st.large.frame_tex.reset();
  st.large.map_tex.reset();
  for (auto& t : st.video.tex) t.reset();
  for (auto& t : st.edit.video.tex) t.reset();
  st.edit.ref_tex.reset();
  st.edit.mask_tex.reset();
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(win);
  glfwTerminate();
  g_state = nullptr;
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  return g_quit_signal ? 130 : st.exit_code;
}

}  // namespace focalscope::gui
