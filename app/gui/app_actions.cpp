// AppState helpers and the run actions: loading the reference image off the UI thread, presets, submitting
// runs and the debounced auto re-run.
#include <imgui.h>

#include <algorithm>
#include <cstdio>

#include "app/gui/app_state.h"
#include "engine/core/error.h"
#include "render/image.h"

namespace focalscope::gui {

using session::RunSnapshot;
using session::Variant;

void AppState::info(const std::string& s) {
  log.push_back({s, false, now});
  std::fprintf(stderr, "[gui] %s\n", s.c_str());
  while (log.size() > 200) log.pop_front();
}

void AppState::error(const std::string& s) {
  log.push_back({s, true, now});
  std::fprintf(stderr, "[gui] error: %s\n", s.c_str());
  while (log.size() > 200) log.pop_front();
}

const RunSnapshot* AppState::view_snapshot() const {
  const int v = std::clamp(view_variant, 0, session::kNumVariants - 1);
  const RunSnapshot* live = snap[v].get();
  if (live && (!live->steps.empty() || live->state == session::RunState::Done)) return live;
  if (done[v] && live && session::is_active(live->state)) return done[v].get();  // old results until new ones arrive
  return live;
}

int AppState::keyword_slot(const RunSnapshot& s) const {
  if (s.capture_keywords.empty()) return -1;
  if (!keyword.empty()) {
    int k = s.map_slot(keyword);
    if (k >= 0) return k;
  }
  return 0;
}

std::vector<int> AppState::weak_layers_for(const RunSnapshot& s) const {
  if (s.guidance_applied && !s.guidance_weak_layers.empty()) return s.guidance_weak_layers;
  if (settings.guidance.weak_override) return settings.guidance.weak_layers;
  if (!s.model_weak_layers.empty()) return s.model_weak_layers;
  return s.weak_layers;
}

bool AppState::busy() const { return runner && runner->busy(); }

void load_image_async(AppState& st, const std::string& path) {
  if (path.empty()) {
    st.image.pixels.reset();
    st.image.error = "no reference image: enter a PNG/JPEG path or drop a file on the window";
    st.image.path.clear();
    st.image.thumb_dirty = true;
    return;
  }
  if (path.rfind("bench:", 0) == 0) {  // a preset regenerated in memory
    for (size_t i = 0; i < st.presets.size(); ++i)
      if (st.presets[i].image_path == path) {
        st.image.path = path;
        st.image.pixels = st.presets[i].image;
        st.image.error.clear();
        st.image.thumb_dirty = true;
        return;
      }
  }
  st.image.pending_path = path;
  st.image.pending = std::async(std::launch::async, [path]() -> std::shared_ptr<const render::Image> {
    return std::make_shared<render::Image>(render::load_image(path, 3));
  });
}

void poll_image(AppState& st) {
  if (!st.image.pending.valid()) return;
  if (st.image.pending.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  try {
    st.image.pixels = st.image.pending.get();
    st.image.error.clear();
    st.info("reference image " + st.image.pending_path + " (" + std::to_string(st.image.pixels->width) + "x" +
            std::to_string(st.image.pixels->height) + ")");
  } catch (const std::exception& e) {
    st.image.pixels.reset();
    st.image.error = e.what();
    st.error(e.what());
  }
  st.image.path = st.image.pending_path;
  st.image.pending_path.clear();
  st.image.thumb_dirty = true;
  if (st.run_after_image) {
    st.run_after_image = false;
    submit_run(st);
  }
}

void apply_preset(AppState& st, int index) {
  if (index < 0 || index >= static_cast<int>(st.presets.size())) {
    st.error("preset " + std::to_string(index) + " does not exist (" + std::to_string(st.presets.size()) + " presets)");
    return;
  }
  const auto& p = st.presets[index];
  st.preset = index;
  st.settings.inputs.prompt = p.prompt;
  st.settings.inputs.image_path = p.image_path;
  st.image.path = p.image_path;
  st.image.pixels = p.image;
  st.image.error.clear();
  st.image.thumb_dirty = true;
  st.keyword.clear();
  st.analyze_words.clear();
  st.info("preset " + p.id + ": " + p.prompt);
}

void submit_run(AppState& st) {
  if (!st.runner) return;
  // The image field may have changed without being loaded yet: load it first (off this thread) and submit when
  // it arrives (poll_image), so the frame never waits on file I/O.
  if (st.settings.inputs.image_path != st.image.path && !st.image.pending.valid() &&
      st.settings.inputs.image_path != st.image.pending_path)
    load_image_async(st, st.settings.inputs.image_path);
  if (st.image.pending.valid()) {
    st.run_after_image = true;
    return;
  }
  session::RunRequest req;
  req.inputs = st.settings.inputs;
  req.guidance = st.settings.guidance;
  req.image = st.image.pixels;
  req.ab = st.settings.view.ab;
  req.guided = st.settings.guidance.enabled();
  req.analyze_words = st.analyze_words;
  st.runner->submit(req);
  st.submitted_once = true;
  st.submitted_inputs = req.inputs;
  st.submitted_guidance = req.guidance;
  st.submitted_words = req.analyze_words;
  st.submitted_ab = req.ab;
  st.dirty_since = -1;
  if (!req.ab) st.view_variant = req.guided ? 1 : 0;
}

void maybe_auto_run(AppState& st) {
  // The Edit mode runs only when asked: a generate run started here would cancel the edit in flight.
  if (st.settings.view.edit_mode) return;
  const bool changed = !st.submitted_once || st.settings.inputs != st.submitted_inputs ||
                       st.settings.guidance != st.submitted_guidance || st.analyze_words != st.submitted_words ||
                       st.settings.view.ab != st.submitted_ab;
  if (!changed) {
    st.dirty_since = -1;
    return;
  }
  if (!st.settings.view.auto_run) return;
  if (st.dirty_since < 0) st.dirty_since = st.now;
  // Debounce: wait until the user lets go of a slider / stops typing for a moment.
  if (ImGui::IsAnyItemActive() || st.now - st.dirty_since < 0.35) return;
  if (!st.submitted_once && !st.image.pixels && !st.image.pending.valid() && st.settings.inputs.image_path.empty())
    return;  // nothing to run yet: wait for an image instead of reporting an error at startup
  submit_run(st);
}

void grab_snapshots(AppState& st) {
  if (!st.runner) return;
  for (int v = 0; v < session::kNumVariants; ++v) {
    auto s = st.runner->snapshot(static_cast<Variant>(v));
    if (s != st.snap[v] && s) {
      if (s->state == session::RunState::Failed && (!st.snap[v] || st.snap[v]->state != session::RunState::Failed ||
                                                    st.snap[v]->job_id != s->job_id))
        st.error(std::string(session::variant_name(s->variant)) + ": " + s->error);
      if (s->state == session::RunState::Done && (!st.snap[v] || st.snap[v]->state != session::RunState::Done))
        st.info(std::string(session::variant_name(s->variant)) + " run finished: " + std::to_string(s->steps_total) +
                " steps, " + std::to_string(s->frames ? s->frames->size() : 0) + " frames");
    }
    st.snap[v] = s;
    if (s && s->state == session::RunState::Done) st.done[v] = s;
  }
}

void set_keyword(AppState& st, const std::string& word) {
  st.keyword = word;
  const RunSnapshot* s = st.view_snapshot();
  if (s && s->map_slot(word) >= 0) return;
  if (std::find(st.analyze_words.begin(), st.analyze_words.end(), word) == st.analyze_words.end())
    st.analyze_words.push_back(word);
  // maybe_auto_run picks the change up (or the Run button, with auto-run off).
}

bool load_ablation(AppState& st, const std::string& path) {
  st.ablation.path_edit = path;
  try {
    auto r = std::make_shared<session::AblationResult>(session::load_ablation(path));
    st.ablation.result = r;
    st.ablation.error.clear();
    st.info("ablation " + r->path + ": " + std::to_string(r->layers.size()) + " layers (" + std::to_string(r->layers.front().layer) +
            "-" + std::to_string(r->max_layer()) + ")" + (r->model_name.empty() ? "" : ", model " + r->model_name));
    return true;
  } catch (const std::exception& e) {
    // A bad file replaces the overlay: a stale curve next to an error would read as the new file's.
    st.ablation.result.reset();
    st.ablation.error = e.what();
    st.error(e.what());
    return false;
  }
}

bool load_compare(AppState& st, const std::string& path) {
  st.compare.path_edit = path;
  try {
    auto r = std::make_shared<session::AnalyzeCurves>(session::load_analyze_curves(path));
    st.compare.result = r;
    st.compare.error.clear();
    st.info("compare " + r->path + ": " + std::to_string(r->num_layers()) + " layers of " +
            (r->model_name.empty() ? std::string("(model not recorded)") : r->model_name) + ", " +
            std::to_string(r->samples) + " samples");
    return true;
  } catch (const std::exception& e) {
    st.compare.result.reset();
    st.compare.error = e.what();
    st.error(e.what());
    return false;
  }
}

void refresh_planted_model(AppState& st) {
  if (st.now - st.planted_checked < 2.0) return;
  st.planted_checked = st.now;
  st.planted_dir = session::planted_model_dir();
  st.planted_ok = session::has_model_manifest(st.planted_dir);
  st.mmdit_dir = session::mmdit_model_dir();
  st.mmdit_ok = session::has_model_manifest(st.mmdit_dir);
}

}  // namespace focalscope::gui
