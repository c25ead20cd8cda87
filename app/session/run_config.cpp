#include "app/session/run_config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <tuple>

namespace focalscope::session {

bool RunInputs::operator==(const RunInputs& o) const {
  return std::tie(image_path, prompt, negative_prompt, seed, steps, cfg, frames, max_area, model_dir, loras, clip_file) ==
         std::tie(o.image_path, o.prompt, o.negative_prompt, o.seed, o.steps, o.cfg, o.frames, o.max_area, o.model_dir, o.loras,
                  o.clip_file);
}

bool GuidanceConfig::operator==(const GuidanceConfig& o) const {
  return std::tie(fsg, ac, tau_sel, tau_region, tau_cache, tau_sel_auto, tau_cache_auto, lambda_txt, lambda_lat,
                  lambda_cache, weak_override, weak_layers, guided_words, dyncfg, dyncfg_raise) ==
         std::tie(o.fsg, o.ac, o.tau_sel, o.tau_region, o.tau_cache, o.tau_sel_auto, o.tau_cache_auto, o.lambda_txt,
                  o.lambda_lat, o.lambda_cache, o.weak_override, o.weak_layers, o.guided_words, o.dyncfg, o.dyncfg_raise);
}

const char* variant_name(Variant v) { return v == Variant::Baseline ? "baseline" : "focal guidance"; }

nlohmann::json to_json(const RunInputs& in) {
  return {{"image_path", in.image_path}, {"prompt", in.prompt}, {"negative_prompt", in.negative_prompt},
          {"seed", in.seed},             {"steps", in.steps},   {"cfg", in.cfg},
          {"frames", in.frames},         {"max_area", in.max_area}, {"model_dir", in.model_dir},
          {"clip_file", in.clip_file},
          {"loras", [&] {
             nlohmann::json a = nlohmann::json::array();
             for (const auto& l : in.loras) a.push_back({{"path", l.path}, {"strength", l.strength}});
             return a;
           }()}};
}

nlohmann::json to_json(const GuidanceConfig& g) {
  return {{"fsg", g.fsg},
          {"ac", g.ac},
          {"tau_sel", g.tau_sel},
          {"tau_region", g.tau_region},
          {"tau_cache", g.tau_cache},
          {"tau_sel_auto", g.tau_sel_auto},
          {"tau_cache_auto", g.tau_cache_auto},
          {"lambda_txt", g.lambda_txt},
          {"lambda_lat", g.lambda_lat},
          {"lambda_cache", g.lambda_cache},
          {"weak_override", g.weak_override},
          {"weak_layers", g.weak_layers},
          {"guided_words", g.guided_words},
          {"dyncfg", g.dyncfg},
          {"dyncfg_raise", g.dyncfg_raise}};
}

namespace {
template <typename T>
void get(const nlohmann::json& j, const char* key, T& out) {
  if (!j.is_object()) return;
  auto it = j.find(key);
  if (it == j.end()) return;
  try {
    out = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    // wrong type in a hand-edited file: keep the default
  }
}
}  // namespace

RunInputs inputs_from_json(const nlohmann::json& j) {
  RunInputs in;
  get(j, "image_path", in.image_path);
  get(j, "prompt", in.prompt);
  get(j, "negative_prompt", in.negative_prompt);
  get(j, "seed", in.seed);
  get(j, "steps", in.steps);
  get(j, "cfg", in.cfg);
  get(j, "frames", in.frames);
  get(j, "max_area", in.max_area);
  get(j, "model_dir", in.model_dir);
  get(j, "clip_file", in.clip_file);
  if (j.is_object() && j.contains("loras") && j.at("loras").is_array())
    for (const auto& e : j.at("loras")) {
      LoraEntry l;
      get(e, "path", l.path);
      get(e, "strength", l.strength);
      if (!l.path.empty() && std::isfinite(l.strength)) in.loras.push_back(l);
    }
  return in;
}

GuidanceConfig guidance_from_json(const nlohmann::json& j) {
  GuidanceConfig g;
  get(j, "fsg", g.fsg);
  get(j, "ac", g.ac);
  get(j, "dyncfg", g.dyncfg);
  get(j, "dyncfg_raise", g.dyncfg_raise);
  get(j, "tau_sel", g.tau_sel);
  get(j, "tau_region", g.tau_region);
  get(j, "tau_cache", g.tau_cache);
  get(j, "lambda_txt", g.lambda_txt);
  get(j, "lambda_lat", g.lambda_lat);
  get(j, "lambda_cache", g.lambda_cache);
  get(j, "weak_override", g.weak_override);
  get(j, "weak_layers", g.weak_layers);
  get(j, "guided_words", g.guided_words);
  // Files written before the "model default" state had no *_auto keys: a threshold the user had moved away from the
  // old default stays explicit, an untouched one follows the model.
  const GuidanceConfig d;
  g.tau_sel_auto = g.tau_sel == d.tau_sel;
  g.tau_cache_auto = g.tau_cache == d.tau_cache;
  get(j, "tau_sel_auto", g.tau_sel_auto);
  get(j, "tau_cache_auto", g.tau_cache_auto);
  return g;
}

bool set_guidance_param(GuidanceConfig& g, const std::string& name, const std::string& value, std::string* error) {
  auto err = [&](const std::string& m) {
    if (error) *error = m;
    return false;
  };
  const bool threshold = name == "tau_sel" || name == "tau_cache";
  float* target = name == "tau_sel"        ? &g.tau_sel
                  : name == "tau_region"   ? &g.tau_region
                  : name == "tau_cache"    ? &g.tau_cache
                  : name == "lambda_txt"   ? &g.lambda_txt
                  : name == "lambda_lat"   ? &g.lambda_lat
                  : name == "lambda_cache" ? &g.lambda_cache
                                           : nullptr;
  if (!target)
    return err("set needs one of tau_sel tau_region tau_cache lambda_txt lambda_lat lambda_cache, not '" + name + "'");
  if (value == "auto") {
    if (!threshold) return err("set " + name + ": only tau_sel and tau_cache have a model default ('auto')");
    (name == "tau_sel" ? g.tau_sel_auto : g.tau_cache_auto) = true;
    return true;
  }
  char* end = nullptr;
  errno = 0;
  const double x = value.empty() ? NAN : std::strtod(value.c_str(), &end);
  if (value.empty() || errno != 0 || !end || *end != 0 || !std::isfinite(x))
    return err("set " + name + ": '" + value + "' is not a number" + (threshold ? " or 'auto'" : ""));
  *target = static_cast<float>(x);
  if (name == "tau_sel") g.tau_sel_auto = false;
  if (name == "tau_cache") g.tau_cache_auto = false;
  return true;
}

}  // namespace focalscope::session
