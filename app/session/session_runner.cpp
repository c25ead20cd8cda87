#include "app/session/session_runner.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <exception>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "app/session/capture_bridge.h"
#include "app/session/runner_util.h"
#include "engine/core/error.h"
#include "engine/formats/component_weights.h"
#include "engine/guidance/focal_guidance.h"
#include "engine/guidance/guided_generate.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/pipeline/model_bundle.h"

namespace focalscope::session {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Copies the steps of `from` that `to` does not have yet (each step's map once, not the whole trace per step).
void append_new_steps(const HallucinationTrace& from, HallucinationTrace& to) {
  to.window = from.window;
  to.grid = from.grid;
  for (int k = to.steps(); k < from.steps(); ++k) {
    to.window_used.push_back(from.window_used[k]);
    to.global.push_back(from.global[k]);
    if (from.has_local()) to.local.push_back(from.local[k]);
    to.maps.push_back(from.maps[k]);
  }
}

// Eq. 6 scores of the prompt's words against the reference image, for the keyword chips (needs the model's CLIP
// text tower; otherwise the chips show no score).
void score_keywords(const ModelBundle& m, const RunInputs& in, const focalscope::GuidanceConfig& ran,
                    const RunConditioning& rc, std::vector<KeywordInfo>& chips) {
  if ((!m.clip_text && !m.xlmr_text) || !rc.clip_fea.defined()) return;  // no Eq. 6 without a CLIP text tower
  focalscope::GuidanceConfig e;
  e.fsg = true;
  e.tau_sel = ran.tau_sel;
  e.tau_region = ran.tau_region;
  FsgPlan plan;
  try {
    plan = plan_focal_guidance(m, in.prompt, rc.clip_fea, e, rc.grid[1], rc.grid[2]);
  } catch (const std::exception&) {
    return;  // chips stay unscored rather than failing the run
  }
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (auto& k : chips)
    for (const auto& w : plan.words)
      if (lower(w.word) == lower(k.word)) {
        k.clip_score = w.clip_max;
        k.selected = w.selected;
        break;
      }
}

// The app's view of an engine config that ran: `g` (the request, with its auto flags) with the engine's values.
GuidanceConfig session_guidance(GuidanceConfig g, const focalscope::GuidanceConfig& e) {
  g.tau_sel = static_cast<float>(e.tau_sel);
  g.tau_region = static_cast<float>(e.tau_region);
  g.tau_cache = static_cast<float>(e.tau_cache);
  g.lambda_txt = static_cast<float>(e.lambda_txt);
  g.lambda_lat = static_cast<float>(e.lambda_lat);
  g.lambda_cache = static_cast<float>(e.lambda_cache);
  return g;
}

std::vector<int> planted_layers(const nlohmann::json& manifest) {
  std::vector<int> out;
  if (!manifest.is_object()) return out;
  auto it = manifest.find("planted_weak_layers");
  if (it == manifest.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_number_integer()) out.push_back(v.get<int>());
  std::sort(out.begin(), out.end());
  return out;
}

bool same_baseline(const RunRequest& a, const RunRequest& b) {
  return a.inputs == b.inputs && a.image == b.image && a.analyze_words == b.analyze_words;
}
}  // namespace

// RGB8 image -> the pipeline's [3, H, W] float in [-1, 1].
at::Tensor to_tensor(const render::Image& img) {
  render::Image rgb = img.channels == 3 ? img : render::convert_channels(img, 3);
  at::Tensor t = at::from_blob(rgb.pixels.data(), {rgb.height, rgb.width, 3}, at::kByte).clone();
  return t.permute({2, 0, 1}).to(at::kFloat).div(127.5).sub(1.0).contiguous();
}

// [3, F, H, W] in [-1, 1] -> F RGB8 frames.
std::vector<render::Image> to_frames(const at::Tensor& video) {
  if (video.dim() != 4 || video.size(0) != 3) fail("video", "expected [3, F, H, W]");
  at::Tensor u8 = video.detach().to(at::kCPU, at::kFloat).clamp(-1, 1).add(1).mul(127.5).round().to(at::kByte)
                      .permute({1, 2, 3, 0}).contiguous();  // [F, H, W, 3]
  std::vector<render::Image> out;
  const int F = static_cast<int>(u8.size(0)), H = static_cast<int>(u8.size(1)), W = static_cast<int>(u8.size(2));
  const uint8_t* p = u8.data_ptr<uint8_t>();
  for (int f = 0; f < F; ++f) {
    render::Image img(W, H, 3);
    std::memcpy(img.pixels.data(), p + static_cast<size_t>(f) * W * H * 3, img.pixels.size());
    out.push_back(std::move(img));
  }
  return out;
}

// The engine's Focal Guidance settings for a guided run. Weak layers: the user's set when edited, else the model's
// (its manifest, from `focalscope analyze`), else the set detected from this session's baseline maps.
// Thresholds left on "model default" go in as not given, so generate_guided() applies the model's calibrated values
// (with_model_defaults), or the engine's defaults where the model has none.
focalscope::GuidanceConfig engine_guidance(const GuidanceConfig& g, const ModelBundle& m, const RunSnapshot* baseline) {
  focalscope::GuidanceConfig e;
  e.fsg = g.fsg;
  e.ac = g.ac;
  e.tau_sel_given = !g.tau_sel_auto;
  e.tau_cache_given = !g.tau_cache_auto;
  if (e.tau_sel_given) e.tau_sel = g.tau_sel;
  if (e.tau_cache_given) e.tau_cache = g.tau_cache;
  e.tau_region = g.tau_region;
  e.lambda_txt = g.lambda_txt;
  e.lambda_lat = g.lambda_lat;
  e.lambda_cache = g.lambda_cache;
  e.keywords = g.guided_words;
  if (g.weak_override) e.weak_layers = g.weak_layers;
  else if (m.weak_layers.empty() && baseline) e.weak_layers = baseline->weak_layers;
  e.dyncfg.enabled = g.dyncfg;
  e.dyncfg.reading = g.dyncfg_raise ? OmegaReading::RaiseOnly : OmegaReading::Literal;
  return e;
}

std::string resolve_model_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  std::string d = default_model_dir();
  if (d.empty())
    fail("model", "the embedded default model (assets/models/shapes) was not found; choose a model directory "
                  "(a Wan2.1-I2V release folder or a FocalScope model folder) or set FOCALSCOPE_MODEL_DIR");
  return d;
}

