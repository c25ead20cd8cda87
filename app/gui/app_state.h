// The GUI's state: what the panels edit (settings), what they show (the latest run snapshots, grabbed once
// per frame), the selection (keyword, cell, frame, pass) and the GL textures derived from snapshots.
// Panels are functions of AppState; only the main loop and the run actions change what is submitted.
#pragma once
#include <deque>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "app/gui/app_options.h"
#include "app/gui/frame_stats.h"
#include "app/gui/gl_texture.h"
#include "app/gui/map_atlas.h"
#include "app/session/ablation_file.h"
#include "app/session/analyze_file.h"
#include "app/session/demo_presets.h"
#include "app/session/edit_session.h"
#include "app/session/run_snapshot.h"
#include "app/session/session_runner.h"
#include "app/session/settings.h"

namespace focalscope::gui {

struct LogLine {
  std::string text;
  bool error = false;
  double time = 0;
};

struct ImageSlot {
  std::string path;                               // what the pixels came from
  std::shared_ptr<const render::Image> pixels;    // null: none / failed
  std::string error;
  std::future<std::shared_ptr<const render::Image>> pending;
  std::string pending_path;
  GlTexture thumb;
  bool thumb_dirty = false;
};

struct VideoState {
  int frame = 0;
  bool playing = true;
  double clock = 0;           // seconds into the current frame
  GlTexture tex[session::kNumVariants];
  std::string tex_key[session::kNumVariants];  // job/frame shown in tex
};

struct LargeViewState {
  int layer = -1, column = -1;  // selected grid cell (column: index into snapshot steps)
  int frame = 0;                // pixel frame shown by the large view and the grid
  bool follow_latest = true;    // keep the column on the newest finished step
  GlTexture frame_tex, map_tex;
  std::string frame_key, map_key;  // what the textures hold (re-uploaded when it changes)
};

// The Edit mode (KV-Lock video editing): the source's first frame to paint on, the mask being painted (a byte plane,
// edited on the UI thread; a run takes a copy), and the results' textures and playback. Files load off the UI thread.
struct EditState {
  std::string video_path;                            // whose frame 0 `reference` is
  std::shared_ptr<const render::Image> reference;    // source frame 0 (null: none, or the load failed)
  std::future<std::shared_ptr<const render::Image>> video_pending;
  std::string video_pending_path;
  render::Mask mask;                                 // at the reference's size; width 0: none yet
  std::string mask_name = "the painted mask";        // what errors call it (a loaded file's path, once loaded)
  std::future<render::Mask> mask_pending;
  std::string mask_pending_path;
  bool run_after_load = false;                       // Run was pressed while the video was still loading
  std::string error;                                 // the last load's or run's one-line error ("" after a good one)
  bool ref_dirty = false, mask_dirty = false;
  GlTexture ref_tex, mask_tex;
  bool stroke = false;                               // a brush stroke is in progress (from last_x, last_y)
  float last_x = 0, last_y = 0;
  session::EditSnapshotPtr snap, done;               // the latest edit snapshot, the last finished one
  VideoState video;                                  // source | edit playback (tex[0] source, tex[1] edit)
  bool show_outline = true;                          // the mask's outline over both videos
  float ref_rect[4] = {};                            // the reference image, the two videos, the alpha plot (x, y, w, h)
  float video_rect[2][4] = {};
  float plot_rect[4] = {};
};

// The layer curves with their bootstrap bands (session::layer_curves), kept until the snapshot, keyword or pass
// changes: the bootstrap costs about a millisecond, too much to redo every frame.
struct CurvesCache {
  uint64_t job = 0;
  int variant = -1, steps = -1, slot = -1, pass = -1;
  session::LayerCurves curves;
};

// A `focalscope ablate` result overlaid on the layer curves (read on the UI thread: one small JSON file).
struct AblationOverlay {
  std::string path_edit;                                   // the panel's text field
  std::shared_ptr<const session::AblationResult> result;   // null: none loaded
  std::string error;                                       // last load's one-line error ("" after a good load)
};

// Another model's (or run's) `focalscope analyze` curves drawn on the layer-curves charts, e.g. the embedded MMDiT's
// beside the Wan toy's live run.
struct CompareOverlay {
  std::string path_edit;
  std::shared_ptr<const session::AnalyzeCurves> result;
  std::string error;
};

struct AppState {
  AppOptions opt;
  session::AppSettings settings;
  std::string settings_path, ini_path;
  std::unique_ptr<session::SessionRunner> runner;

