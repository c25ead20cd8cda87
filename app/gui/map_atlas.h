// The layer x step grid as one GL texture atlas: cell (layer, column) holds one latent frame of a keyword's
// similarity map, colourised, at token resolution (drawn scaled with nearest filtering). Cells are uploaded
// incrementally with glTexSubImage2D as steps finish (a bounded number per frame), so a growing run never
// stalls the UI; the colour scale is shared by all cells or per cell.
#pragma once
#include <cstdint>
#include <vector>

#include "app/gui/gl_texture.h"
#include "app/session/run_snapshot.h"
#include "render/colormap.h"

namespace focalscope::gui {

struct AtlasKey {
  uint64_t job = 0;
  int variant = -1, slot = -1, pass = -1, frame = -1, cmap = -1, rows = 0, cols = 0, cell_w = 0, cell_h = 0;
  bool shared = true;
  bool operator==(const AtlasKey& o) const;
};

class MapAtlas {
 public:
  // Brings the texture up to date with s (null: clears). Uploads at most max_cells cells per call.
  void sync(const session::RunSnapshot* s, int slot, session::PassKind pass, int latent_frame, render::Colormap cmap,
            bool shared_scale, int max_cells = 64);

  bool has(int layer, int column) const;
  void uv(int layer, int column, float& u0, float& v0, float& u1, float& v1) const;
  void* texture() const { return tex_.imgui_id(); }
  int rows() const { return key_.rows; }
  int cols() const { return key_.cols; }
  int cell_w() const { return key_.cell_w; }
  int cell_h() const { return key_.cell_h; }
  bool shared() const { return key_.shared; }
  float vmin() const { return vmin_; }  // shared scale (valid when shared())
  float vmax() const { return vmax_; }
  int pending() const;                  // cells not uploaded yet

 private:
  AtlasKey key_;
  GlTexture tex_;
  std::vector<uint8_t> state_;  // per cell: 0 = empty, 1 = uploaded
  float vmin_ = 0, vmax_ = 0;
  AtlasKey range_key_;        // what vmin_/vmax_ were computed for
  size_t range_steps_ = 0;
  std::vector<uint8_t> scratch_;
};

}  // namespace focalscope::gui