std::string sibling_model_dir(const std::string& name) {
  const std::string d = default_model_dir();
  if (d.empty()) return {};
  return (std::filesystem::path(d).lexically_normal().parent_path() / name).string();
}

std::string planted_model_dir() { return sibling_model_dir("shapes-planted"); }
std::string mmdit_model_dir() { return sibling_model_dir("shapes-mmdit"); }

bool has_model_manifest(const std::string& dir) {
  std::error_code ec;
  return !dir.empty() && std::filesystem::is_regular_file(std::filesystem::path(dir) / "focalscope.json", ec);
}

SessionRunner::SessionRunner(RunnerOptions opt) : opt_(opt) {
  for (int v = 0; v < kNumVariants; ++v) {
    auto s = std::make_shared<RunSnapshot>();
    s->variant = static_cast<Variant>(v);
    slots_[v] = s;
  }
  edit_slot_ = std::make_shared<EditSnapshot>();
  thread_ = std::thread([this] { worker_loop(); });
}

SessionRunner::~SessionRunner() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    quit_ = true;
    pending_.reset();
    pending_edit_.reset();
    cancel_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t SessionRunner::submit(RunRequest req) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lk(mu_);
    id = next_id_++;
    pending_ = std::move(req);
    pending_edit_.reset();
    pending_id_ = id;
    last_job_ = id;
    cancel_ = true;  // the run in flight stops at its next step boundary
  }
  cv_.notify_all();
  return id;
}

uint64_t SessionRunner::submit_edit(EditRunRequest req) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lk(mu_);
    id = next_id_++;
    pending_edit_ = std::move(req);
    pending_.reset();
    pending_id_ = id;
    last_job_ = id;
    cancel_ = true;
  }
  cv_.notify_all();
  return id;
}

