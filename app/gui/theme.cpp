#include "app/gui/theme.h"

#include <imgui.h>

#include <filesystem>

namespace focalscope::gui {

void apply_theme(float scale) {
  ImGuiIO& io = ImGui::GetIO();
  static const ImWchar ranges[] = {0x0020, 0x00FF,   // Latin-1
                                   0x0370, 0x03FF,   // Greek (τ, λ)
                                   0x2010, 0x205E,   // dashes, bullets, ellipsis
                                   0x2190, 0x21FF,   // arrows
                                   0x2200, 0x22FF,   // math operators (≤ ≥ ×)
                                   0x25A0, 0x25FF,   // geometric shapes (▶ ■)
                                   0};
  const char* candidates[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                              "/usr/share/fonts/TTF/DejaVuSans.ttf",
                              "/usr/share/fonts/dejavu/DejaVuSans.ttf"};
  bool loaded = false;
  for (const char* path : candidates) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) continue;
    ImFontConfig cfg;
    cfg.OversampleH = 2;
    cfg.OversampleV = 1;
    if (io.Fonts->AddFontFromFileTTF(path, 15.0f * scale, &cfg, ranges)) {
      loaded = true;
      break;
    }
  }
  if (!loaded) {
    ImFontConfig cfg;
    cfg.SizePixels = 13.0f * scale;
    io.Fonts->AddFontDefault(&cfg);
  }

  ImGui::StyleColorsDark();
  ImGuiStyle& s = ImGui::GetStyle();
  s.WindowRounding = 3;
  s.FrameRounding = 3;
  s.GrabRounding = 3;
  s.ChildRounding = 2;
  s.PopupRounding = 3;
  s.WindowBorderSize = 1;
  s.FramePadding = ImVec2(6, 3);
  s.ItemSpacing = ImVec2(7, 5);
  s.WindowPadding = ImVec2(8, 7);
  s.ScrollbarSize = 12;
  ImVec4* c = s.Colors;
  c[ImGuiCol_WindowBg] = ImVec4(0.105f, 0.11f, 0.125f, 1.0f);
  c[ImGuiCol_ChildBg] = ImVec4(0, 0, 0, 0);
  c[ImGuiCol_TitleBg] = ImVec4(0.13f, 0.14f, 0.17f, 1.0f);
  c[ImGuiCol_TitleBgActive] = ImVec4(0.16f, 0.25f, 0.38f, 1.0f);
  c[ImGuiCol_MenuBarBg] = ImVec4(0.13f, 0.14f, 0.17f, 1.0f);
  c[ImGuiCol_FrameBg] = ImVec4(0.18f, 0.19f, 0.22f, 1.0f);
  c[ImGuiCol_FrameBgHovered] = ImVec4(0.24f, 0.26f, 0.31f, 1.0f);
  c[ImGuiCol_FrameBgActive] = ImVec4(0.27f, 0.30f, 0.37f, 1.0f);
  c[ImGuiCol_Button] = ImVec4(0.21f, 0.33f, 0.50f, 1.0f);
  c[ImGuiCol_ButtonHovered] = ImVec4(0.27f, 0.42f, 0.62f, 1.0f);
  c[ImGuiCol_ButtonActive] = ImVec4(0.30f, 0.48f, 0.72f, 1.0f);
  c[ImGuiCol_CheckMark] = ImVec4(0.45f, 0.75f, 1.0f, 1.0f);
  c[ImGuiCol_SliderGrab] = ImVec4(0.40f, 0.62f, 0.90f, 1.0f);
  c[ImGuiCol_Header] = ImVec4(0.20f, 0.30f, 0.45f, 1.0f);
  c[ImGuiCol_Border] = ImVec4(0.25f, 0.26f, 0.30f, 1.0f);
  s.ScaleAllSizes(scale >= 1.0f ? scale : 1.0f);
}

}  // namespace focalscope::gui
