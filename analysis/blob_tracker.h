// Tracks the annotated objects of a Shapes case through segmented frames. Frame 0 is matched against the
// annotated start positions; later frames follow each object from where it was last seen. Every frame is
// one joint assignment (each blob to at most one object), scored by distance, colour, shape and area
// change, so a distractor of the same colour cannot stand in for the actor.
#pragma once
#include <vector>

#include "analysis/blob_segmentation.h"

namespace focalscope::analysis {

struct TrackSpec {
  int color = -1;             // named colour index it starts with
  bool any_color = false;     // may change colour (change_color, fade_out): any named colour matches after frame 0
  ShapeClass shape = ShapeClass::Unknown;
  bool shape_stable = true;   // false while spinning or partly hidden: shape mismatches cost nothing
  double x = 0, y = 0;        // annotated start position (frame pixels)
  double size = 0;            // annotated size (frame pixels)
  double area = 0;            // expected pixel area at the start
};

// assign[object][frame]: index into frames[frame].blobs, or -1 where the object was not found.
std::vector<std::vector<int>> track_objects(const std::vector<FrameBlobs>& frames, const std::vector<TrackSpec>& specs,
                                            double gate_px);

}  // namespace focalscope::analysis
