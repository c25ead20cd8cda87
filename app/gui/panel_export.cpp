// Export (MP4, PNG frames / maps / figures, CSV / JSON metrics, window screenshot) and the message log.
// File writing runs on a background task over immutable snapshots, so encoding a video never stalls the UI.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>

#include "app/gui/panels.h"
#include "app/gui/widgets.h"
#include "app/session/exports.h"

namespace focalscope::gui {

using session::SnapshotPtr;

namespace {

SnapshotPtr best(const AppState& st, int v) {
  if (st.snap[v] && st.snap[v]->steps_done > 0) return st.snap[v];
  return st.done[v];
}

std::string join(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

void launch(AppState& st, std::function<std::string()> job) {
  if (st.export_task.valid()) {
    st.error("an export is still running");
    return;
  }
  st.export_task = std::async(std::launch::async, [job]() -> std::string {
    try {
      return job();
    } catch (const std::exception& e) {
      return std::string("error: ") + e.what();
    }
  });
}

}  // namespace

void start_export_all(AppState& st) {
  SnapshotPtr a = best(st, 0), b = best(st, 1);
  if (!a && !b) {
    st.error("nothing to export yet: run first");
    return;
  }
  const std::string dir = st.export_dir, word = st.keyword;
  const auto pass = st.pass;
  const auto cmap = static_cast<render::Colormap>(st.settings.view.colormap);
  const float opacity = st.settings.view.overlay_opacity;
  launch(st, [=] {
    auto files = session::export_all(dir, a.get(), b.get(), word, pass, cmap, opacity);
    return "exported " + std::to_string(files.size()) + " items to " + dir;
  });
}

void poll_exports(AppState& st) {
  if (!st.export_task.valid()) return;
  if (st.export_task.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  std::string msg = st.export_task.get();
  if (msg.rfind("error: ", 0) == 0) st.error(msg.substr(7));
  else st.info(msg);
}

void panel_export(AppState& st) {
  if (st.opt.demo && !st.show_export) return;  // talks: File > Export all / Screenshot; View > Export panel
  if (!begin_pane(st, Pane::Export)) {
    ImGui::End();
    return;
  }
  ImGui::SetNextItemWidth(-ImGui::CalcTextSize("folder").x - 8);
  ImGui::InputText("folder", &st.export_dir);
  const SnapshotPtr a = best(st, 0), b = best(st, 1);
  const bool busy = st.export_task.valid();
  ImGui::BeginDisabled(busy);
  if (ImGui::Button("Export all")) start_export_all(st);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("MP4 + PNG frames of A and B, A/B side-by-side MP4, grid / curves / map PNGs,\nmetrics.csv and metrics.json into the folder");
  ImGui::SameLine();
  const std::string dir = st.export_dir;
  const int v = std::clamp(st.view_variant, 0, 1);
  const SnapshotPtr cur = v == 0 ? a : b;
  const std::string tag = v == 0 ? "baseline" : "guided";
  const std::string word = st.keyword;
  const auto pass = st.pass;
  const auto cmap = static_cast<render::Colormap>(st.settings.view.colormap);
  const float opacity = st.settings.view.overlay_opacity;
  const int layer = st.large.layer, column = st.large.column, frame = st.large.frame;
  ImGui::BeginDisabled(!session::video_export_available() || !cur || !cur->frames);
  if (ImGui::Button("MP4")) launch(st, [=] { session::export_video(join(dir, tag + ".mp4"), *cur); return "wrote " + join(dir, tag + ".mp4"); });
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::BeginDisabled(!session::video_export_available() || !a || !b || !a->frames || !b->frames);
  if (ImGui::Button("A/B MP4"))
    launch(st, [=] { session::export_ab_video(join(dir, "ab_side_by_side.mp4"), *a, *b); return "wrote " + join(dir, "ab_side_by_side.mp4"); });
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::BeginDisabled(!cur || !cur->frames);
  if (ImGui::Button("PNG frames"))
    launch(st, [=] { session::export_frames_png(join(dir, tag + "_frames"), *cur); return "wrote " + join(dir, tag + "_frames/"); });
  ImGui::EndDisabled();
  ImGui::BeginDisabled(!cur || cur->steps.empty());
  auto slot_of = [word](const session::RunSnapshot& s) { int k = s.map_slot(word); return k >= 0 ? k : 0; };
  if (ImGui::Button("Grid PNG"))
    launch(st, [=] { session::export_grid_png(join(dir, tag + "_grid.png"), *cur, slot_of(*cur), pass, cmap); return "wrote " + join(dir, tag + "_grid.png"); });
  ImGui::SameLine();
  if (ImGui::Button("Curves PNG"))
    launch(st, [=] { session::export_curves_png(join(dir, tag + "_curves.png"), *cur, slot_of(*cur), pass); return "wrote " + join(dir, tag + "_curves.png"); });
  ImGui::SameLine();
  if (ImGui::Button("Map PNG"))
    launch(st, [=] {
      const std::string p = join(dir, tag + "_map_L" + std::to_string(layer) + "_c" + std::to_string(column) + "_f" + std::to_string(frame) + ".png");
      session::export_map_png(p, *cur, slot_of(*cur), std::max(0, layer), std::max(0, column), frame, pass, opacity, cmap);
      return "wrote " + p;
    });
  ImGui::SameLine();
  if (ImGui::Button("CSV"))
    launch(st, [=] { session::export_metrics_csv(join(dir, "metrics.csv"), {a.get(), b.get()}); return "wrote " + join(dir, "metrics.csv"); });
  ImGui::SameLine();
  if (ImGui::Button("JSON"))
    launch(st, [=] { session::export_metrics_json(join(dir, "metrics.json"), {a.get(), b.get()}); return "wrote " + join(dir, "metrics.json"); });
  ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("Screenshot")) st.screenshot_request = join(dir, "screenshot.png");
  ImGui::EndDisabled();
  if (busy) {
    ImGui::SameLine();
    ImGui::TextDisabled("exporting...");
  }

  ImGui::Separator();
  ImGui::BeginChild("log", ImVec2(0, 0), false);
  for (const auto& l : st.log) {
    if (l.error) ImGui::TextColored(palette::kErrorText, "%s", l.text.c_str());
    else ImGui::TextDisabled("%s", l.text.c_str());
  }
  if (ImGui::GetScrollY() >= ImGui::GetScrollMaxY() - 4) ImGui::SetScrollHereY(1.0f);
  ImGui::EndChild();
  ImGui::End();
}

}  // namespace focalscope::gui
