#include "app/cli/analyze_run.h"

#include <chrono>

#include "engine/core/error.h"

namespace focalscope::cli {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

CaptureLayout plan_capture(const ModelBundle& m, const AnalyzeSettings& st, const RunParams& params, int64_t keywords) {
  CaptureSelection sel = st.selection;
  // Without classifier-free guidance there is no unconditional pass to capture.
  if (params.guide_scale == 1.0) sel.uncond = false;
  if (!sel.cond && !sel.uncond) fail("--pass", "uncond requested but this run has no unconditional pass (cfg 1)");
  return make_capture_layout(sel, m.dit.cfg.num_layers, params.steps, keywords,
                             token_grid(params.lat_f, params.lat_h, params.lat_w, m.dit.cfg.patch_size));
}

std::vector<int> stat_step_slots(const CaptureLayout& layout, const std::vector<int>& steps) {
  std::vector<int> slots;
  for (int s : steps) {
    const int slot = layout.step_slot(s);
    if (slot < 0) fail("--stat-steps", "step " + std::to_string(s) + " is not captured (see --capture-steps)");
    slots.push_back(slot);
  }
  return slots;
}

std::vector<analysis::SampleLayerStats> capture_statistics(const SimilarityCapture& cap) {
  const CaptureLayout& L = cap.layout();
  const int S = cap.ready_steps(), NL = static_cast<int>(L.layers.size()), K = static_cast<int>(L.keywords);
  std::vector<analysis::SampleLayerStats> out;
  std::vector<float> buf(static_cast<size_t>(L.map_elems()));
  for (size_t p = 0; p < L.passes.size(); ++p) {
    out.emplace_back(NL, static_cast<int>(L.steps.size()), K, L.grid[0]);
    for (int s = 0; s < S; ++s)
      for (int l = 0; l < NL; ++l) {
        if (!cap.filled(s, static_cast<int>(p), l)) continue;
        for (int k = 0; k < K; ++k) {
          cap.copy_map(s, static_cast<int>(p), l, k, buf.data());
          out.back().add_map(l, s, k, buf.data(), L.grid[1], L.grid[2]);
        }
      }
  }
  return out;
}

SampleOutcome run_analysis_sample(const ModelBundle& m, const AnalyzeSample& s, const AnalyzeSettings& st,
                                  bool keep_maps, const RunHooks& hooks) {
  if (hooks.listener) fail("analysis", "the run already has a probe listener");
  SampleOutcome o;
  o.sample = s;
  GenerateRequest req = st.base;
  req.image = s.image;
  req.prompt = s.prompt;
  req.seed = s.seed;
  o.params = resolve_params(m, req);
  o.keywords = resolve_keywords(*m.tokenizer, s.prompt, s.keywords, m.text_len);
  o.layout = plan_capture(m, st, o.params, static_cast<int64_t>(o.keywords.size()));
  const std::vector<int> slots = stat_step_slots(o.layout, st.stat_steps);

  auto cap = std::make_shared<SimilarityCapture>(o.keywords, o.layout, st.source);
  RunHooks h = hooks;
  h.listener = cap.get();
  auto t0 = Clock::now();
  GenerateResult r = generate(m, req, h);
  cap->finish();
  o.seconds_generate = since(t0);
  o.cancelled = r.cancelled;
  if (r.cancelled) return o;

  auto t1 = Clock::now();
  o.stats = capture_statistics(*cap);
  o.layer_values = o.stats.front().layer_means(slots);
  o.seconds_stats = since(t1);
  if (keep_maps) {
    o.capture = cap;
    o.video = r.video;
  }
  return o;
}

}  // namespace focalscope::cli
