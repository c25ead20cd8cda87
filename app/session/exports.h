// Everything the app can save, written from run snapshots only (so the GUI, scripts and exports agree):
// the video (MP4, or PNG frames without FFmpeg), an A/B side-by-side video, the layer x step map mosaic
// (Fig. 1), the per-layer curves (Fig. 2), one map over its frame, and the metrics as CSV and JSON.
// Every function throws Error naming the file on failure.
#pragma once
#include <string>
#include <vector>

#include "app/session/run_snapshot.h"
#include "render/colormap.h"

namespace focalscope::session {

bool video_export_available();  // built with FFmpeg (FOCALSCOPE_VIDEO)

void export_video(const std::string& path, const RunSnapshot& s);
// Baseline | guided, side by side with a 4-pixel gap, frame by frame (the shorter one holds its last frame).
void export_ab_video(const std::string& path, const RunSnapshot& a, const RunSnapshot& b);
void export_frames_png(const std::string& dir, const RunSnapshot& s);

void export_grid_png(const std::string& path, const RunSnapshot& s, int slot, PassKind pass,
                     render::Colormap cmap = render::Colormap::Viridis);
void export_curves_png(const std::string& path, const RunSnapshot& s, int slot, PassKind pass);
void export_map_png(const std::string& path, const RunSnapshot& s, int slot, int layer, int step_index,
                    int pixel_frame, PassKind pass, float opacity, render::Colormap cmap = render::Colormap::Viridis);

// One row per (variant, keyword, layer, step, pass): the map's Moran's I (both weightings) and std.
void export_metrics_csv(const std::string& path, const std::vector<const RunSnapshot*>& runs);
void export_metrics_json(const std::string& path, const std::vector<const RunSnapshot*>& runs);

// All of the above for the finished runs into dir; returns the files written (skips what a run lacks).
std::vector<std::string> export_all(const std::string& dir, const RunSnapshot* baseline, const RunSnapshot* guided,
                                    const std::string& word, PassKind pass, render::Colormap cmap, float opacity);

}  // namespace focalscope::session
