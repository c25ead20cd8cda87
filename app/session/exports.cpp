#include "app/session/exports.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "render/figures.h"
#include "render/image.h"
#ifdef FOCALSCOPE_WITH_VIDEO
#include "render/video_writer.h"
#endif

namespace focalscope::session {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void ensure_parent(const std::string& path) {
  std::error_code ec;
  auto parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) fail(parent.string(), "cannot create directory (" + ec.message() + ")");
}

const std::vector<render::Image>& frames_of(const RunSnapshot& s, const std::string& what) {
  if (!s.frames || s.frames->empty()) fail(what, std::string("the ") + variant_name(s.variant) + " run has no video yet");
  return *s.frames;
}

std::string fmt(double v) {
  if (!std::isfinite(v)) return "nan";
  char b[40];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

std::string slot_word(const RunSnapshot& s, int slot) {
  if (slot < 0 || slot >= static_cast<int>(s.capture_keywords.size())) return "?";
  int k = s.capture_keywords[slot];
  return k >= 0 && k < static_cast<int>(s.keywords.size()) ? s.keywords[k].word : "?";
}

void require_maps(const RunSnapshot& s, int slot, const std::string& what) {
  if (s.steps.empty() || slot < 0 || slot >= static_cast<int>(s.capture_keywords.size()))
    fail(what, "no similarity maps captured for this keyword yet");
}

}  // namespace

bool video_export_available() {
#ifdef FOCALSCOPE_WITH_VIDEO
  return true;
#else
  return false;
#endif
}

void export_video(const std::string& path, const RunSnapshot& s) {
  const auto& frames = frames_of(s, path);
  ensure_parent(path);
#ifdef FOCALSCOPE_WITH_VIDEO
  render::write_mp4(path, frames, s.fps);
#else
  (void)frames;
  fail(path, "this build has no FFmpeg (FOCALSCOPE_VIDEO=OFF): export PNG frames instead");
#endif
}

void export_ab_video(const std::string& path, const RunSnapshot& a, const RunSnapshot& b) {
  const auto& fa = frames_of(a, path);
  const auto& fb = frames_of(b, path);
  const int gap = 4;
  const int w = fa[0].width + gap + fb[0].width;
  const int h = std::max(fa[0].height, fb[0].height);
  std::vector<render::Image> out;
  const size_t n = std::max(fa.size(), fb.size());
  for (size_t i = 0; i < n; ++i) {
    render::Image img(w, h, 3, 0);
    render::blit(img, fa[std::min(i, fa.size() - 1)], 0, 0);
    render::blit(img, fb[std::min(i, fb.size() - 1)], fa[0].width + gap, 0);
    out.push_back(std::move(img));
  }
  ensure_parent(path);
#ifdef FOCALSCOPE_WITH_VIDEO
  render::write_mp4(path, out, a.fps);
#else
  fail(path, "this build has no FFmpeg (FOCALSCOPE_VIDEO=OFF)");
#endif
}

void export_frames_png(const std::string& dir, const RunSnapshot& s) {
  const auto& frames = frames_of(s, dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir, "cannot create directory (" + ec.message() + ")");
  for (size_t i = 0; i < frames.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "frame_%03zu.png", i);
    render::save_png((fs::path(dir) / name).string(), frames[i]);
  }
}

void export_grid_png(const std::string& path, const RunSnapshot& s, int slot, PassKind pass, render::Colormap cmap) {
  require_maps(s, slot, path);
  render::MosaicSpec spec;
  spec.cmap = cmap;
  spec.title = "'" + slot_word(s, slot) + "' similarity, " + variant_name(s.variant) +
               (pass == PassKind::Cond ? " (cond)" : " (uncond)") + ", frame 0";
  spec.colorbar_label = "cosine similarity";
  const std::vector<int> weak_set = marked_weak_layers(s);
  for (int l = 0; l < s.num_layers; ++l) {
    bool weak = std::find(weak_set.begin(), weak_set.end(), l) != weak_set.end();
    spec.row_labels.push_back(std::to_string(l) + (weak ? "*" : ""));
  }
  for (const auto& st : s.steps) spec.col_labels.push_back(std::to_string(st->step));
  for (int l = 0; l < s.num_layers; ++l) {
    for (size_t si = 0; si < s.steps.size(); ++si) {
      render::MosaicTile t;
      const SimilarityMap* m = s.map(slot, l, static_cast<int>(si));
      if (m && m->has(pass)) {
        t.width = m->width;
        t.height = m->height;
        const auto& v = m->values(pass);
        t.values.assign(v.begin(), v.begin() + m->frame_size());
      } else {
        t.width = std::max(1, s.lat_w / 2);
        t.height = std::max(1, s.lat_h / 2);
      }
      spec.tiles.push_back(std::move(t));
    }
  }
  spec.tile_px = 64;
  ensure_parent(path);
  render::save_png(path, render::draw_heatmap_mosaic(spec));
}

