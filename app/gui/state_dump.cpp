#include "app/gui/state_dump.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/gui/panels.h"
#include "engine/core/error.h"
#include "render/colormap.h"

namespace focalscope::gui {

void write_state_json(const AppState& st, const std::string& path) {
  nlohmann::json j;
  j["format"] = "focalscope.gui_state/1";
  nlohmann::json panes = nlohmann::json::object();
  for (int p = 0; p < static_cast<int>(Pane::Count); ++p)
    panes[pane_title(static_cast<Pane>(p))] = {st.pane_rect[p][0], st.pane_rect[p][1], st.pane_rect[p][2],
                                               st.pane_rect[p][3]};
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
                    {"hallucination_steps", s->hallucination.steps()}});
  }
  j["runs"] = runs;
  j["keyword"] = st.keyword;
  j["ablation"] = {{"path", st.ablation.result ? st.ablation.result->path : std::string()},
                   {"layers", st.ablation.result ? st.ablation.result->layers.size() : 0},
                   {"error", st.ablation.error}};
  j["large_view"] = {{"layer", st.large.layer}, {"column", st.large.column}, {"frame", st.large.frame},
                     {"tab", st.large_tab_shown == 1 ? "hallucination" : "map"}};
  j["hallucination_overlay"] = st.settings.view.show_hallucination;
  j["fps"] = st.stats.current_fps();
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) fail(path, "cannot write");
}

}  // namespace focalscope::gui
