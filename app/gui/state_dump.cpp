#include "app/gui/state_dump.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/gui/panels.h"
#include "app/session/edit_mask.h"
#include "engine/core/error.h"
#include "render/colormap.h"

namespace focalscope::gui {

void write_state_json(const AppState& st, const std::string& path) {
  nlohmann::json j;
  j["format"] = "focalscope.gui_state/1";
  nlohmann::json panes = nlohmann::json::object();
  for (int p = 0; p < static_cast<int>(Pane::Count); ++p) {
    if (is_edit_pane(static_cast<Pane>(p)) != st.settings.view.edit_mode) continue;  // the mode's panes only
    panes[pane_title(static_cast<Pane>(p))] = {st.pane_rect[p][0], st.pane_rect[p][1], st.pane_rect[p][2],
                                               st.pane_rect[p][3]};
  }
  j["panes"] = panes;
  auto rect = [](const float* r) { return nlohmann::json::array({r[0], r[1], r[2], r[3]}); };
  j["grid_cells"] = rect(st.grid_rect);
  j["large_view_image"] = rect(st.view_rect);
  j["videos"] = {rect(st.video_rect[0]), rect(st.video_rect[1])};
  j["colormap"] = render::colormap_name(static_cast<render::Colormap>(st.settings.view.colormap));
  j["overlay_opacity"] = st.settings.view.overlay_opacity;
  nlohmann::json runs = nlohmann::json::array();
  for (int v = 0; v < session::kNumVariants; ++v) {
    const auto& s = st.snap[v];
    if (!s) continue;
    runs.push_back({{"variant", session::variant_name(s->variant)},
                    {"state", session::run_state_name(s->state)},
                    {"error", s->error},
                    {"steps_done", s->steps_done},
                    {"steps_total", s->steps_total},
                    {"captured_steps", s->steps.size()},
                    {"layers", s->num_layers},
                    {"frames", s->frames ? s->frames->size() : 0},
                    {"weak_layers", s->weak_layers},
                    {"guidance_applied", s->guidance_applied},
                    {"guidance_noops", s->guidance_noops},
                    {"tau_sel_ran", s->guidance_ran.tau_sel},
                    {"tau_cache_ran", s->guidance_ran.tau_cache},
                    {"hallucination_window", s->hallucination.window},
                    {"hallucination_steps", s->hallucination.steps()},
                    {"keywords", [&] {  // the prompt's chips: Eq. 6 score (null when not computed) and selection
                       nlohmann::json k = nlohmann::json::array();
                       for (const auto& w : s->keywords)
                         k.push_back({{"word", w.word}, {"clip_score", std::isfinite(w.clip_score) ? nlohmann::json(w.clip_score) : nlohmann::json()},
                                      {"selected", w.selected}});
                       return k;
                     }()},
                    {"step_experts", [&] {  // Wan2.2: 1 high-noise, 0 low-noise per captured step; -1 one DiT
                       std::vector<int> e;
                       for (const auto& st : s->steps) e.push_back(st->expert);
                       return e;
                     }()}});
  }
  j["runs"] = runs;
  j["keyword"] = st.keyword;
  j["ablation"] = {{"path", st.ablation.result ? st.ablation.result->path : std::string()},
                   {"layers", st.ablation.result ? st.ablation.result->layers.size() : 0},
                   {"error", st.ablation.error}};
  j["large_view"] = {{"layer", st.large.layer}, {"column", st.large.column}, {"frame", st.large.frame},
                     {"tab", st.large_tab_shown == 1 ? "hallucination" : "map"}};
  j["hallucination_overlay"] = st.settings.view.show_hallucination;
  j["mode"] = st.settings.view.edit_mode ? "edit" : "generate";
  {
    // The Edit mode: what is loaded and painted, the last one-line error, and the last edit's state and numbers
    // (NaN metrics are written as null).
    const EditState& e = st.edit;
    const session::EditSnapshot* s = e.snap.get();
    nlohmann::json alpha = nlohmann::json::array(), sigma2 = nlohmann::json::array();
    if (s) {
      for (const auto& k : s->kvlock) alpha.push_back(k.alpha);
      for (double x : s->sigma2) sigma2.push_back(x);  // NaN (step 0) -> null
    }
    j["edit"] = {{"video", e.video_path},
                 {"video_size", {e.reference ? e.reference->width : 0, e.reference ? e.reference->height : 0}},
                 {"mask_name", e.mask_name},
                 {"mask_frames", e.mask.frames},
                 {"mask_fraction", session::mask_fraction(e.mask)},
                 {"error", e.error},
                 {"guidance", session::edit_mode_string(st.settings.edit)},
                 {"state", s ? session::run_state_name(s->state) : "none"},
                 {"run_error", s ? s->error : std::string()},
                 {"mode_ran", s ? s->mode : std::string()},
                 {"steps_done", s ? s->steps_done : 0},
                 {"steps_total", s ? s->steps_total : 0},
                 {"frames", s && s->edit_frames ? s->edit_frames->size() : 0},
                 {"run_mask_fraction", s ? s->mask_fraction : 0.0},
                 {"bg_psnr", s ? s->bg_psnr : NAN},
                 {"bg_ssim", s ? s->bg_ssim : NAN},
                 {"alpha", alpha},
                 {"sigma2", sigma2},
                 {"tau", s ? s->tau : 0.0},
                 {"kappa", s ? s->kappa : 0},
                 {"noops", s ? s->noops : std::vector<std::string>{}},
                 {"reference_image", rect(e.ref_rect)},
                 {"videos", {rect(e.video_rect[0]), rect(e.video_rect[1])}},
                 {"plot", rect(e.plot_rect)}};
  }
  j["fps"] = st.stats.current_fps();
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) fail(path, "cannot write");
}

}  // namespace focalscope::gui
