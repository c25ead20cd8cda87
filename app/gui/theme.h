// Fonts (DejaVu Sans with Greek for τ/λ, falling back to ImGui's built-in font) and the dark style.
#pragma once

namespace focalscope::gui {

// Call after ImGui::CreateContext() and before the renderer backend builds the font atlas.
void apply_theme(float scale);

}  // namespace focalscope::gui
