#include "app/session/run_snapshot.h"

#include <algorithm>

#include "analysis/resampling.h"
#include "analysis/weak_layers.h"

namespace focalscope::session {

const char* run_state_name(RunState s) {
  switch (s) {
    case RunState::Idle: return "idle";
    case RunState::Queued: return "queued";
    case RunState::Loading: return "loading model";
    case RunState::Encoding: return "encoding";
    case RunState::Sampling: return "sampling";
    case RunState::Decoding: return "decoding";
    case RunState::Done: return "done";
    case RunState::Cancelled: return "cancelled";
    case RunState::Failed: return "failed";
  }
  return "?";
}

int RunSnapshot::map_slot(const std::string& word) const {
  for (size_t i = 0; i < capture_keywords.size(); ++i) {
    int k = capture_keywords[i];
    if (k >= 0 && k < static_cast<int>(keywords.size()) && keywords[k].word == word) return static_cast<int>(i);
  }
  return -1;
}

const SimilarityMap* RunSnapshot::map(int slot, int layer, int step_index) const {
  if (step_index < 0 || step_index >= static_cast<int>(steps.size()) || !steps[step_index]) return nullptr;
  const auto& m = steps[step_index]->maps;
  if (slot < 0 || slot >= static_cast<int>(m.size())) return nullptr;
  if (layer < 0 || layer >= static_cast<int>(m[slot].size())) return nullptr;
  return m[slot][layer].get();
}

double RunSnapshot::progress() const {
  switch (state) {
    case RunState::Idle:
    case RunState::Queued: return 0.0;
    case RunState::Loading: return 0.02;
    case RunState::Encoding: return 0.05;
    case RunState::Sampling:
      return 0.05 + 0.9 * (steps_total > 0 ? double(steps_done) / steps_total : 0.0);
    case RunState::Decoding: return 0.96;
    case RunState::Done: return 1.0;
    case RunState::Cancelled:
    case RunState::Failed: return steps_total > 0 ? 0.05 + 0.9 * double(steps_done) / steps_total : 0.0;
  }
  return 0.0;
}

LayerCurves layer_curves(const RunSnapshot& s, int slot, PassKind pass, int step_index, int bootstrap_reps) {
  LayerCurves c;
  const int L = s.num_layers;
  c.moran.assign(L, NAN);
  c.std_dev.assign(L, NAN);
  std::vector<std::vector<double>> vi(L), vs(L);  // per layer: one value per step that has its map
  const int s0 = step_index >= 0 ? step_index : 0;
  const int s1 = step_index >= 0 ? std::min<int>(step_index + 1, static_cast<int>(s.steps.size()))
                                 : static_cast<int>(s.steps.size());
  for (int si = s0; si < s1; ++si) {
    bool any = false;
    for (int l = 0; l < L; ++l) {
      const SimilarityMap* m = s.map(slot, l, si);
      if (!m || !m->has(pass)) continue;
      vi[l].push_back(m->stats(pass).morans_i);
      vs[l].push_back(m->stats(pass).std_minmax);
      any = true;
    }
    if (any) ++c.steps_used;
  }
  auto mean = [](const std::vector<double>& v) {
    double t = 0;
    for (double x : v) t += x;
    return t / static_cast<double>(v.size());
  };
  if (bootstrap_reps > 0) {
    c.moran_lo.assign(L, NAN);
    c.moran_hi.assign(L, NAN);
    c.std_lo.assign(L, NAN);
    c.std_hi.assign(L, NAN);
  }
  for (int l = 0; l < L; ++l) {
    if (vi[l].empty()) continue;
    c.moran[l] = mean(vi[l]);
    c.std_dev[l] = mean(vs[l]);
    if (bootstrap_reps <= 0) continue;
    const analysis::Interval bi = analysis::bootstrap_mean(vi[l], bootstrap_reps, 0.95, 1 + 2 * static_cast<uint64_t>(l));
    const analysis::Interval bs = analysis::bootstrap_mean(vs[l], bootstrap_reps, 0.95, 2 + 2 * static_cast<uint64_t>(l));
    c.moran_lo[l] = bi.lo;
    c.moran_hi[l] = bi.hi;
    c.std_lo[l] = bs.lo;
    c.std_hi[l] = bs.hi;
  }
  return c;
}

std::vector<int> detect_weak_layers(const RunSnapshot& s) {
  const int L = s.num_layers;
  if (L < 3 || s.steps.empty() || s.capture_keywords.empty()) return {};
  // Samples = captured steps; each value = mean over keywords of the conditional map's frame-mean statistic.
  std::vector<std::vector<double>> moran(L), stdv(L);
  for (size_t si = 0; si < s.steps.size(); ++si) {
    std::vector<double> mi(L, 0.0), sd(L, 0.0);
    std::vector<int> n(L, 0);
    for (size_t k = 0; k < s.capture_keywords.size(); ++k)
      for (int l = 0; l < L; ++l)
        if (const SimilarityMap* m = s.map(static_cast<int>(k), l, static_cast<int>(si)); m && m->has(PassKind::Cond)) {
          mi[l] += m->cond_stats.morans_i;
          sd[l] += m->cond_stats.std_minmax;
          ++n[l];
        }
    bool complete = true;
    for (int l = 0; l < L; ++l) complete = complete && n[l] > 0;
    if (!complete) continue;
    for (int l = 0; l < L; ++l) {
      moran[l].push_back(mi[l] / n[l]);
      stdv[l].push_back(sd[l] / n[l]);
    }
  }
  if (moran[0].empty()) return {};
  try {
    analysis::WeakLayerOptions o;
    o.contiguous = true;
    return analysis::WeakLayerDetector(o).detect(moran, stdv).weak;
  } catch (const std::exception&) {
    return {};
  }
}

std::vector<int> marked_weak_layers(const RunSnapshot& s) {
  if (s.guidance_applied && !s.guidance_weak_layers.empty()) return s.guidance_weak_layers;
  if (!s.model_weak_layers.empty()) return s.model_weak_layers;
  return s.weak_layers;
}

int latent_frame_of(int pixel_frame, int temporal_stride) {
  if (pixel_frame <= 0 || temporal_stride <= 0) return 0;
  return 1 + (pixel_frame - 1) / temporal_stride;
}

}  // namespace focalscope::session
