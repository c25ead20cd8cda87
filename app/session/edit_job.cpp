// The Edit mode's runs on the session worker: read the source frames the model needs, check them against the mask,
// prepare_edit + run_edit (engine/guidance/guided_edit.h), and publish EditSnapshots after every stage and step: the
// source (at the run's size) and the mask outline as soon as they are known, sigma2 per step while it samples, the
// edit, alpha per step and the background fidelity when it is done. Every failure is one line in the snapshot.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

#include "analysis/edit_metrics.h"
#include "app/session/edit_mask.h"
#include "app/session/runner_util.h"
#include "app/session/session_runner.h"
#include "engine/core/error.h"
#include "engine/guidance/guided_edit.h"
#include "engine/pipeline/model_bundle.h"
#include "render/video_reader.h"

namespace focalscope::session {

namespace {
using Clock = std::chrono::steady_clock;

std::vector<shapes::RgbFrame> rgb_frames(const std::vector<render::Image>& frames) {
  std::vector<shapes::RgbFrame> out;
  for (const auto& im : frames) {
    shapes::RgbFrame f(im.width, im.height);
    std::memcpy(f.rgb.data(), im.pixels.data(), f.rgb.size());  // to_frames gives RGB8, 3 channels
    out.push_back(std::move(f));
  }
  return out;
}

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}
}  // namespace