void export_curves_png(const std::string& path, const RunSnapshot& s, int slot, PassKind pass) {
  require_maps(s, slot, path);
  LayerCurves c = layer_curves(s, slot, pass);
  render::LinePlotSpec spec;
  spec.title = "'" + slot_word(s, slot) + "': per-layer statistics over " + std::to_string(c.steps_used) + " steps (" +
               variant_name(s.variant) + ")";
  spec.x_label = "layer";
  spec.y_label = "value";
  render::Series mi{"Moran's I", std::nullopt, c.moran};
  render::Series sd{"std (min-max normalised)", std::nullopt, c.std_dev};
  spec.series = {mi, sd};
  const std::vector<int> weak_set = marked_weak_layers(s);
  for (int l : weak_set) spec.shaded.push_back({l - 0.5, l + 0.5, render::Color{213, 94, 0, 40}, ""});
  if (!weak_set.empty()) spec.shaded.front().label = "weak";
  ensure_parent(path);
  render::save_png(path, render::draw_line_plot(spec));
}

void export_map_png(const std::string& path, const RunSnapshot& s, int slot, int layer, int step_index, int pixel_frame,
                    PassKind pass, float opacity, render::Colormap cmap) {
  const SimilarityMap* m = s.map(slot, layer, step_index);
  if (!m || !m->has(pass)) fail(path, "no map at layer " + std::to_string(layer) + ", step column " + std::to_string(step_index));
  const int lf = std::clamp(latent_frame_of(pixel_frame), 0, m->frames - 1);
  const float* v = m->values(pass).data() + static_cast<size_t>(lf) * m->frame_size();
  render::Image base;
  if (s.frames && !s.frames->empty()) {
    base = (*s.frames)[std::clamp<size_t>(pixel_frame, 0, s.frames->size() - 1)];
  } else if (s.reference) {
    base = render::resize_bilinear(*s.reference, s.width > 0 ? s.width : s.reference->width,
                                   s.height > 0 ? s.height : s.reference->height);
  } else {
    base = render::Image(m->width * 16, m->height * 16, 3, 0);
  }
  ensure_parent(path);
  render::save_png(path, render::overlay_heatmap(base, v, m->width, m->height, opacity, cmap, render::Upsample::Nearest,
                                                 m->vmin(pass), m->vmax(pass)));
}

void export_metrics_csv(const std::string& path, const std::vector<const RunSnapshot*>& runs) {
  ensure_parent(path);
  std::ofstream out(path);
  if (!out) fail(path, "cannot write");
  out << "variant,guidance_applied,keyword,layer,weak,step,timestep,pass,morans_i,morans_i_row_standardised,std_minmax,"
         "min,max\n";
  for (const RunSnapshot* s : runs) {
    if (!s) continue;
    const std::vector<int> weak_set = marked_weak_layers(*s);
    for (size_t slot = 0; slot < s->capture_keywords.size(); ++slot) {
      for (int l = 0; l < s->num_layers; ++l) {
        const bool weak = std::find(weak_set.begin(), weak_set.end(), l) != weak_set.end();
        for (size_t si = 0; si < s->steps.size(); ++si) {
          const SimilarityMap* m = s->map(static_cast<int>(slot), l, static_cast<int>(si));
          if (!m) continue;
          for (PassKind p : {PassKind::Cond, PassKind::Uncond}) {
            if (!m->has(p)) continue;
            const auto& st = m->stats(p);
            out << (s->variant == Variant::Baseline ? "baseline" : "guided") << ',' << (s->guidance_applied ? 1 : 0)
                << ',' << slot_word(*s, static_cast<int>(slot)) << ',' << l << ',' << (weak ? 1 : 0) << ','
                << s->steps[si]->step << ',' << fmt(s->steps[si]->timestep) << ','
                << (p == PassKind::Cond ? "cond" : "uncond") << ',' << fmt(st.morans_i) << ','
                << fmt(st.morans_i_row_standardised) << ',' << fmt(st.std_minmax) << ',' << fmt(m->vmin(p)) << ','
                << fmt(m->vmax(p)) << '\n';
          }
        }
      }
    }
  }
  if (!out) fail(path, "write failed");
}

