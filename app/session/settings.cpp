#include "app/session/settings.h"

#include "engine/core/json_io.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace focalscope::session {
namespace fs = std::filesystem;
using nlohmann::json;

std::string config_dir() {
  if (const char* e = std::getenv("FOCALSCOPE_CONFIG_DIR"); e && *e) return e;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return (fs::path(x) / "focalscope").string();
  if (const char* h = std::getenv("HOME"); h && *h) return (fs::path(h) / ".config" / "focalscope").string();
  return ".focalscope";
}

namespace {
template <typename T>
void get(const json& j, const char* key, T& out) {
  if (!j.is_object()) return;
  auto it = j.find(key);
  if (it == j.end()) return;
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
  }
}
}  // namespace

AppSettings load_settings(const std::string& path, std::string* warning) {
  AppSettings s;
  std::error_code ec;
  if (!fs::exists(path, ec)) return s;
  json j;
  try {
    j = read_json_object_file(path);
  } catch (const Error& e) {
    std::string why = e.what();
    if (why.rfind(path + ": ", 0) == 0) why = why.substr(path.size() + 2);
    if (warning) *warning = path + ": malformed settings (" + why + "); using defaults";
    return s;
  }
  if (j.contains("inputs")) s.inputs = inputs_from_json(j["inputs"]);
  if (j.contains("guidance")) s.guidance = guidance_from_json(j["guidance"]);
  if (j.contains("view")) {
    const json& v = j["view"];
    get(v, "auto_run", s.view.auto_run);
    get(v, "ab", s.view.ab);
    get(v, "overlay_opacity", s.view.overlay_opacity);
    get(v, "colormap", s.view.colormap);
    get(v, "shared_scale", s.view.shared_scale);
    get(v, "loop", s.view.loop);
    get(v, "show_hallucination", s.view.show_hallucination);
    get(v, "font_scale", s.view.font_scale);
    get(v, "edit_mode", s.view.edit_mode);
    get(v, "brush_radius", s.view.brush_radius);
    std::vector<float> c;
    get(v, "mask_color", c);
    if (c.size() == 4) std::copy(c.begin(), c.end(), s.view.mask_color);
  }
  if (j.contains("edit")) s.edit = edit_inputs_from_json(j["edit"]);
  if (j.contains("window")) {
    const json& w = j["window"];
    get(w, "x", s.window.x);
    get(w, "y", s.window.y);
    get(w, "width", s.window.width);
    get(w, "height", s.window.height);
    get(w, "maximized", s.window.maximized);
  }
  return s;
}

bool save_settings(const std::string& path, const AppSettings& s, std::string* error) {
  json j;
  j["format"] = "focalscope.settings/1";
  j["inputs"] = to_json(s.inputs);
  j["guidance"] = to_json(s.guidance);
  j["view"] = {{"auto_run", s.view.auto_run},         {"ab", s.view.ab},
               {"overlay_opacity", s.view.overlay_opacity}, {"colormap", s.view.colormap},
               {"shared_scale", s.view.shared_scale}, {"loop", s.view.loop},
               {"show_hallucination", s.view.show_hallucination},
               {"font_scale", s.view.font_scale},
               {"edit_mode", s.view.edit_mode},
               {"brush_radius", s.view.brush_radius},
               {"mask_color", std::vector<float>(s.view.mask_color, s.view.mask_color + 4)}};
  j["edit"] = to_json(s.edit);
  j["window"] = {{"x", s.window.x},
                 {"y", s.window.y},
                 {"width", s.window.width},
                 {"height", s.window.height},
                 {"maximized", s.window.maximized}};
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out) {
      if (error) *error = tmp + ": cannot write settings";
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    if (error) *error = path + ": " + ec.message();
    return false;
  }
  return true;
}

}  // namespace focalscope::session
