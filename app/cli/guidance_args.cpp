#include "app/cli/guidance_args.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/error.h"

namespace focalscope::cli {

const char* kGuidanceUsage =
    "Focal Guidance:\n"
    "  --guidance MODE        off | fsg | ac | fg (default off)\n"
    "  --guidance-config F    JSON with any GuidanceConfig keys (docs/focal_guidance.md)\n"
    "  --keywords W1,W2       guide these prompt words (default: CLIP selection, Eq. 6)\n"
    "  --weak-layers SPEC     e.g. 4-8 or 3,5,7 (default: the model's detected set)\n"
    "  --tau-sel --tau-region --tau-cache --lambda-txt --lambda-lat --lambda-cache X\n"
    "  --cache-source S       this_step | previous_step\n";

const std::set<std::string>& guidance_value_options() {
  static const std::set<std::string> s = {"guidance", "guidance-config", "keywords", "weak-layers", "tau-sel",
                                          "tau-region", "tau-cache", "lambda-txt", "lambda-lat", "lambda-cache",
                                          "cache-source"};
  return s;
}

namespace {
std::vector<int> parse_layers(const std::string& spec) {
  std::vector<int> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      auto dash = item.find('-');
      if (dash == std::string::npos) {
        out.push_back(std::stoi(item));
      } else {
        int a = std::stoi(item.substr(0, dash)), b = std::stoi(item.substr(dash + 1));
        if (b < a) fail("--weak-layers", "range '" + item + "' is reversed");
        for (int i = a; i <= b; ++i) out.push_back(i);
      }
    } catch (const std::logic_error&) {
      fail("--weak-layers", "'" + item + "' is not a layer index or range");
    }
  }
  return out;
}
}  // namespace

GuidanceConfig guidance_from_args(const Args& a) {
  const GuidanceConfig file = a.has("guidance-config") ? GuidanceConfig::load(a.str("guidance-config")) : GuidanceConfig{};
  nlohmann::json j = a.has("guidance-config") ? file.to_json() : nlohmann::json::object();
  auto num = [&](const char* flag, const char* key, double lo, double hi) {
    if (a.has(flag)) j[key] = a.number(flag, 0, lo, hi);
  };
  num("tau-sel", "tau_sel", -1, 1);
  num("tau-region", "tau_region", 0, 1);
  num("tau-cache", "tau_cache", -1, 1);
  num("lambda-txt", "lambda_txt", -10, 10);
  num("lambda-lat", "lambda_lat", -10, 10);
  num("lambda-cache", "lambda_cache", -10, 10);
  if (a.has("cache-source")) j["cache_source"] = a.str("cache-source");
  if (a.has("weak-layers")) j["weak_layers"] = parse_layers(a.str("weak-layers"));
  if (a.has("keywords")) {
    std::vector<std::string> kw;
    std::stringstream ss(a.str("keywords"));
    std::string w;
    while (std::getline(ss, w, ','))
      if (!w.empty()) kw.push_back(w);
    j["keywords"] = kw;
  }
  GuidanceConfig g = GuidanceConfig::from_json(j, a.has("guidance-config") ? a.str("guidance-config") : "guidance flags");
  // Explicit only when the file named the key or a flag set it (to_json above writes every key).
  g.tau_sel_given = file.tau_sel_given || a.has("tau-sel");
  g.tau_cache_given = file.tau_cache_given || a.has("tau-cache");
  if (a.has("guidance")) g.set_mode(a.str("guidance"));
  return g;
}

}  // namespace focalscope::cli
