#include "app/session/run_config.h"

#include <tuple>

namespace focalscope::session {

bool RunInputs::operator==(const RunInputs& o) const {
  return std::tie(image_path, prompt, negative_prompt, seed, steps, cfg, frames, max_area, model_dir) ==
         std::tie(o.image_path, o.prompt, o.negative_prompt, o.seed, o.steps, o.cfg, o.frames, o.max_area, o.model_dir);
}

bool GuidanceConfig::operator==(const GuidanceConfig& o) const {
  return std::tie(fsg, ac, tau_sel, tau_region, tau_cache, lambda_txt, lambda_lat, lambda_cache, weak_override, weak_layers,
                  guided_words) == std::tie(o.fsg, o.ac, o.tau_sel, o.tau_region, o.tau_cache, o.lambda_txt, o.lambda_lat,
                                            o.lambda_cache, o.weak_override, o.weak_layers, o.guided_words);
}

const char* variant_name(Variant v) { return v == Variant::Baseline ? "baseline" : "focal guidance"; }

nlohmann::json to_json(const RunInputs& in) {
  return {{"image_path", in.image_path}, {"prompt", in.prompt}, {"negative_prompt", in.negative_prompt},
          {"seed", in.seed},             {"steps", in.steps},   {"cfg", in.cfg},
          {"frames", in.frames},         {"max_area", in.max_area}, {"model_dir", in.model_dir}};
}

nlohmann::json to_json(const GuidanceConfig& g) {
  return {{"fsg", g.fsg},
          {"ac", g.ac},
          {"tau_sel", g.tau_sel},
          {"tau_region", g.tau_region},
          {"tau_cache", g.tau_cache},
          {"lambda_txt", g.lambda_txt},
          {"lambda_lat", g.lambda_lat},
          {"lambda_cache", g.lambda_cache},
          {"weak_override", g.weak_override},
          {"weak_layers", g.weak_layers},
          {"guided_words", g.guided_words}};
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
  return in;
}

GuidanceConfig guidance_from_json(const nlohmann::json& j) {
  GuidanceConfig g;
  get(j, "fsg", g.fsg);
  get(j, "ac", g.ac);
  get(j, "tau_sel", g.tau_sel);
  get(j, "tau_region", g.tau_region);
  get(j, "tau_cache", g.tau_cache);
  get(j, "lambda_txt", g.lambda_txt);
  get(j, "lambda_lat", g.lambda_lat);
  get(j, "lambda_cache", g.lambda_cache);
  get(j, "weak_override", g.weak_override);
  get(j, "weak_layers", g.weak_layers);
  get(j, "guided_words", g.guided_words);
  return g;
}

}  // namespace focalscope::session