void SessionRunner::cancel() {
  std::lock_guard<std::mutex> lk(mu_);
  pending_.reset();
  pending_edit_.reset();
  cancel_ = true;
}

SnapshotPtr SessionRunner::snapshot(Variant v) const {
  std::lock_guard<std::mutex> lk(mu_);
  return slots_[static_cast<int>(v)];
}

EditSnapshotPtr SessionRunner::edit_snapshot() const {
  std::lock_guard<std::mutex> lk(mu_);
  return edit_slot_;
}

bool SessionRunner::busy() const {
  std::lock_guard<std::mutex> lk(mu_);
  return running_ || pending_.has_value() || pending_edit_.has_value();
}

uint64_t SessionRunner::last_job() const {
  std::lock_guard<std::mutex> lk(mu_);
  return last_job_;
}

uint64_t SessionRunner::finished_job() const {
  std::lock_guard<std::mutex> lk(mu_);
  return finished_job_;
}

void SessionRunner::publish(Variant v, std::shared_ptr<RunSnapshot> s) {
  std::lock_guard<std::mutex> lk(mu_);
  slots_[static_cast<int>(v)] = std::move(s);
}

void SessionRunner::publish_edit(std::shared_ptr<EditSnapshot> s) {
  std::lock_guard<std::mutex> lk(mu_);
  edit_slot_ = std::move(s);
}

void SessionRunner::worker_loop() {
  // Torch's intra-op pool is per process but sized from the thread that sets it; only this thread runs torch.
  // OpenBLAS keeps its own pool (2 threads on a 2-core machine would starve the UI): size it too.
  const int threads = std::max(1, opt_.torch_threads);
  at::set_num_threads(threads);
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(threads);
  // A lower scheduling priority for this thread (Linux: per-thread nice), so the UI thread always gets its
  // frame's worth of CPU first; the worker still uses everything the UI leaves idle.
  if (opt_.worker_nice > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), opt_.worker_nice);
  for (;;) {
    std::optional<RunRequest> req;
    std::optional<EditRunRequest> edit;
    uint64_t job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return quit_ || pending_.has_value() || pending_edit_.has_value(); });
      if (quit_) return;
      req = std::move(pending_);
      edit = std::move(pending_edit_);
      pending_.reset();
      pending_edit_.reset();
      job = pending_id_;
      cancel_ = false;
      running_ = true;
    }
    if (req) run_job(*req, job);
    else if (edit) run_edit_job(*edit, job);
    {
      std::lock_guard<std::mutex> lk(mu_);
      running_ = false;
      finished_job_ = job;
    }
  }
}

ModelBundle* SessionRunner::model_for(const std::string& dir, const std::vector<LoraEntry>& loras, const std::string& clip,
                                     std::string& resolved, double& seconds) {
  resolved = resolve_model_dir(dir);
  seconds = 0;
  if (model_ && model_dir_ == resolved && model_loras_ == loras && model_clip_ == clip) return model_.get();
  model_.reset();
  baseline_key_.reset();
  auto t0 = Clock::now();
  LoadOptions lo;
  for (const auto& l : loras) lo.loras.push_back({l.path, l.strength});
  if (clip.empty()) {
    model_ = load_model_bundle(resolved, lo);
  } else {  // as `--model-dir DIR --clip FILE`: only a Wan2.2 folder takes one (the others bring their own CLIP)
    ModelLayout L = detect_model_layout(resolved);
    if (L.format != "wan2.2-i2v-a14b")
      fail(clip, "a CLIP file is for a Wan2.2 I2V-A14B folder; " + resolved + " (" + L.format + ") brings its own");
    const formats::ComponentProbe p = formats::probe_component(clip);
    if (p.component != "clip-vision") fail(clip, "expected a CLIP vision checkpoint, this holds " + p.summary());
    L.clip_weights = clip;
    model_ = load_model_bundle(L, lo);
  }
  model_dir_ = resolved;
  model_loras_ = loras;
  model_clip_ = clip;
  seconds = since(t0);
  return model_.get();
}

