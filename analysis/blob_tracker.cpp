#include "analysis/blob_tracker.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace focalscope::analysis {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMissCost = 3.0;  // cost of "not found": any plausible blob is cheaper
constexpr int kCandidates = 6;     // per object, best few blobs only (keeps the joint search tiny)

struct Cand {
  int blob;
  double cost;
};

}  // namespace

std::vector<std::vector<int>> track_objects(const std::vector<FrameBlobs>& frames, const std::vector<TrackSpec>& specs,
                                            double gate_px) {
  const int n = static_cast<int>(specs.size()), T = static_cast<int>(frames.size());
  std::vector<std::vector<int>> assign(n, std::vector<int>(T, -1));
  std::vector<double> px(n), py(n), parea(n);
  for (int i = 0; i < n; ++i) {
    px[i] = specs[i].x;
    py[i] = specs[i].y;
    parea[i] = std::max(1.0, specs[i].area);
  }
  for (int t = 0; t < T; ++t) {
    const auto& blobs = frames[t].blobs;
    std::vector<std::vector<Cand>> cands(n);
    for (int i = 0; i < n; ++i) {
      const TrackSpec& s = specs[i];
      for (int b = 0; b < static_cast<int>(blobs.size()); ++b) {
        const Blob& bl = blobs[b];
        const bool color_ok = bl.color == s.color || (s.any_color && t > 0);
        if (!color_ok) continue;
        const double d = std::hypot(bl.cx - px[i], bl.cy - py[i]);
        // At frame 0 objects are where the annotation says; afterwards they may move up to the gate per frame.
        const double gate = t == 0 ? std::max(4.0, 0.5 * s.size) : gate_px;
        if (d > gate) continue;
        double cost = d / std::max(4.0, s.size);
        if (s.shape_stable && !blob_shows(bl, s.shape)) cost += 1.0;
        cost += 0.5 * std::min(3.0, std::fabs(std::log(bl.area / parea[i])));
        cands[i].push_back({b, cost});
      }
      std::sort(cands[i].begin(), cands[i].end(), [](const Cand& a, const Cand& b) { return a.cost < b.cost; });
      if (cands[i].size() > kCandidates) cands[i].resize(kCandidates);
    }
    // Exhaustive joint assignment (n <= 3 objects, <= 6 candidates each, plus "missing").
    std::vector<int> cur(n, -1), best(n, -1);
    double best_cost = kInf;
    std::vector<char> used(blobs.size(), 0);
    auto rec = [&](auto&& self, int i, double acc) -> void {
      if (acc >= best_cost) return;
      if (i == n) {
        best_cost = acc;
        best = cur;
        return;
      }
      for (const Cand& c : cands[i]) {
        if (used[c.blob]) continue;
        used[c.blob] = 1;
        cur[i] = c.blob;
        self(self, i + 1, acc + c.cost);
        used[c.blob] = 0;
      }
      cur[i] = -1;
      self(self, i + 1, acc + kMissCost);
    };
    rec(rec, 0, 0.0);
    for (int i = 0; i < n; ++i) {
      assign[i][t] = best[i];
      if (best[i] >= 0) {
        px[i] = blobs[best[i]].cx;
        py[i] = blobs[best[i]].cy;
        parea[i] = std::max(1.0, static_cast<double>(blobs[best[i]].area));
      }
    }
  }
  return assign;
}

}  // namespace focalscope::analysis
