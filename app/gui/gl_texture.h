// OpenGL textures for the app: RGB(A) images (frames, thumbnails) and colourised similarity maps.
// Only GL 1.1 entry points (glTexImage2D/glTexSubImage2D), so no loader is needed beyond libGL.
#pragma once
#include <cstdint>
#include <vector>

#include "render/image.h"

namespace focalscope::gui {

class GlTexture {
 public:
  GlTexture() = default;
  ~GlTexture();
  GlTexture(const GlTexture&) = delete;
  GlTexture& operator=(const GlTexture&) = delete;
  GlTexture(GlTexture&& o) noexcept;
  GlTexture& operator=(GlTexture&& o) noexcept;

  // (Re)allocates when the size changes; nearest filtering keeps token cells crisp, linear smooths frames.
  void upload(const render::Image& img, bool nearest = false);
  // RGBA8 pixels, w x h.
  void upload_rgba(const uint8_t* rgba, int w, int h, bool nearest = true);
  // Replaces a sub-rectangle of an allocated RGBA texture.
  void update_rgba(const uint8_t* rgba, int x, int y, int w, int h);
  void allocate_rgba(int w, int h, bool nearest = true, uint32_t fill = 0);
  void reset();

  bool valid() const { return id_ != 0; }
  void* imgui_id() const { return reinterpret_cast<void*>(static_cast<intptr_t>(id_)); }
  int width() const { return w_; }
  int height() const { return h_; }

 private:
  unsigned id_ = 0;
  int w_ = 0, h_ = 0;
  bool nearest_ = true;
};

}  // namespace focalscope::gui
