#include "app/gui/script_player.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "app/gui/panels.h"
#include "app/gui/state_dump.h"
#include "app/session/edit_mask.h"

namespace focalscope::gui {

bool app_settled(const AppState& st) {
  if (!st.runner || st.runner->busy()) return false;
  if (st.runner->finished_job() < st.runner->last_job()) return false;
  if (st.image.pending.valid() || st.run_after_image || st.export_task.valid()) return false;
  if (edit_loading(st) || st.edit.run_after_load) return false;
  return true;
}

void ScriptPlayer::fail(AppState& st, const session::ScriptCommand& c, const std::string& msg) {
  failed_ = true;
  error_ = name_ + ":" + std::to_string(c.line) + ": " + msg;
  st.error("script: " + error_);
}

void ScriptPlayer::step(AppState& st) {
  for (int guard = 0; guard < 64 && !finished(); ++guard) {
    const auto& c = cmds_[pc_];
    if (started_ < 0) started_ = st.now;
    if (!run(st, c)) return;
    started_ = -1;
    phase_ = 0;
    ++pc_;
  }
}

bool ScriptPlayer::run(AppState& st, const session::ScriptCommand& c) {
  auto& in = st.settings.inputs;
  auto& g = st.settings.guidance;
  const std::string& v = c.verb;
  const bool on = !c.args.empty() && c.args[0] == "on";
  if (v == "model") {
    if (c.rest == "planted" || c.rest == "mmdit") {
      const bool planted = c.rest == "planted";
      const std::string dir = planted ? session::planted_model_dir() : session::mmdit_model_dir();
      const std::string name = planted ? "shapes-planted" : "shapes-mmdit";
      if (!session::has_model_manifest(dir)) {
        fail(st, c, "model " + c.rest + ": " + (dir.empty() ? "the embedded model was not found, so neither was its sibling " + name
                                                            : dir + " has no focalscope.json (" + name + " is not installed)"));
        return true;
      }
      in.model_dir = dir;
    } else {
      in.model_dir = c.rest == "default" ? "" : c.rest;
    }
  } else if (v == "clip") {
    in.clip_file = c.rest == "none" ? "" : c.rest;
  } else if (v == "lora") {
    if (c.rest == "clear") {
      in.loras.clear();
    } else {
      session::LoraEntry l;
      l.path = c.args.at(0);
      if (c.args.size() > 1) {
        char* end = nullptr;
        l.strength = std::strtod(c.args[1].c_str(), &end);
        if (!end || *end || !std::isfinite(l.strength) || std::fabs(l.strength) > 10) {
          fail(st, c, "lora: strength '" + c.args[1] + "' is not a number in [-10, 10]");
          return true;
        }
      }
      in.loras.push_back(l);
    }
  } else if (v == "image") {
    in.image_path = c.rest;
    load_image_async(st, c.rest);
  } else if (v == "preset") {
    apply_preset(st, static_cast<int>(c.number));
  } else if (v == "prompt") {
    in.prompt = c.rest;
  } else if (v == "negative") {
    in.negative_prompt = c.rest;
  } else if (v == "seed") {
    in.seed = static_cast<int64_t>(c.number);
  } else if (v == "steps") {
    in.steps = static_cast<int>(c.number);
  } else if (v == "cfg") {
    in.cfg = c.number;
  } else if (v == "frames") {
    in.frames = static_cast<int>(c.number);
  } else if (v == "max_area") {
    in.max_area = static_cast<long long>(c.number);
  } else if (v == "fg") {
    g.fsg = g.ac = on;
  } else if (v == "dyncfg") {
    g.dyncfg = on;
  } else if (v == "fsg") {
    g.fsg = on;
  } else if (v == "ac") {
    g.ac = on;
  } else if (v == "ab") {
    st.settings.view.ab = on;
  } else if (v == "auto") {
    st.settings.view.auto_run = on;
  } else if (v == "set") {
    std::string err;
    if (!session::set_guidance_param(g, c.args[0], c.args[1], &err)) fail(st, c, err);  // parse_script checked it
  } else if (v == "load_compare") {
    load_compare(st, c.rest);  // a bad file is shown in the curves panel and logged
  } else if (v == "load_ablation") {
    load_ablation(st, c.rest);  // a bad file is shown in the curves panel and logged, like a bad image
  } else if (v == "weak") {
    if (c.rest == "auto") {
      g.weak_override = false;
      g.weak_layers.clear();
    } else {
      g.weak_override = true;
      g.weak_layers.clear();
      std::stringstream ss(c.rest);
      for (std::string item; std::getline(ss, item, ',');) {
        try {
          g.weak_layers.push_back(std::stoi(item));
        } catch (const std::exception&) {
          fail(st, c, "weak: '" + item + "' is not a layer index");
          return true;
        }
      }
    }
  } else if (v == "guide") {
    if (c.rest == "auto") g.guided_words.clear();
    else if (std::find(g.guided_words.begin(), g.guided_words.end(), c.rest) == g.guided_words.end())
      g.guided_words.push_back(c.rest);
  } else if (v == "keyword") {
    set_keyword(st, c.rest);
  } else if (v == "generate") {
    submit_run(st);
  } else if (v == "wait") {
    if (st.now - started_ > c.number) {
      fail(st, c, "timed out after " + std::to_string(c.number) + " s waiting for the run");
      return true;
    }
    if (!app_settled(st)) {
      settle_ = 4;  // after the run ends, draw a few frames so the grid uploads its cells
      return false;
    }
    if (settle_-- > 0) return false;
  } else if (v == "cell") {
    st.large.layer = std::stoi(c.args[0]);
    st.large.column = std::stoi(c.args[1]);
    st.large.follow_latest = false;
  } else if (v == "frame") {
    st.large.frame = st.video.frame = st.edit.video.frame = static_cast<int>(c.number);
  } else if (v == "pass") {
    st.pass = c.args[0] == "uncond" ? session::PassKind::Uncond : session::PassKind::Cond;
  } else if (v == "hallucination") {
    st.large_tab_request = on ? 1 : 0;
    st.settings.view.show_hallucination = on;
  } else if (v == "opacity") {
    st.settings.view.overlay_opacity = static_cast<float>(c.number);
  } else if (v == "play") {
    st.video.playing = st.edit.video.playing = true;
  } else if (v == "pause") {
    st.video.playing = st.edit.video.playing = false;
  } else if (v == "sleep") {
    if (st.now - started_ < c.number) return false;
  } else if (v == "screenshot") {
    // Phase 0: draw one frame of the state the script set up; 1: request the capture; 2: wait until written.
    if (phase_ == 0) return ++phase_, false;
    if (phase_ == 1) {
      st.screenshot_request = c.rest;
      return ++phase_, false;
    }
    if (!st.screenshot_request.empty()) return false;
  } else if (v == "export") {
    if (phase_ == 0) {
      st.export_dir = c.rest;
      start_export_all(st);
      return ++phase_, false;
    }
    if (st.export_task.valid()) return false;
    if (!st.log.empty() && st.log.back().error) {
      fail(st, c, "export failed: " + st.log.back().text);
      return true;
    }
  } else if (v == "expect_done") {
    const bool need_b = st.settings.guidance.enabled();  // with FG off, A/B runs the baseline only
    for (int i = 0; i < 2; ++i) {
      if (i == 1 && !need_b) continue;
      const auto& s = st.snap[i];
      if (!s || s->state != session::RunState::Done) {
        fail(st, c, std::string("expected the ") + session::variant_name(static_cast<session::Variant>(i)) +
                        " run to be done, it is " + (s ? session::run_state_name(s->state) : "missing") +
                        (s && !s->error.empty() ? " (" + s->error + ")" : ""));
        return true;
      }
    }
  } else if (v == "mouse" || v == "click") {
    st.mouse_override = true;
    st.mouse_x = std::stof(c.args[0]);
    st.mouse_y = std::stof(c.args[1]);
    if (v == "click") {
      // Frame 1: move there (hover); frames 2-3: button down; then up (ImGui sees a click on release).
      if (phase_ == 0) return ++phase_, false;
      if (phase_ == 1) {
        st.click_frames = 2;
        return ++phase_, false;
      }
      if (st.click_frames > 0) return false;
      if (phase_ == 2) return ++phase_, false;
    }
  } else if (v == "dump_state") {
    if (phase_ == 0) return ++phase_, false;  // rectangles of a frame drawn with the script's latest settings
    try {
      write_state_json(st, c.rest);
    } catch (const std::exception& e) {
      fail(st, c, e.what());
    }
  } else if (v == "mode") {
    st.settings.view.edit_mode = c.args[0] == "edit";
  } else if (v == "edit_video") {
    st.settings.edit.video_path = c.rest;
    load_edit_video_async(st, c.rest);
  } else if (v == "edit_mask") {
    st.settings.edit.mask_path = c.rest;
    load_edit_mask_async(st, c.rest);  // a bad file or size shows the Edit mode's one-line error, like a bad image
  } else if (v == "brush" || v == "erase" || v == "mask_clear" || v == "mask_invert") {
    if (edit_loading(st)) return false;  // the mask exists once the video (and a mask file) arrived
    EditState& e = st.edit;
    if (!e.reference || e.mask.data.empty()) {
      fail(st, c, v + ": no source video is loaded (edit_video PATH first)");
      return true;
    }
    if (v == "mask_clear") session::clear_mask(e.mask);
    else if (v == "mask_invert") session::invert_mask(e.mask);
    else session::paint_disc(e.mask, std::stof(c.args[0]), std::stof(c.args[1]), static_cast<float>(c.number), v == "brush");
    e.mask_dirty = true;
  } else if (v == "edit_prompt") {
    st.settings.edit.prompt = c.rest;
  } else if (v == "edit_source_prompt") {
    st.settings.edit.source_prompt = c.rest;
  } else if (v == "edit_guidance") {
    session::set_edit_guidance(st.settings.edit, c.args[0]);  // parse_script checked it
  } else if (v == "edit_fg") {
    st.settings.edit.compose_fg = on;
  } else if (v == "edit_run") {
    submit_edit(st);
  } else if (v == "expect_edit_done") {
    const auto& s = st.edit.snap;
    if (!s || s->state != session::RunState::Done) {
      fail(st, c, std::string("expected the edit to be done, it is ") + (s ? session::run_state_name(s->state) : "missing") +
                      (s && !s->error.empty() ? " (" + s->error + ")" : ""));
      return true;
    }
  } else if (v == "expect_edit_error") {
    if (st.edit.error.find(c.rest) == std::string::npos) {
      fail(st, c, "expected an Edit mode error containing '" + c.rest + "', the error is '" + st.edit.error + "'");
      return true;
    }
  } else if (v == "mouse_off") {
    st.mouse_override = true;
    st.mouse_x = st.mouse_y = -1;
  } else if (v == "quit") {
    st.want_quit = true;
  }
  return true;
}

}  // namespace focalscope::gui
