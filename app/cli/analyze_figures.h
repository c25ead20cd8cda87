// The three figures of `focalscope analyze`, built from captured maps and per-layer curves:
//   (a) similarity_mosaic  - paper Fig. 1: rows = layers, columns = evenly spaced denoising steps, each cell one
//                            frame of a keyword's map, min-max normalised per cell (the map Moran's I / std see)
//   (b) layer_curves       - paper Fig. 2: Moran's I and std against layer, median over samples with the
//                            interquartile band, weak layers shaded
//   (c) map_overlays       - maps over the generated frames: rows = a few layers, columns = latent frames
#pragma once
#include <string>
#include <vector>

#include "analysis/layer_stats.h"
#include "analysis/weak_layers.h"
#include "app/cli/analyze_run.h"
#include "render/image.h"

namespace focalscope::cli {

struct FigureOptions {
  int keyword = 0;        // keyword slot shown in (a) and (c)
  int pass = 0;           // pass slot shown in (a) and (c)
  int frame = -1;         // latent frame for (a); -1 = the middle one
  int columns = 8;        // steps in (a) (evenly spaced over the captured steps)
  int overlay_layers = 6; // rows of (c) besides the weak layers
  std::vector<int> weak;  // weak layer ids, marked in (a) and (c)
  // Capture step slots the figure may use (empty = every finished one): Wan2.2 draws (a) and (c) once per expert from
  // the steps that expert ran; `label` then names it in the title.
  std::vector<int> step_slots;
  std::string label;
};

render::Image similarity_mosaic(const SampleOutcome& o, const FigureOptions& f);

// layers: layer ids of the curve set's slots; samples: how many went in (for the caption).
render::Image layer_curves(const analysis::LayerCurves& curves, const analysis::WeakLayerReport& report,
                           const std::vector<int>& layers, const std::string& pass_name);

render::Image map_overlays(const SampleOutcome& o, const FigureOptions& f);

// Pixel frame shown for latent frame f: the last pixel frame that latent frame encodes (Wan's VAE packs frame 0
// alone, then 4 pixel frames per latent frame).
int pixel_frame_of_latent(int latent_frame, int pixel_frames, int temporal_stride);

}  // namespace focalscope::cli