void SessionRunner::run_edit_job(const EditRunRequest& req, uint64_t job) {
  auto cur = std::make_shared<EditSnapshot>();
  cur->job_id = job;
  cur->inputs = req.edit;
  cur->mode = edit_mode_string(req.edit);
  auto push = [&](RunState st, const std::string& stage) {
    cur->state = st;
    cur->stage = stage;
    publish_edit(std::make_shared<EditSnapshot>(*cur));
  };
  auto fail_with = [&](const std::string& msg) {
    cur->error = msg;
    push(RunState::Failed, "failed");
  };
  try {
    if (req.edit.video_path.empty()) return fail_with("no source video: enter a video file or a folder of frames, then Load");
    if (blank(req.edit.prompt)) return fail_with("the edit prompt is empty: describe what the edited video shows");
    if (!req.mask || req.mask->data.empty())
      return fail_with("no mask: paint the region to edit on the reference frame (left drag), or load a mask file");

    push(RunState::Loading, "load model");
    std::string dir;
    double load_s = 0;
    ModelBundle* m = model_for(req.sampling.model_dir, req.sampling.loras, req.sampling.clip_file, dir, load_s);
    cur->model_name = m->layout.variant;
    if (cancel_) return push(RunState::Cancelled, "cancelled");

    // Only the frames the model makes are decoded (as `focalscope edit` does); the UI showed frame 0 only.
    push(RunState::Loading, "read source video");
    const int frames = req.sampling.frames > 0 ? req.sampling.frames : m->defaults.frames;
    render::VideoReadLimits lim;
    lim.want_frames = frames;
    render::VideoInfo info;
    const auto src = render::read_video(req.edit.video_path, lim, &info);
    if (!info.warning.empty()) cur->noops.push_back(info.warning);
    if (static_cast<int>(src.size()) < frames)
      fail(req.edit.video_path, "has " + std::to_string(src.size()) + " frames; the model makes " + std::to_string(frames) +
                                    " (a shorter source cannot be edited; set fewer Frames under Inputs > Advanced)");
    const std::string size_err = mask_size_error(*req.mask, src.front().width, src.front().height, req.mask_name, req.edit.video_path);
    if (!size_err.empty()) return fail_with(size_err);

    EditRequest er;
    std::vector<at::Tensor> fr;
    for (const auto& im : src) fr.push_back(to_tensor(im));
    er.source_video = at::stack(fr, 1);  // [3, F, H, W]
    er.source_name = req.edit.video_path;
    const render::Mask& mk = *req.mask;
    er.mask = at::from_blob(const_cast<uint8_t*>(mk.data.data()), {mk.frames, mk.height, mk.width}, at::kByte).to(at::kFloat);
    er.mask_name = req.mask_name;
    er.source_prompt = req.edit.source_prompt;
    er.gen.prompt = req.edit.prompt;
    er.gen.negative_prompt = req.sampling.negative_prompt;
    er.gen.seed = req.sampling.seed;
    er.gen.steps = req.sampling.steps;
    er.gen.guide_scale = req.sampling.cfg;
    er.gen.frames = req.sampling.frames;
    er.gen.max_area = req.sampling.max_area;

    // "Compose with FG": the Focal Guidance pane's thresholds / strengths / words, with the edit's token on top
    // (set_mode keeps those parameters and sets fsg / ac / dyncfg / kvlock from the tokens).
    GuidanceConfig fg = req.fg;
    fg.fsg = fg.ac = req.edit.compose_fg;
    fg.dyncfg = false;
    focalscope::GuidanceConfig g = engine_guidance(fg, *m, nullptr);
    g.set_mode(edit_mode_string(req.edit));

    const EditJob ej = prepare_edit(*m, er, g);  // empty / full mask, size, frame count -> Error (one line)
    const RunParams& P = ej.params;
    cur->mode = ej.guidance.mode();
    cur->lock = ej.guidance.kvlock.lock;
    cur->steps_total = P.steps;
    cur->frames_total = P.frames;
    cur->fps = P.fps;
    cur->width = static_cast<int>(P.width);
    cur->height = static_cast<int>(P.height);
    cur->mask_fraction = ej.mask_fraction;
    cur->tau = ej.guidance.kvlock.tau > 0 ? ej.guidance.kvlock.tau : kvlock_tau(*m, &cur->tau_calibrated, ej.guidance.kvlock.local);
    cur->kappa = ej.guidance.kvlock.editing() ? locked_steps(ej.guidance.kvlock, P.steps) : 0;
    // The source and the mask at the run's size, shown while the edit samples.
    cur->source_frames = std::make_shared<std::vector<render::Image>>(to_frames(ej.gen.kvlock.source_video));
    const at::Tensor u = std::get<0>((ej.gen.kvlock.pixel_mask != 0).to(at::kByte).max(0)).contiguous();
    auto plane = std::make_shared<std::vector<uint8_t>>(u.data_ptr<uint8_t>(), u.data_ptr<uint8_t>() + u.numel());
    cur->mask_outline = std::make_shared<std::vector<float>>(mask_outline(*plane, cur->width, cur->height));
    cur->run_mask = plane;
    push(RunState::Encoding, "encode");

    RunHooks hooks;
    hooks.cancel = &cancel_;
    hooks.on_stage = [&](const std::string& s) { push(s == "decode" ? RunState::Decoding : RunState::Encoding, s); };
    const double decode_guess = last_decode_s_;
    hooks.on_step = [&](const StepProgress& p) {
      cur->steps_done = p.step;
      cur->elapsed_s = p.elapsed_s;
      cur->eta_s = p.eta_s + decode_guess;
      if (p.hallucination) cur->sigma2 = p.hallucination->curve();
      push(RunState::Sampling, "sampling");
    };
    const auto t0 = Clock::now();
    EditResult r = run_edit(*m, ej, hooks);
    const GenerateResult& run = r.guided.run;
    if (!run.cancelled) last_decode_s_ = run.seconds_decode;
    cur->sigma2 = run.hallucination.curve();
    cur->noops.insert(cur->noops.end(), r.noops.begin(), r.noops.end());
    if (run.cancelled) return push(RunState::Cancelled, "cancelled");
    cur->kvlock = run.kvlock;
    if (ej.guidance.kvlock.editing()) {
      cur->tau = run.kvlock_tau;
      cur->tau_calibrated = run.kvlock_tau_calibrated;
      cur->kappa = run.kvlock_kappa;
    }
    cur->edit_frames = std::make_shared<std::vector<render::Image>>(to_frames(run.video));
    // Background fidelity as `focalscope edit` prints it (analysis/edit_metrics.h: frames 1..N outside the mask).
    try {
      const auto a = rgb_frames(*cur->edit_frames), b = rgb_frames(*cur->source_frames);
      cur->bg_psnr = analysis::background_psnr(a, b, *plane, cur->width, cur->height);
      cur->bg_ssim = analysis::background_ssim(a, b, *plane, cur->width, cur->height);
    } catch (const std::exception& e) {
      cur->noops.push_back(std::string("background fidelity not measured: ") + e.what());
    }
    cur->eta_s = 0;
    cur->elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    push(RunState::Done, "done");
  } catch (const Error& e) {
    fail_with(e.what());
  } catch (const std::exception& e) {
    fail_with(std::string("unexpected error: ") + e.what());
  }
}

}  // namespace focalscope::session
