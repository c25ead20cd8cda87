#include "engine/guidance/guidance_config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace focalscope {

bool GuidanceConfig::active() const {
  const bool fsg_on = fsg && (lambda_txt != 0 || lambda_lat != 0);
  const bool ac_on = ac && lambda_cache != 0;
  return fsg_on || ac_on;
}

nlohmann::json GuidanceConfig::to_json() const {
  return {{"fsg", fsg},
          {"ac", ac},
          {"tau_sel", tau_sel},
          {"sim_sign", sim_sign},
          {"tau_region", tau_region},
          {"lambda_txt", lambda_txt},
          {"lambda_lat", lambda_lat},
          {"tau_cache", tau_cache},
          {"lambda_cache", lambda_cache},
          {"cache_source", cache_source == CacheSource::ThisStepEarlierLayers ? "this_step" : "previous_step"},
          {"weak_layers", weak_layers},
          {"keywords", keywords},
          {"cond_only", cond_only},
          {"dyncfg",
           {{"enabled", dyncfg.enabled}, {"sstar", dyncfg.sstar}, {"omega", dyncfg.omega},
            {"reading", omega_reading_name(dyncfg.reading)}, {"omega0", dyncfg.omega0}, {"tau", dyncfg.tau},
            {"b", dyncfg.b}, {"kappa", dyncfg.kappa}}}};
}

void GuidanceConfig::validate(const std::string& where) const {
  auto range = [&](const char* k, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi)
      fail(where, std::string(k) + " = " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  range("tau_sel", tau_sel, -1, 1);
  range("tau_region", tau_region, 0, 1);
  range("tau_cache", tau_cache, -1, 1);
  range("lambda_txt", lambda_txt, -10, 10);
  range("lambda_lat", lambda_lat, -10, 10);
  range("lambda_cache", lambda_cache, -10, 10);
  if (sim_sign != 1 && sim_sign != -1) fail(where, "sim_sign must be +1 or -1");
  for (int l : weak_layers)
    if (l < 0 || l > 1000) fail(where, "weak layer " + std::to_string(l) + " is out of range");
  dyncfg.validate(where + ": dyncfg");
}

GuidanceConfig GuidanceConfig::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "expected a JSON object");
  GuidanceConfig g;
  static const char* known[] = {"fsg", "ac", "tau_sel", "sim_sign", "tau_region", "lambda_txt", "lambda_lat", "tau_cache",
                                "lambda_cache", "cache_source", "weak_layers", "keywords", "cond_only", "mode", "dyncfg"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) fail(where, "unknown key '" + it.key() + "'");
  }
  try {
    if (j.contains("mode")) g.set_mode(j["mode"].get<std::string>());
    if (j.contains("fsg")) g.fsg = j["fsg"].get<bool>();
    if (j.contains("ac")) g.ac = j["ac"].get<bool>();
    if (j.contains("tau_sel")) g.tau_sel = j["tau_sel"].get<double>(), g.tau_sel_given = true;
    if (j.contains("sim_sign")) g.sim_sign = j["sim_sign"].get<int>();
    if (j.contains("tau_region")) g.tau_region = j["tau_region"].get<double>();
    if (j.contains("lambda_txt")) g.lambda_txt = j["lambda_txt"].get<double>();
    if (j.contains("lambda_lat")) g.lambda_lat = j["lambda_lat"].get<double>();
    if (j.contains("tau_cache")) g.tau_cache = j["tau_cache"].get<double>(), g.tau_cache_given = true;
    if (j.contains("lambda_cache")) g.lambda_cache = j["lambda_cache"].get<double>();
    if (j.contains("cache_source")) {
      const auto s = j["cache_source"].get<std::string>();
      if (s == "this_step") g.cache_source = CacheSource::ThisStepEarlierLayers;
      else if (s == "previous_step") g.cache_source = CacheSource::PreviousStepResponsive;
      else fail(where, "cache_source must be 'this_step' or 'previous_step', got '" + s + "'");
    }
    if (j.contains("weak_layers")) g.weak_layers = j["weak_layers"].get<std::vector<int>>();
    if (j.contains("keywords")) g.keywords = j["keywords"].get<std::vector<std::string>>();
    if (j.contains("cond_only")) g.cond_only = j["cond_only"].get<bool>();
    if (j.contains("dyncfg")) {
      const auto& d = j["dyncfg"];
      if (!d.is_object()) fail(where, "dyncfg must be an object");
      static const char* dk[] = {"enabled", "sstar", "omega", "reading", "omega0", "tau", "b", "kappa"};
      for (auto it = d.begin(); it != d.end(); ++it) {
        bool ok = false;
        for (const char* k : dk) ok = ok || it.key() == k;
        if (!ok) fail(where, "unknown key 'dyncfg." + it.key() + "'");
      }
      g.dyncfg.enabled = d.value("enabled", g.dyncfg.enabled || j.contains("dyncfg"));
      g.dyncfg.sstar = d.value("sstar", g.dyncfg.sstar);
      g.dyncfg.omega = d.value("omega", g.dyncfg.omega);
      if (d.contains("reading")) g.dyncfg.reading = parse_omega_reading(d["reading"].get<std::string>());
      g.dyncfg.omega0 = d.value("omega0", g.dyncfg.omega0);
      g.dyncfg.tau = d.value("tau", g.dyncfg.tau);
      g.dyncfg.b = d.value("b", g.dyncfg.b);
      g.dyncfg.kappa = d.value("kappa", g.dyncfg.kappa);
    }
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("bad value: ") + e.what());
  }
  g.validate(where);
  return g;
}

GuidanceConfig GuidanceConfig::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, "cannot open guidance config");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    fail(path, std::string("invalid JSON (") + e.what() + ")");
  }
  return from_json(j, path);
}

void GuidanceConfig::set_mode(const std::string& mode) {
  fsg = ac = false;
  dyncfg.enabled = false;
  size_t start = 0;
  while (start <= mode.size()) {
    const size_t plus = mode.find('+', start);
    const std::string t = mode.substr(start, plus == std::string::npos ? std::string::npos : plus - start);
    if (t == "off") {
      if (mode != "off") fail("--guidance", "'off' cannot be combined ('" + mode + "')");
    } else if (t == "fsg") fsg = true;
    else if (t == "ac") ac = true;
    else if (t == "fg") fsg = ac = true;
    else if (t == "dyncfg" || t == "dyncfg-sstar" || t == "dyncfg-omega") {
      dyncfg.enabled = true;
      dyncfg.sstar = t != "dyncfg-omega";
      dyncfg.omega = t != "dyncfg-sstar";
    } else {
      fail("--guidance", "'" + t + "' is not one of off, fsg, ac, fg, dyncfg, dyncfg-sstar, dyncfg-omega (join with +)");
    }
    if (plus == std::string::npos) break;
    start = plus + 1;
  }
}

std::string GuidanceConfig::mode() const {
  std::string m = fsg && ac ? "fg" : fsg ? "fsg" : ac ? "ac" : "";
  if (dyncfg.enabled) {
    const std::string d = dyncfg.sstar && dyncfg.omega ? "dyncfg" : dyncfg.sstar ? "dyncfg-sstar" : "dyncfg-omega";
    m += (m.empty() ? "" : "+") + d;
  }
  return m.empty() ? "off" : m;
}

}  // namespace focalscope
