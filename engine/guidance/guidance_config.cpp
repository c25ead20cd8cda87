#include "engine/guidance/guidance_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/json_io.h"

namespace focalscope {

const std::vector<std::string>& kvlock_variants() {
  static const std::vector<std::string> v{"kvlock", "kvlock-fixed", "kvlock-kv", "kvlock-omega", "kvlock-sstar",
                                          "kvlock-sstar-omega", "kvlock-global"};
  return v;
}

namespace {
// One KV-Lock token: which parts it switches on (the lock, s*, omega) and how sigma2 is read.
void apply_kvlock_variant(const std::string& t, KvLockConfig& kv, DynCfgConfig& dc) {
  kv = KvLockConfig{};
  kv.variant = t;
  kv.lock = t == "kvlock" || t == "kvlock-fixed" || t == "kvlock-kv" || t == "kvlock-global";
  if (t == "kvlock-fixed") kv.alpha_fixed = 0.5;
  kv.local = t != "kvlock-global";
  const bool sstar = t == "kvlock" || t == "kvlock-fixed" || t == "kvlock-global" || t == "kvlock-sstar" || t == "kvlock-sstar-omega";
  const bool omega = t == "kvlock" || t == "kvlock-fixed" || t == "kvlock-global" || t == "kvlock-omega" || t == "kvlock-sstar-omega";
  dc.enabled = sstar || omega;
  dc.sstar = sstar;
  dc.omega = omega;
}
}  // namespace

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
          {"kvlock",
           {{"variant", kvlock.variant}, {"alpha_fixed", kvlock.alpha_fixed}, {"local", kvlock.local}, {"tau", kvlock.tau},
            {"kappa", kvlock.kappa}, {"shared_noise", kvlock.shared_noise}, {"cache_on_cpu", kvlock.cache_on_cpu}}},
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
  kvlock.validate(where + ": kvlock");
}

GuidanceConfig GuidanceConfig::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "expected a JSON object");
  GuidanceConfig g;
  static const char* known[] = {"fsg", "ac", "tau_sel", "sim_sign", "tau_region", "lambda_txt", "lambda_lat", "tau_cache",
                                "lambda_cache", "cache_source", "weak_layers", "keywords", "cond_only", "mode", "dyncfg", "kvlock"};
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
    if (j.contains("kvlock")) {
      const auto& d = j["kvlock"];
      if (!d.is_object()) fail(where, "kvlock must be an object");
      static const char* kk[] = {"variant", "alpha_fixed", "local", "tau", "kappa", "shared_noise", "cache_on_cpu"};
      for (auto it = d.begin(); it != d.end(); ++it) {
        bool ok = false;
        for (const char* k : kk) ok = ok || it.key() == k;
        if (!ok) fail(where, "unknown key 'kvlock." + it.key() + "'");
      }
      // The variant sets the defaults (and dyncfg's part, which a "dyncfg" object then refines); the other keys
      // refine it.
      if (d.contains("variant")) {
        const std::string v = d["variant"].get<std::string>();
        if (!v.empty() && std::find(kvlock_variants().begin(), kvlock_variants().end(), v) == kvlock_variants().end())
          fail(where, "kvlock.variant '" + v + "' is not a KV-Lock token");
        if (!v.empty()) apply_kvlock_variant(v, g.kvlock, g.dyncfg);
      }
      g.kvlock.alpha_fixed = d.value("alpha_fixed", g.kvlock.alpha_fixed);
      g.kvlock.local = d.value("local", g.kvlock.local);
      g.kvlock.tau = d.value("tau", g.kvlock.tau);
      g.kvlock.kappa = d.value("kappa", g.kvlock.kappa);
      g.kvlock.shared_noise = d.value("shared_noise", g.kvlock.shared_noise);
      g.kvlock.cache_on_cpu = d.value("cache_on_cpu", g.kvlock.cache_on_cpu);
    }
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
    fail(where, std::string("bad value: ") + scrub_library_tags(e.what()));
  }
  g.validate(where);
  return g;
}

GuidanceConfig GuidanceConfig::load(const std::string& path) {
  return from_json(read_json_object_file(path), path);  // size / depth limits, one line naming the file
}



void GuidanceConfig::set_mode(const std::string& mode) {
  fsg = ac = false;
  dyncfg.enabled = false;
  kvlock = KvLockConfig{};
  bool dyncfg_token = false;
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
      if (kvlock.editing()) fail("--guidance", "'" + t + "' cannot be combined with '" + kvlock.variant + "' (it has its own CFG part)");
      dyncfg_token = true;
      dyncfg.enabled = true;
      dyncfg.sstar = t != "dyncfg-omega";
      dyncfg.omega = t != "dyncfg-sstar";
    } else if (std::find(kvlock_variants().begin(), kvlock_variants().end(), t) != kvlock_variants().end()) {
      if (kvlock.editing()) fail("--guidance", "only one KV-Lock token at a time ('" + kvlock.variant + "' and '" + t + "')");
      if (dyncfg_token) fail("--guidance", "'" + t + "' cannot be combined with a dyncfg token (it has its own CFG part)");
      apply_kvlock_variant(t, kvlock, dyncfg);
    } else {
      fail("--guidance", "'" + t + "' is not one of off, fsg, ac, fg, dyncfg, dyncfg-sstar, dyncfg-omega, " +
                             "kvlock, kvlock-fixed, kvlock-kv, kvlock-omega, kvlock-sstar, kvlock-sstar-omega, kvlock-global (join with +)");
    }
    if (plus == std::string::npos) break;
    start = plus + 1;
  }
}

std::string GuidanceConfig::mode() const {
  std::string m = fsg && ac ? "fg" : fsg ? "fsg" : ac ? "ac" : "";
  if (kvlock.editing()) {
    m += (m.empty() ? "" : "+") + kvlock.variant;
  } else if (dyncfg.enabled) {
    const std::string d = dyncfg.sstar && dyncfg.omega ? "dyncfg" : dyncfg.sstar ? "dyncfg-sstar" : "dyncfg-omega";
    m += (m.empty() ? "" : "+") + d;
  }
  return m.empty() ? "off" : m;
}

}  // namespace focalscope
