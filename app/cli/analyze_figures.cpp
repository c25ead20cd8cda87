#include "app/cli/analyze_figures.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "app/cli/media.h"
#include "engine/core/error.h"
#include "render/canvas.h"
#include "render/figures.h"

namespace focalscope::cli {

namespace {

bool is_weak(const std::vector<int>& weak, int layer) { return std::find(weak.begin(), weak.end(), layer) != weak.end(); }

// Min-max normalisation of one frame, as the statistics see it (std_minmax); a constant frame becomes 0.5.
std::vector<float> normalised(const float* v, size_t n) {
  auto [lo, hi] = std::minmax_element(v, v + n);
  std::vector<float> out(v, v + n);
  const float a = *lo, b = *hi;
  for (float& x : out) x = b > a ? (x - a) / (b - a) : 0.5f;
  return out;
}

std::string pass_name(const CaptureLayout& L, int pass) {
  return L.passes.at(static_cast<size_t>(pass)) == PassRole::Cond ? "cond pass" : "uncond pass";
}

void check_figure_input(const SampleOutcome& o, const FigureOptions& f) {
  if (!o.capture) fail("figures", "sample '" + o.sample.id + "' kept no maps");
  const auto& L = o.capture->layout();
  if (f.keyword < 0 || f.keyword >= L.keywords) fail("--figure-keyword", "no keyword slot " + std::to_string(f.keyword));
  if (f.pass < 0 || f.pass >= static_cast<int>(L.passes.size())) fail("figures", "no pass slot " + std::to_string(f.pass));
  if (o.capture->ready_steps() < 1) fail("figures", "sample '" + o.sample.id + "' has no finished step");
}

// The finished step slots the figure may use, ascending; Error when none is left.
std::vector<int> usable_steps(const SimilarityCapture& cap, const FigureOptions& f) {
  std::vector<int> out;
  for (int s = 0; s < cap.ready_steps(); ++s)
    if (f.step_slots.empty() || std::find(f.step_slots.begin(), f.step_slots.end(), s) != f.step_slots.end()) out.push_back(s);
  if (out.empty()) fail("figures", "no finished captured step" + (f.label.empty() ? std::string() : " of the " + f.label));
  return out;
}

std::string suffix(const FigureOptions& f) { return f.label.empty() ? std::string() : ", " + f.label; }

}  // namespace

int pixel_frame_of_latent(int latent_frame, int pixel_frames, int temporal_stride) {
  return std::clamp(latent_frame * temporal_stride, 0, std::max(0, pixel_frames - 1));
}

render::Image similarity_mosaic(const SampleOutcome& o, const FigureOptions& f) {
  check_figure_input(o, f);
  const SimilarityCapture& cap = *o.capture;
  const CaptureLayout& L = cap.layout();
  const int64_t F = L.grid[0], H = L.grid[1], W = L.grid[2];
  const int frame = f.frame < 0 ? static_cast<int>(F / 2) : f.frame;
  if (frame >= F) fail("--frame", "latent frame " + std::to_string(frame) + " is out of range [0, " + std::to_string(F - 1) + "]");
  const std::vector<int> usable = usable_steps(cap, f);
  std::vector<int> cols;
  for (int i : evenly_spaced(static_cast<int>(usable.size()), std::max(1, f.columns))) cols.push_back(usable[static_cast<size_t>(i)]);
  const int rows = static_cast<int>(L.layers.size());

  render::MosaicSpec spec;
  for (int l = 0; l < rows; ++l)
    spec.row_labels.push_back(std::to_string(L.layers[l]) + (is_weak(f.weak, L.layers[l]) ? " *" : ""));
  for (int s : cols) spec.col_labels.push_back(std::to_string(L.steps[s]));
  std::vector<float> buf(static_cast<size_t>(L.map_elems()));
  for (int l = 0; l < rows; ++l)
    for (int s : cols) {
      render::MosaicTile t;
      if (cap.filled(s, f.pass, l)) {
        cap.copy_map(s, f.pass, l, f.keyword, buf.data());
        t.values = normalised(buf.data() + frame * H * W, static_cast<size_t>(H * W));
        t.width = static_cast<int>(W);
        t.height = static_cast<int>(H);
      }
      spec.tiles.push_back(std::move(t));
    }
  const std::string kw = cap.keywords()[static_cast<size_t>(f.keyword)].word;
  spec.title = "cos(V('" + kw + "'), " + capture_source_name(cap.source()) + ")  |  " + o.sample.id + ", latent frame " +
               std::to_string(frame) + "/" + std::to_string(F) + ", " + pass_name(L, f.pass) + suffix(f);
  spec.row_title = f.weak.empty() ? "layer" : "layer (* = weak)";
  spec.col_title = "denoising step";
  spec.colorbar_label = "cosine, min-max per cell";
  spec.vmin = 0;
  spec.vmax = 1;
  // Cells of at least ~48 px; the whole figure stays within ~1000 px wide.
  spec.tile_px = std::clamp(900 / static_cast<int>(cols.size()), 48, 128);
  spec.gap_px = 3;
  return render::draw_heatmap_mosaic(spec);
}

render::Image layer_curves(const analysis::LayerCurves& curves, const analysis::WeakLayerReport& report,
                           const std::vector<int>& layers, const std::string& pass_label) {
  const int n = curves.layers();
  if (static_cast<int>(layers.size()) != n || static_cast<int>(report.moran_spread.size()) != n)
    fail("figures", "layer curves and report disagree on the layer count");
  std::vector<double> x;
  for (int l : layers) x.push_back(l);
  std::vector<render::ShadedRange> shaded;
  for (auto [a, b] : analysis::contiguous_runs(report.weak))
    shaded.push_back({layers[a] - 0.5, layers[b] + 0.5, render::Color{213, 94, 0, 40}, "weak"});
  const std::string samples = std::to_string(curves.samples()) + (curves.samples() == 1 ? " sample" : " samples");

  auto plot = [&](const std::vector<analysis::Spread>& sp, const std::string& what, const std::string& title) {
    // Grey band: min-max over samples; coloured line + band: median and interquartile range.
    render::Series range, med;
    range.name = "min-max over samples";
    range.color = render::Color{120, 120, 120, 255};
    range.thickness = 1.0f;
    med.name = "median, band q1-q3";
    range.x = med.x = x;
    for (const auto& v : sp) {
      range.y.push_back(v.median);
      range.lo.push_back(v.min);
      range.hi.push_back(v.max);
      med.y.push_back(v.median);
      med.lo.push_back(v.q1);
      med.hi.push_back(v.q3);
    }
    render::LinePlotSpec spec;
    spec.title = title;
    spec.x_label = "layer";
    spec.y_label = what;
    if (curves.samples() > 1) spec.series.push_back(range);
    spec.series.push_back(med);
    spec.shaded = shaded;
    spec.width = 1100;
    spec.height = 440;
    spec.x_min = x.front() - 0.5;
    spec.x_max = x.back() + 0.5;
    return render::draw_line_plot(spec);
  };
  render::Image a = plot(report.moran_spread, "Moran's I",
                         "(a) Moran's I per layer  (" + pass_label + ", " + samples + ")");
  if (report.std_spread.empty()) return a;
  render::Image b = plot(report.std_spread, "std of min-max map",
                         "(b) Std of the min-max map per layer  (" + pass_label + ", " + samples + ")");
  render::Image out(std::max(a.width, b.width), a.height + b.height, 3, 255);
  render::blit(out, a, 0, 0);
  render::blit(out, b, 0, a.height);
  return out;
}

render::Image map_overlays(const SampleOutcome& o, const FigureOptions& f) {
  check_figure_input(o, f);
  if (!o.video.defined()) fail("figures", "sample '" + o.sample.id + "' kept no video");
  const SimilarityCapture& cap = *o.capture;
  const CaptureLayout& L = cap.layout();
  const int64_t F = L.grid[0], H = L.grid[1], W = L.grid[2];
  const std::vector<render::Image> frames = video_to_images(o.video);
  const int stride = o.params.lat_f > 1 ? (o.params.frames - 1) / static_cast<int>(o.params.lat_f - 1) : 1;

  std::set<int> row_set;
  for (int l : evenly_spaced(static_cast<int>(L.layers.size()), std::max(1, f.overlay_layers))) row_set.insert(l);
  for (int w : f.weak)
    if (int slot = L.layer_slot(w); slot >= 0) row_set.insert(slot);
  const std::vector<int> rows(row_set.begin(), row_set.end());
  const std::vector<int> cols = evenly_spaced(static_cast<int>(F), 8);
  const int s = usable_steps(cap, f).back();  // the last usable captured step: closest to the video shown underneath

  render::MosaicSpec spec;
  // First row: the frames alone (an all-NaN map leaves the background untouched), so the overlays can be compared.
  spec.row_labels.push_back("video");
  for (int c : cols) {
    render::MosaicTile t;
    t.background = frames[static_cast<size_t>(pixel_frame_of_latent(c, static_cast<int>(frames.size()), stride))];
    t.values.assign(static_cast<size_t>(H * W), NAN);
    t.width = static_cast<int>(W);
    t.height = static_cast<int>(H);
    spec.tiles.push_back(std::move(t));
  }
  for (int l : rows) spec.row_labels.push_back(std::to_string(L.layers[l]) + (is_weak(f.weak, L.layers[l]) ? " *" : ""));
  for (int c : cols)
    spec.col_labels.push_back("frame " + std::to_string(pixel_frame_of_latent(c, static_cast<int>(frames.size()), stride)));
  std::vector<float> buf(static_cast<size_t>(L.map_elems()));
  for (int l : rows)
    for (int c : cols) {
      render::MosaicTile t;
      t.background = frames[static_cast<size_t>(pixel_frame_of_latent(c, static_cast<int>(frames.size()), stride))];
      if (cap.filled(s, f.pass, l)) {
        cap.copy_map(s, f.pass, l, f.keyword, buf.data());
        t.values = normalised(buf.data() + c * H * W, static_cast<size_t>(H * W));
        t.width = static_cast<int>(W);
        t.height = static_cast<int>(H);
      }
      spec.tiles.push_back(std::move(t));
    }
  const std::string kw = cap.keywords()[static_cast<size_t>(f.keyword)].word;
  spec.title = "'" + kw + "' map over the generated video  |  " + o.sample.id + ", step " + std::to_string(L.steps[s]) +
               ", " + pass_name(L, f.pass) + suffix(f);
  spec.row_title = f.weak.empty() ? "layer" : "layer (* = weak)";
  spec.col_title = "generated frame (one per latent frame)";
  spec.colorbar_label = "cosine, min-max per cell";
  spec.vmin = 0;
  spec.vmax = 1;
  spec.tile_px = std::clamp(960 / static_cast<int>(cols.size()), 96, 192);
  spec.upsample = render::Upsample::Bilinear;
  spec.overlay_opacity = 0.55f;
  return render::draw_heatmap_mosaic(spec);
}

}  // namespace focalscope::cli