  ImageSlot image;
  std::string model_dir_edit;              // last folder typed in the Inputs panel (kept while "Embedded" is on)
  std::string planted_dir;                 // session::planted_model_dir(), and whether it holds a model (re-checked
  bool planted_ok = false;                 // every 2 s: a stat per frame is cheap, but there is no need)
  double planted_checked = -1e9;
  std::string lora_edit;                   // the Inputs pane's "add a LoRA" field
  std::string mmdit_dir;                   // session::mmdit_model_dir() and whether it holds a model (same refresh)
  bool mmdit_ok = false;
  std::vector<session::DemoPreset> presets;
  int preset = -1;

  // Snapshots of this frame, and the last finished one per variant (shown while a new run fills in).
  session::SnapshotPtr snap[session::kNumVariants];
  session::SnapshotPtr done[session::kNumVariants];

  // What was last submitted (auto-run compares against it).
  bool submitted_once = false;
  session::RunInputs submitted_inputs;
  session::GuidanceConfig submitted_guidance;
  std::vector<std::string> submitted_words;
  bool submitted_ab = true;
  bool run_after_image = false;            // Run was pressed while the image was still loading
  double dirty_since = -1;

  // Selection.
  std::string keyword;                     // analysed word ("" = first captured)
  std::vector<std::string> analyze_words;  // extra words to capture (chips clicked)
  int view_variant = 0;                    // grid / large view / curves show this variant
  session::PassKind pass = session::PassKind::Cond;
  LargeViewState large;
  int large_tab_request = -1;  // select a tab of the Large view pane next frame: 0 map, 1 hallucination (-1: none)
  int large_tab_shown = 0;     // the tab drawn last frame (for state dumps)
  CurvesCache curves_cache;
  AblationOverlay ablation;
  CompareOverlay compare;
  VideoState video;
  MapAtlas atlas;
  EditState edit;

  std::string export_dir = "focalscope_export";
  std::future<std::string> export_task;    // result message of a background export ("error: ..." on failure)

  std::deque<LogLine> log;
  std::string screenshot_request;          // saved after the next render
  // Scripted input: when mouse_override, ImGui sees the mouse at mouse_pos (or nowhere, if x < 0) instead of the
  // real pointer, so headless screenshots do not depend on where Xvfb left the pointer. click_frames > 0 holds
  // the left button down for that many frames.
  bool mouse_override = false;
  float mouse_x = -1, mouse_y = -1;
  int click_frames = 0;
  bool request_reset_layout = false;
  bool show_export = false;               // demo mode hides the Export pane unless asked for
  float pane_rect[16][4] = {};            // x, y, w, h of each pane's window this frame (Pane order; 0: not drawn)
  float grid_rect[4] = {};                // the grid's cells, the large view's image, the two videos (x, y, w, h)
  float view_rect[4] = {};
  float video_rect[2][4] = {};
  bool want_quit = false;
  int exit_code = 0;
  FrameStats stats;
  double now = 0;                          // glfwGetTime() of this frame

  // Helpers.
  void info(const std::string& s);
  void error(const std::string& s);
  // The snapshot the analysis panels show (current variant), preferring the live one when it has data.
  const session::RunSnapshot* view_snapshot() const;
  // Capture slot of the analysed keyword in s (-1 when none).
  int keyword_slot(const session::RunSnapshot& s) const;
  bool busy() const;
  // The semantic-weak layers to mark for s: the guided run's own set; else the user's edited set; else the
  // model's (manifest); else the set detected from s's maps.
  std::vector<int> weak_layers_for(const session::RunSnapshot& s) const;
};

// Run actions (app_actions.cpp).
void load_image_async(AppState& st, const std::string& path);
void poll_image(AppState& st);
void apply_preset(AppState& st, int index);
void submit_run(AppState& st);
void maybe_auto_run(AppState& st);       // re-runs when settings changed (debounced, not while dragging)
void grab_snapshots(AppState& st);
void set_keyword(AppState& st, const std::string& word);  // analyse a word (re-runs when it has no maps)
// Reads an ablate.json (or its folder) into st.ablation; on failure keeps the previous overlay off and sets the
// one-line error. Returns whether it loaded.
bool load_ablation(AppState& st, const std::string& path);
// Reads an analyze metrics.json (or its folder) into st.compare, the same way.
bool load_compare(AppState& st, const std::string& path);
// The planted model folder and whether it exists, refreshed at most every 2 s.
void refresh_planted_model(AppState& st);

// Edit mode actions (edit_actions.cpp). Loads run off the UI thread; poll_edit picks up what finished and the worker's
// latest edit snapshot. A mask file must match the source's size (else the one-line error, mask unchanged).
void load_edit_video_async(AppState& st, const std::string& path);
void load_edit_mask_async(AppState& st, const std::string& path);
void poll_edit(AppState& st);
void submit_edit(AppState& st);          // runs the edit on the session worker (loads the video first if needed)
void set_edit_error(AppState& st, const std::string& msg);  // shows and logs a one-line error
bool edit_loading(const AppState& st);   // a video or mask file is still being read

}  // namespace focalscope::gui
