// The Edit mode's actions: reading the source's first frame and mask files off the UI thread, submitting an edit to
// the session worker, and taking its latest snapshot each frame. Every failure ends as one line in st.edit.error.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "app/gui/app_state.h"
#include "app/session/edit_mask.h"
#include "render/mask_io.h"
#include "render/video_reader.h"

namespace focalscope::gui {

namespace {
template <typename T>
bool ready(const std::future<T>& f) {
  return f.valid() && f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

// The mask a newly shown reference gets: the current one when it still fits, else a blank one of its size.
void fit_mask_to_reference(EditState& e) {
  if (!e.reference) return;
  if (e.mask.width == e.reference->width && e.mask.height == e.reference->height && !e.mask.data.empty()) return;
  e.mask = session::blank_mask(e.reference->width, e.reference->height);
  e.mask_name = "the painted mask";
  e.mask_dirty = true;
}
}  // namespace

void set_edit_error(AppState& st, const std::string& msg) {
  st.edit.error = msg;
  st.error(msg);
}

bool edit_loading(const AppState& st) { return st.edit.video_pending.valid() || st.edit.mask_pending.valid(); }

void load_edit_video_async(AppState& st, const std::string& path) {
  if (path.empty()) {
    set_edit_error(st, "no source video: enter a video file or a folder of PNG/JPEG frames");
    return;
  }
  st.edit.video_pending_path = path;
  // Frame 0 only: it is what the user paints on; the worker reads the frames the model needs when the edit runs.
  st.edit.video_pending = std::async(std::launch::async, [path]() -> std::shared_ptr<const render::Image> {
    render::VideoReadLimits lim;
    lim.want_frames = 1;
    auto frames = render::read_video(path, lim);
    return std::make_shared<render::Image>(std::move(frames.front()));
  });
}

void load_edit_mask_async(AppState& st, const std::string& path) {
  if (path.empty()) {
    set_edit_error(st, "no mask file: enter a PNG/JPEG, a mask video or a folder of mask frames");
    return;
  }
  st.edit.mask_pending_path = path;
  st.edit.mask_pending = std::async(std::launch::async, [path]() {
    render::VideoReadLimits lim;
    lim.max_frames = 1025;  // the longest run Wan makes (1 + 4k frames); more is never used
    return render::read_mask(path, lim);
  });
}

void poll_edit(AppState& st) {
  EditState& e = st.edit;
  if (ready(e.video_pending)) {
    try {
      e.reference = e.video_pending.get();
      e.error.clear();
      st.info("edit source " + e.video_pending_path + " (" + std::to_string(e.reference->width) + "x" +
              std::to_string(e.reference->height) + ")");
    } catch (const std::exception& ex) {
      e.reference.reset();
      set_edit_error(st, ex.what());
    }
    e.video_path = e.video_pending_path;
    e.video_pending_path.clear();
    e.ref_dirty = true;
    fit_mask_to_reference(e);
  }
  // A mask is checked against the source, so it waits for a video load in flight.
  if (!e.video_pending.valid() && ready(e.mask_pending)) {
    const std::string path = e.mask_pending_path;
    e.mask_pending_path.clear();
    try {
      render::Mask m = e.mask_pending.get();
      if (!e.reference) {
        set_edit_error(st, path + ": load the source video first (the mask must match its size)");
      } else if (std::string err = session::mask_size_error(m, e.reference->width, e.reference->height, path, e.video_path);
                 !err.empty()) {
        set_edit_error(st, err);
      } else {
        e.mask = std::move(m);
        e.mask_name = path;
        e.mask_dirty = true;
        e.error.clear();
        char msg[96];
        std::snprintf(msg, sizeof msg, " (%d frame%s, %.1f%% marked)", e.mask.frames, e.mask.frames == 1 ? "" : "s",
                      100 * session::mask_fraction(e.mask));
        st.info("edit mask " + path + msg);
      }
    } catch (const std::exception& ex) {
      set_edit_error(st, ex.what());
    }
  }
  if (e.run_after_load && !edit_loading(st)) {
    e.run_after_load = false;
    submit_edit(st);
  }

  if (!st.runner) return;
  auto s = st.runner->edit_snapshot();
  if (s && s != e.snap) {
    const bool was = e.snap && e.snap->job_id == s->job_id;
    if (s->state == session::RunState::Failed && !(was && e.snap->state == session::RunState::Failed))
      set_edit_error(st, s->error);
    if (s->state == session::RunState::Done && !(was && e.snap->state == session::RunState::Done)) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "edit finished (%s): %d frames, background PSNR %.2f dB, SSIM %.4f", s->mode.c_str(),
                    s->frames_total, s->bg_psnr, s->bg_ssim);
      st.info(msg);
      for (const auto& w : s->noops) st.error("edit: " + w);
      e.video.frame = 0;
      e.video.clock = 0;
    }
  }
  e.snap = s;
  if (s && s->state == session::RunState::Done) e.done = s;
}

void submit_edit(AppState& st) {
  if (!st.runner) return;
  EditState& e = st.edit;
  const auto& in = st.settings.edit;
  // A changed path field is loaded first (off this thread); the run starts when it arrives (poll_edit).
  if (in.video_path != e.video_path && in.video_path != e.video_pending_path && !e.video_pending.valid())
    load_edit_video_async(st, in.video_path);
  if (edit_loading(st)) {
    e.run_after_load = true;
    return;
  }
  if (!e.reference) {
    set_edit_error(st, e.error.empty() ? "no source video: enter a video file or a folder of frames, then Load" : e.error);
    return;
  }
  session::EditRunRequest req;
  req.edit = in;
  req.sampling = st.settings.inputs;
  req.fg = st.settings.guidance;
  if (!e.mask.data.empty()) req.mask = std::make_shared<render::Mask>(e.mask);
  req.mask_name = e.mask_name;
  e.error.clear();
  st.runner->submit_edit(std::move(req));
}

}  // namespace focalscope::gui
