// The Edit mode's mask as the user paints it (render::Mask: 0/1 per pixel, one plane or one per frame): brush strokes,
// clear / invert, its coverage, the size check against the source video, and its outline for drawing over videos.
// Plain loops over bytes, so the UI thread can paint a 480p mask every frame.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "render/mask_io.h"

namespace focalscope::session {

// An empty static mask (every pixel background) of w x h.
render::Mask blank_mask(int width, int height);
// Sets (value 1) or clears (0) every pixel whose centre is within `radius` of (cx, cy), in every frame (a mask video's
// frames all get the stroke). Pixel (x, y) has its centre at (x + 0.5, y + 0.5). Returns whether any pixel changed.
bool paint_disc(render::Mask& m, float cx, float cy, float radius, uint8_t value);
// A stroke from (x0, y0) to (x1, y1): discs every half radius, so a fast drag leaves no gaps.
bool paint_stroke(render::Mask& m, float x0, float y0, float x1, float y1, float radius, uint8_t value);
void clear_mask(render::Mask& m);
void invert_mask(render::Mask& m);
// Fraction of foreground pixels over all frames (0 for an empty mask).
double mask_fraction(const render::Mask& m);
// "" when the mask fits a video of w x h, else the one-line error "<name>: is AxB but the video <video> is CxD".
std::string mask_size_error(const render::Mask& m, int width, int height, const std::string& name, const std::string& video);
// The union over frames as one plane (w * h, 0/1): what no frame edits is the background the metrics judge.
std::vector<uint8_t> union_plane(const render::Mask& m);
// The boundary between foreground and background of a w x h plane as line segments in pixel-edge coordinates
// (x0, y0, x1, y1 per segment; runs along a row or column merged), for drawing the outline at any scale.
std::vector<float> mask_outline(const std::vector<uint8_t>& plane, int width, int height);

}  // namespace focalscope::session
