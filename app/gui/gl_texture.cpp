#include "app/gui/gl_texture.h"

#include <GL/gl.h>

#include <utility>

namespace focalscope::gui {

GlTexture::~GlTexture() { reset(); }

GlTexture::GlTexture(GlTexture&& o) noexcept { *this = std::move(o); }

GlTexture& GlTexture::operator=(GlTexture&& o) noexcept {
  if (this != &o) {
    reset();
    std::swap(id_, o.id_);
    std::swap(w_, o.w_);
    std::swap(h_, o.h_);
    nearest_ = o.nearest_;
  }
  return *this;
}

void GlTexture::reset() {
  if (id_) {
    GLuint id = id_;
    glDeleteTextures(1, &id);
  }
  id_ = 0;
  w_ = h_ = 0;
}

static void set_filter(bool nearest) {
  const GLint f = nearest ? GL_NEAREST : GL_LINEAR;
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, f);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, f);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, 0x812F /*GL_CLAMP_TO_EDGE*/);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, 0x812F);
}

void GlTexture::allocate_rgba(int w, int h, bool nearest, uint32_t fill) {
  if (w <= 0 || h <= 0) {
    reset();
    return;
  }
  std::vector<uint32_t> px(static_cast<size_t>(w) * h, fill);
  upload_rgba(reinterpret_cast<const uint8_t*>(px.data()), w, h, nearest);
}

void GlTexture::upload_rgba(const uint8_t* rgba, int w, int h, bool nearest) {
  if (w <= 0 || h <= 0) return;
  if (!id_) {
    GLuint id = 0;
    glGenTextures(1, &id);
    id_ = id;
  }
  glBindTexture(GL_TEXTURE_2D, id_);
  set_filter(nearest);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
  if (w != w_ || h != h_) {
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, w, h, 0, GL_RGBA, GL_UNSIGNED_BYTE, rgba);
    w_ = w;
    h_ = h;
  } else {
    glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, rgba);
  }
  nearest_ = nearest;
}

void GlTexture::update_rgba(const uint8_t* rgba, int x, int y, int w, int h) {
  if (!id_ || w <= 0 || h <= 0) return;
  glBindTexture(GL_TEXTURE_2D, id_);
  glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
  glTexSubImage2D(GL_TEXTURE_2D, 0, x, y, w, h, GL_RGBA, GL_UNSIGNED_BYTE, rgba);
}

void GlTexture::upload(const render::Image& img, bool nearest) {
  if (img.empty()) return;
  if (img.channels == 4) {
    upload_rgba(img.pixels.data(), img.width, img.height, nearest);
    return;
  }
  render::Image rgba = render::convert_channels(img, 4);
  upload_rgba(rgba.pixels.data(), rgba.width, rgba.height, nearest);
}

}  // namespace focalscope::gui