void export_metrics_json(const std::string& path, const std::vector<const RunSnapshot*>& runs) {
  json j;
  j["format"] = "focalscope.metrics/1";
  j["runs"] = json::array();
  for (const RunSnapshot* s : runs) {
    if (!s) continue;
    json r;
    r["variant"] = s->variant == Variant::Baseline ? "baseline" : "guided";
    r["state"] = run_state_name(s->state);
    r["inputs"] = to_json(s->inputs);
    r["guidance"] = to_json(s->guidance);
    r["guidance_applied"] = s->guidance_applied;
    r["model"] = {{"name", s->model_name}, {"dir", s->model_dir}, {"layers", s->num_layers}};
    r["params"] = {{"steps", s->steps_total}, {"frames", s->frames_total}, {"fps", s->fps}, {"cfg", s->cfg},
                   {"width", s->width},       {"height", s->height},       {"latent", {s->lat_f, s->lat_h, s->lat_w}}};
    r["seconds"] = {{"load", s->seconds_load},
                    {"encode", s->seconds_encode},
                    {"sample", s->seconds_sample},
                    {"decode", s->seconds_decode}};
    r["weak_layers"] = s->weak_layers;
    r["model_weak_layers"] = s->model_weak_layers;
    r["guidance_weak_layers"] = s->guidance_weak_layers;
    r["guided_keywords"] = s->guided_keywords;
    json kws = json::array();
    for (const auto& k : s->keywords)
      kws.push_back({{"word", k.word},
                     {"clip_score", std::isfinite(k.clip_score) ? json(k.clip_score) : json(nullptr)},
                     {"selected", k.selected},
                     {"captured", k.captured}});
    r["keywords"] = kws;
    r["sampled_steps"] = s->sampled_steps;
    json curves = json::object();
    for (size_t slot = 0; slot < s->capture_keywords.size(); ++slot) {
      json per_pass = json::object();
      for (PassKind p : {PassKind::Cond, PassKind::Uncond}) {
        LayerCurves c = layer_curves(*s, static_cast<int>(slot), p);
        if (c.steps_used == 0) continue;
        auto clean = [](const std::vector<double>& v) {
          json a = json::array();
          for (double x : v) a.push_back(std::isfinite(x) ? json(x) : json(nullptr));
          return a;
        };
        per_pass[p == PassKind::Cond ? "cond" : "uncond"] = {
            {"morans_i", clean(c.moran)}, {"std_minmax", clean(c.std_dev)}, {"steps_used", c.steps_used}};
      }
      curves[slot_word(*s, static_cast<int>(slot))] = per_pass;
    }
    r["layer_curves"] = curves;
    j["runs"].push_back(r);
  }
  ensure_parent(path);
  std::ofstream out(path);
  if (!out) fail(path, "cannot write");
  out << j.dump(2) << "\n";
  if (!out) fail(path, "write failed");
}

std::vector<std::string> export_all(const std::string& dir, const RunSnapshot* baseline, const RunSnapshot* guided,
                                    const std::string& word, PassKind pass, render::Colormap cmap, float opacity) {
  std::vector<std::string> wrote;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir, "cannot create directory (" + ec.message() + ")");
  auto p = [&](const std::string& name) { return (fs::path(dir) / name).string(); };
  std::vector<const RunSnapshot*> runs;
  for (const RunSnapshot* s : {baseline, guided}) {
    if (!s || s->steps_done == 0) continue;
    runs.push_back(s);
    const std::string tag = s->variant == Variant::Baseline ? "baseline" : "guided";
    if (s->frames && !s->frames->empty()) {
      if (video_export_available()) {
        export_video(p(tag + ".mp4"), *s);
        wrote.push_back(p(tag + ".mp4"));
      }
      export_frames_png(p(tag + "_frames"), *s);
      wrote.push_back(p(tag + "_frames/"));
    }
    const int slot = s->map_slot(word) >= 0 ? s->map_slot(word) : (s->capture_keywords.empty() ? -1 : 0);
    if (slot >= 0 && !s->steps.empty()) {
      export_grid_png(p(tag + "_grid.png"), *s, slot, pass, cmap);
      export_curves_png(p(tag + "_curves.png"), *s, slot, pass);
      export_map_png(p(tag + "_map_last_step.png"), *s, slot, 0, static_cast<int>(s->steps.size()) - 1, 0, pass, opacity,
                     cmap);
      wrote.push_back(p(tag + "_grid.png"));
      wrote.push_back(p(tag + "_curves.png"));
      wrote.push_back(p(tag + "_map_last_step.png"));
    }
    // KV-Lock's hallucination metric of the run: per-step sigma2 (CSV) and with the per-step maps (JSON).
    if (s->hallucination.steps() > 0) {
      for (const bool csv : {true, false}) {
        const std::string path = p(tag + (csv ? "_hallucination.csv" : "_hallucination.json"));
        std::ofstream out(path);
        out << (csv ? hallucination_csv(s->hallucination) : hallucination_json(s->hallucination, s->hallucination_tau));
        if (!out) fail(path, "write failed");
        wrote.push_back(path);
      }
    }
  }
  if (baseline && guided && baseline->frames && guided->frames && video_export_available()) {
    export_ab_video(p("ab_side_by_side.mp4"), *baseline, *guided);
    wrote.push_back(p("ab_side_by_side.mp4"));
  }
  if (!runs.empty()) {
    export_metrics_csv(p("metrics.csv"), runs);
    export_metrics_json(p("metrics.json"), runs);
    wrote.push_back(p("metrics.csv"));
    wrote.push_back(p("metrics.json"));
  }
  return wrote;
}

}  // namespace focalscope::session
