#include "app/session/analyze_file.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/json_io.h"

namespace focalscope::session {

namespace {
double number_or_nan(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}
}  // namespace

AnalyzeCurves parse_analyze_curves(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "an analyze result must be a JSON object");
  if (j.value("format", std::string()) != "focalscope.analyze/1")
    fail(where, "not a `focalscope analyze` result (format is not focalscope.analyze/1)");
  if (!j.contains("layers") || !j.at("layers").is_array() || j.at("layers").empty())
    fail(where, "\"layers\" is missing, empty or not a list");
  AnalyzeCurves r;
  r.path = where;
  if (j.contains("model") && j.at("model").is_object()) r.model_name = j.at("model").value("variant", std::string());
  if (j.contains("samples_done") && j.at("samples_done").is_number_integer()) r.samples = j.at("samples_done").get<int>();
  for (const auto& e : j.at("layers")) {
    if (!e.is_object() || !e.contains("layer") || !e.at("layer").is_number_integer())
      fail(where, "a layers entry has no integer \"layer\"");
    AnalyzeLayer l;
    l.layer = e.at("layer").get<int>();
    if (l.layer < 0 || l.layer > 1024) fail(where, "layer " + std::to_string(l.layer) + " is outside 0..1024");
    if (!e.contains("moran_i") || !e.at("moran_i").is_object() || !e.at("moran_i").contains("mean") ||
        !e.at("moran_i").at("mean").is_number())
      fail(where, "layer " + std::to_string(l.layer) + " has no moran_i.mean");
    const auto& m = e.at("moran_i");
    l.moran = m.at("mean").get<double>();
    if (m.contains("median_ci95") && m.at("median_ci95").is_array() && m.at("median_ci95").size() == 2 &&
        m.at("median_ci95")[0].is_number() && m.at("median_ci95")[1].is_number()) {
      l.moran_lo = m.at("median_ci95")[0].get<double>();
      l.moran_hi = m.at("median_ci95")[1].get<double>();
    }
    if (e.contains("std") && e.at("std").is_object()) l.std_dev = number_or_nan(e.at("std"), "mean");
    l.weak = e.value("weak", false);
    r.layers.push_back(l);
  }
  std::sort(r.layers.begin(), r.layers.end(), [](const AnalyzeLayer& a, const AnalyzeLayer& b) { return a.layer < b.layer; });
  for (size_t i = 0; i < r.layers.size(); ++i)
    if (r.layers[i].layer != static_cast<int>(i))
      fail(where, "layers must be 0..n-1 without gaps or repeats (found layer " + std::to_string(r.layers[i].layer) +
                      " at position " + std::to_string(i) + "): run analyze with --layers all");
  for (const auto& l : r.layers)
    if (l.weak) r.weak_layers.push_back(l.layer);
  return r;
}

AnalyzeCurves load_analyze_curves(const std::string& path) {
  namespace fs = std::filesystem;
  std::string file = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) file = (fs::path(path) / "metrics.json").string();
  if (!fs::exists(file, ec)) fail(file, "not found (give the metrics.json of `focalscope analyze --out DIR`, or DIR)");
  return parse_analyze_curves(read_json_file(file), file);
}

}  // namespace focalscope::session
