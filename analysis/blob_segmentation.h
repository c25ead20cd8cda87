// Colour segmentation of Shapes-world frames into blobs: every pixel is labelled with the nearest named
// colour (or background), thin slivers and specks are removed by a morphological opening, and each 8-connected
// component becomes a Blob with centroid, area, bounding box, compactness and a shape class.
// The background model is fitted to the reference frame, so a pixel counts as an object only if it is
// clearly nearer a named colour than the background at that place (tolerates blur and colour drift).
#pragma once
#include <array>
#include <string>
#include <vector>

#include "engine/shapes/rgb_frame.h"

namespace focalscope::analysis {

using shapes::RgbFrame;

struct SegmentParams {
  double max_color_dist = 80;  // RGB distance to the nearest named colour (blur / drift tolerance)
  double bg_ratio = 0.8;       // ...and at most this fraction of the distance to the local background
  bool open_masks = true;      // plus-shaped opening: removes 1-2 px slivers (edges between touching objects) and specks
  int min_blob_area = 4;       // smaller components are ignored
};

// Smooth per-channel background, quadratic in x and y, fitted to the pixels of a frame that are not objects.
struct BackgroundModel {
  int width = 0, height = 0;
  std::array<std::array<double, 6>, 3> coef{};  // 1, x, y, x^2, xy, y^2 (normalised coordinates)
  std::vector<float> image;                      // the model evaluated at every pixel (RGB), filled by fit_background
  std::vector<float> palette_gap;                // per pixel, distance from the model to the nearest named colour
  std::array<double, 3> at(int x, int y) const;
};

BackgroundModel fit_background(const RgbFrame& ref, const SegmentParams& p = {});

// Per-pixel label: index into shapes::named_colors(), or -1 for background.
std::vector<int> label_pixels(const RgbFrame& f, const BackgroundModel& bg, const SegmentParams& p = {});

enum class ShapeClass { Unknown, Circle, Square, Triangle, TriangleDown, Diamond };
std::string shape_class_name(ShapeClass s);
// The class an upright object of this shape shows ("triangle" -> Triangle, ...).
ShapeClass shape_class_of(const std::string& shape);

struct Blob {
  int color = -1;  // named colour index
  int area = 0;
  double cx = 0, cy = 0;
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // inclusive bounding box
  double fill = 0;                     // area / bounding-box area
  double compactness = 0;              // 4*pi*area / perimeter^2 over pixel edges (1 ~ disc, low ~ ragged)
  ShapeClass shape = ShapeClass::Unknown;
  double shape_iou = 0;                // overlap with the ideal outline of `shape` (0..1)
  std::array<double, 6> ious{};        // overlap with every outline, indexed by ShapeClass
  std::array<double, 3> mean_rgb{};    // mean colour of its pixels (set by segment_frame)
  std::vector<int> pixels;             // y * w + x
};

std::vector<Blob> find_blobs(const std::vector<int>& labels, int w, int h, const SegmentParams& p = {});

// Shape class of a blob: the ideal outline (circle, square, diamond, triangle up or down, of the blob's area,
// centred on its centroid) that overlaps it best, by intersection over union. Template matching rather than
// box-fill ratios, because blur rounds corners and apexes but leaves the overall outline. Sets b.shape and
// b.shape_iou; Unknown below min_iou (ragged or elongated blobs) or for blobs too small to tell.
void classify_shape(Blob& b, int img_w, double min_iou = 0.6);

// Whether the blob shows shape class c: c overlaps it well (>= min_iou) and nearly as well as the best class
// (within slack). The slack keeps a blurred small diamond (whose tips round off towards a circle) a diamond
// without letting a clear square pass as one.
bool blob_shows(const Blob& b, ShapeClass c, double slack = 0.06, double min_iou = 0.6);

// Everything the checker needs from one frame.
struct FrameBlobs {
  std::vector<int> labels;  // after opening
  std::vector<Blob> blobs;
};
FrameBlobs segment_frame(const RgbFrame& f, const BackgroundModel& bg, const SegmentParams& p = {});

}  // namespace focalscope::analysis