void SessionRunner::run_job(const RunRequest& req, uint64_t job) {
  if (req.ab) {
    const bool reuse = baseline_key_ && same_baseline(*baseline_key_, req) && !cancel_;
    if (!reuse) {
      baseline_key_.reset();
      if (!run_variant(req, Variant::Baseline, job)) return;
      baseline_key_ = req;
    }
    if (req.guidance.enabled()) {
      run_variant(req, Variant::Guided, job);
    } else {
      // FG off: the guided side would repeat the baseline exactly; say so instead of running it.
      auto idle = std::make_shared<RunSnapshot>();
      idle->job_id = job;
      idle->variant = Variant::Guided;
      idle->inputs = req.inputs;
      idle->guidance = req.guidance;
      idle->stage = "Focal Guidance is off";
      publish(Variant::Guided, idle);
    }
  } else {
    const Variant v = req.guided ? Variant::Guided : Variant::Baseline;
    if (v == Variant::Baseline) baseline_key_.reset();
    if (run_variant(req, v, job) && v == Variant::Baseline) baseline_key_ = req;
  }
}

bool SessionRunner::run_variant(const RunRequest& req, Variant v, uint64_t job) {
  auto cur = std::make_shared<RunSnapshot>();
  cur->job_id = job;
  cur->variant = v;
  cur->inputs = req.inputs;
  cur->guidance = req.guidance;
  if (v == Variant::Baseline) cur->guidance.fsg = cur->guidance.ac = cur->guidance.dyncfg = false;
  cur->reference = req.image;
  auto push = [&](RunState st, const std::string& stage) {
    cur->state = st;
    cur->stage = stage;
    publish(v, std::make_shared<RunSnapshot>(*cur));
  };
  auto fail_with = [&](const std::string& msg) {
    cur->error = msg;
    push(RunState::Failed, "failed");
    return false;
  };

  try {
    if (!req.image || req.image->empty()) return fail_with("no reference image: choose a PNG/JPEG file (or drop one on the window)");
    bool blank = true;
    for (char c : req.inputs.prompt) blank = blank && std::isspace(static_cast<unsigned char>(c));
    if (blank) return fail_with("the prompt is empty: describe what should happen");

    push(RunState::Loading, "load model");
    std::string dir;
    double load_s = 0;
    ModelBundle* m = model_for(req.inputs.model_dir, req.inputs.loras, req.inputs.clip_file, dir, load_s);
    cur->model_dir = dir;
    cur->model_notes = m->load_notes;
    cur->model_name = m->layout.variant;
    cur->num_layers = m->num_layers();
    cur->model_weak_layers = m->weak_layers;
    cur->model_planted_weak_layers = planted_layers(m->layout.manifest);
    cur->model_tau_sel = m->calibrated_tau_sel;
    cur->model_tau_cache = m->calibrated_tau_cache;
    cur->seconds_load = load_s;
    if (cancel_) {
      push(RunState::Cancelled, "cancelled");
      return false;
    }

    GenerateRequest g;
    g.image = to_tensor(*req.image);
    g.prompt = req.inputs.prompt;
    g.negative_prompt = req.inputs.negative_prompt;
    g.seed = req.inputs.seed;
    g.steps = req.inputs.steps;
    g.guide_scale = req.inputs.cfg;
    g.frames = req.inputs.frames;
    g.max_area = req.inputs.max_area;
    const RunParams P = resolve_params(*m, g);
    cur->steps_total = P.steps;
    cur->frames_total = P.frames;
    cur->fps = P.fps;
    cur->cfg = P.guide_scale;
    cur->has_uncond = P.guide_scale != 1.0;
    cur->lat_f = static_cast<int>(P.lat_f);
    cur->lat_h = static_cast<int>(P.lat_h);
    cur->lat_w = static_cast<int>(P.lat_w);
    cur->width = static_cast<int>(P.width);
    cur->height = static_cast<int>(P.height);
    cur->sampled_steps = sample_steps(P.steps, opt_.max_grid_columns);

    focalscope::GuidanceConfig fg;  // off for the baseline
    SnapshotPtr base = v == Variant::Guided ? snapshot(Variant::Baseline) : nullptr;
    const focalscope::GuidanceConfig requested =
        engine_guidance(req.guidance, *m, base && base->state == RunState::Done ? base.get() : nullptr);
    // The thresholds in effect (model defaults filled in): the keyword chips are scored with them on both sides.
    const focalscope::GuidanceConfig ran = with_model_defaults(requested, *m);
    cur->guidance_ran = session_guidance(cur->guidance, ran);
    if (v == Variant::Guided) {
      fg = requested;
      cur->guidance_applied = fg.active() || fg.dyncfg.enabled;
    }

    auto capture = make_capture_bridge(*m, g, P, req.analyze_words, cur->sampled_steps, static_cast<float>(ran.tau_sel));
    cur->keywords = capture->keywords();
    cur->capture_keywords = capture->capture_keywords();

    cur->hallucination_tau = kvlock_tau(*m, &cur->hallucination_tau_calibrated);
    RunHooks hooks;
    hooks.cancel = &cancel_;
    hooks.listener = capture->listener();
    hooks.on_conditioned = [&](const RunConditioning& rc) {
      score_keywords(*m, req.inputs, ran, rc, cur->keywords);
      push(RunState::Encoding, "conditioned");
    };
    hooks.on_stage = [&](const std::string& s) {
      if (s == "decode") push(RunState::Decoding, s);
      else push(RunState::Encoding, s);
    };
    const double decode_guess = last_decode_s_;  // the previous run's decode time, for the ETA
    hooks.on_step = [&](const StepProgress& p) {
      auto rec = std::make_shared<StepRecord>();
      rec->step = p.step - 1;
      rec->timestep = static_cast<double>(p.timestep);
      rec->expert = m->two_experts() ? (m->high_noise_step(p.timestep) ? 1 : 0) : -1;
      rec->elapsed_s = p.elapsed_s;
      rec->maps = capture->collect(p.step - 1);
      if (!rec->maps.empty()) {
        cur->steps.push_back(rec);
        cur->weak_layers = detect_weak_layers(*cur);
      }
      if (p.hallucination) append_new_steps(*p.hallucination, cur->hallucination);
      cur->steps_done = p.step;
      cur->elapsed_s = p.elapsed_s;
      cur->eta_s = p.eta_s + decode_guess;
      push(RunState::Sampling, "sampling");
    };
    auto t0 = Clock::now();
    GuidedResult guided = generate_guided(*m, g, fg, hooks);  // guidance off: exactly generate()
    GenerateResult& r = guided.run;
    if (cur->guidance_applied) {
      cur->guidance_weak_layers = guided.weak_layers;
      for (const auto& k : guided.plan.keywords) cur->guided_keywords.push_back(k.word);
    }
    if (v == Variant::Guided) {
      // What ran and what it did, so the panel can say when a switched-on part changed nothing.
      cur->guidance_ran = session_guidance(cur->guidance, guided.config);
      cur->guidance_noops = guided.noops;
      for (const auto& l : guided.stats.weak)
        cur->guidance_layer_stats.push_back(
            {l.layer, l.ac_applications, l.ac_tokens_touched, l.ac_tokens_seen, l.fsg_applications});
      cur->cache_max = guided.stats.cache_max;
      cur->cache_values = guided.stats.cache_values;
      cur->cache_above = guided.stats.cache_above;
    }
    cur->seconds_encode = r.seconds_encode;
    cur->seconds_sample = r.seconds_sample;
    cur->seconds_decode = r.seconds_decode;
    if (!r.cancelled) last_decode_s_ = r.seconds_decode;
    if (r.cancelled) {
      push(RunState::Cancelled, "cancelled");
      return false;
    }
    auto frames = std::make_shared<std::vector<render::Image>>(to_frames(r.video));
    cur->frames = frames;
    cur->eta_s = 0;
    cur->elapsed_s = since(t0);
    push(RunState::Done, "done");
    return true;
  } catch (const Error& e) {
    return fail_with(e.what());
  } catch (const std::exception& e) {
    return fail_with(std::string("unexpected error: ") + e.what());
  }
}

}  // namespace focalscope::session
