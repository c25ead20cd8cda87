#include "app/gui/map_atlas.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace focalscope::gui {

using session::PassKind;
using session::RunSnapshot;
using session::SimilarityMap;

bool AtlasKey::operator==(const AtlasKey& o) const {
  return std::tie(job, variant, slot, pass, frame, cmap, rows, cols, cell_w, cell_h, shared) ==
         std::tie(o.job, o.variant, o.slot, o.pass, o.frame, o.cmap, o.rows, o.cols, o.cell_w, o.cell_h, o.shared);
}

namespace {
// Finite range of one latent frame of a map.
std::pair<float, float> frame_range(const SimilarityMap& m, PassKind p, int f) {
  const float* v = m.values(p).data() + static_cast<size_t>(f) * m.frame_size();
  return render::finite_range(v, m.frame_size());
}
}  // namespace

void MapAtlas::sync(const RunSnapshot* s, int slot, PassKind pass, int latent_frame, render::Colormap cmap,
                    bool shared_scale, int max_cells) {
  if (!s || slot < 0 || s->num_layers <= 0 || s->sampled_steps.empty()) {
    key_ = AtlasKey{};
    tex_.reset();
    state_.clear();
    return;
  }
  // Cell size from the first map present.
  int cw = 0, ch = 0, frames = 0;
  for (size_t si = 0; si < s->steps.size() && !cw; ++si)
    for (int l = 0; l < s->num_layers && !cw; ++l)
      if (const SimilarityMap* m = s->map(slot, l, static_cast<int>(si)); m && m->has(pass)) {
        cw = m->width;
        ch = m->height;
        frames = m->frames;
      }
  if (!cw) {
    key_ = AtlasKey{};
    state_.clear();
    return;
  }
  const int f = std::clamp(latent_frame, 0, std::max(0, frames - 1));
  AtlasKey k;
  k.job = s->job_id;
  k.variant = static_cast<int>(s->variant);
  k.slot = slot;
  k.pass = static_cast<int>(pass);
  k.frame = f;
  k.cmap = static_cast<int>(cmap);
  k.rows = s->num_layers;
  k.cols = static_cast<int>(s->sampled_steps.size());
  k.cell_w = cw;
  k.cell_h = ch;
  k.shared = shared_scale;

  // Shared colour scale over every captured cell of this frame (recomputed only when a step arrives).
  float lo = vmin_, hi = vmax_;
  const size_t nsteps = s->steps.size();
  if (shared_scale && !(range_key_ == k && range_steps_ == nsteps)) {
    lo = INFINITY;
    hi = -INFINITY;
    for (size_t si = 0; si < nsteps; ++si)
      for (int l = 0; l < s->num_layers; ++l)
        if (const SimilarityMap* m = s->map(slot, l, static_cast<int>(si)); m && m->has(pass) && f < m->frames) {
          auto [a, b] = frame_range(*m, pass, f);
          lo = std::min(lo, a);
          hi = std::max(hi, b);
        }
    if (!std::isfinite(lo)) lo = hi = 0;
    range_key_ = k;
    range_steps_ = nsteps;
  }
  const bool rescale = shared_scale && (lo != vmin_ || hi != vmax_);
  if (!(k == key_) || !tex_.valid()) {
    key_ = k;
    tex_.allocate_rgba(k.cols * cw, k.rows * ch, true, 0xFF303030u);
    state_.assign(static_cast<size_t>(k.rows) * k.cols, 0);
  } else if (rescale) {
    std::fill(state_.begin(), state_.end(), 0);
  }
  vmin_ = lo;
  vmax_ = hi;

  int budget = max_cells;
  const int ncols = std::min<int>(k.cols, static_cast<int>(s->steps.size()));
  for (int c = 0; c < ncols && budget > 0; ++c) {
    for (int l = 0; l < k.rows && budget > 0; ++l) {
      uint8_t& st = state_[static_cast<size_t>(l) * k.cols + c];
      if (st) continue;
      const SimilarityMap* m = s->map(slot, l, c);
      if (!m || !m->has(pass) || m->width != cw || m->height != ch || f >= m->frames) continue;
      float a = lo, b = hi;
      if (!shared_scale) std::tie(a, b) = frame_range(*m, pass, f);
      const float* v = m->values(pass).data() + static_cast<size_t>(f) * m->frame_size();
      render::Image rgb = render::apply_colormap(v, cw, ch, a, b, cmap);
      scratch_.resize(static_cast<size_t>(cw) * ch * 4);
      for (size_t i = 0; i < static_cast<size_t>(cw) * ch; ++i) {
        scratch_[i * 4 + 0] = rgb.pixels[i * 3 + 0];
        scratch_[i * 4 + 1] = rgb.pixels[i * 3 + 1];
        scratch_[i * 4 + 2] = rgb.pixels[i * 3 + 2];
        scratch_[i * 4 + 3] = 255;
      }
      tex_.update_rgba(scratch_.data(), c * cw, l * ch, cw, ch);
      st = 1;
      --budget;
    }
  }
}

bool MapAtlas::has(int layer, int column) const {
  if (layer < 0 || column < 0 || layer >= key_.rows || column >= key_.cols || state_.empty()) return false;
  return state_[static_cast<size_t>(layer) * key_.cols + column] != 0;
}

void MapAtlas::uv(int layer, int column, float& u0, float& v0, float& u1, float& v1) const {
  const float W = static_cast<float>(std::max(1, key_.cols * key_.cell_w));
  const float H = static_cast<float>(std::max(1, key_.rows * key_.cell_h));
  u0 = column * key_.cell_w / W;
  u1 = (column + 1) * key_.cell_w / W;
  v0 = layer * key_.cell_h / H;
  v1 = (layer + 1) * key_.cell_h / H;
}

int MapAtlas::pending() const {
  return static_cast<int>(std::count(state_.begin(), state_.end(), 0));
}

}  // namespace focalscope::gui
