#include "app/cli/guidance_args.h"

#include <cstdio>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/error.h"
#include "engine/core/limits.h"

namespace focalscope::cli {

const char* kGuidanceUsage =
    "Guidance:\n"
    "  --guidance MODE        off | fsg | ac | fg | dyncfg | dyncfg-sstar | dyncfg-omega, joined with + (e.g. fg+dyncfg;\n"
    "                         default off). fsg / ac / fg: Focal Guidance; dyncfg: KV-Lock's dynamic CFG (docs/kv_lock.md)\n"
    "  --guidance-config F    JSON with any GuidanceConfig keys (docs/focal_guidance.md)\n"
    "  --keywords W1,W2       guide these prompt words (default: CLIP selection, Eq. 6)\n"
    "  --weak-layers SPEC     e.g. 4-8 or 3,5,7 (default: the model's detected set)\n"
    "  --tau-sel --tau-region --tau-cache --lambda-txt --lambda-lat --lambda-cache X\n"
    "  --cache-source S       this_step | previous_step\n"
    "dynamic CFG (with --guidance dyncfg*):\n"
    "  --omega0 X             base guidance weight (default: the run's CFG scale)\n"
    "  --tau X                sigma2 threshold (default: the model's calibrated kvlock tau, else the paper's 0.01)\n"
    "  --dyncfg-b X           upper clamp of sigma2 / tau (default 2)\n"
    "  --kappa N              scheduled last steps at 40 steps, scaled for fewer (default 20)\n"
    "  --omega-reading R      literal: w0 * clamp(sigma2/tau, 0, b) (default) | raise: w0 * clamp(sigma2/tau, 1, b)\n"
    "KV-Lock editing (focalscope edit; --guidance kvlock | kvlock-fixed | kvlock-kv | kvlock-omega | kvlock-sstar |\n"
    "kvlock-sstar-omega | kvlock-global, composable with fsg / ac / fg). --tau and --kappa apply to the lock too:\n"
    "  --kv-alpha X           a fixed fusion ratio in [0, 1] in the locked steps (default: clamp(sigma2/tau, 0, 1))\n"
    "  --kv-noise N           shared: noise the source with the edit's own initial noise (default) | fresh\n"
    "  --kv-cache WHERE       device (default) | cpu: keep the source K/V cache in host memory\n";

const std::set<std::string>& guidance_value_options() {
  static const std::set<std::string> s = {"guidance", "guidance-config", "keywords", "weak-layers", "tau-sel",
                                          "tau-region", "tau-cache", "lambda-txt", "lambda-lat", "lambda-cache",
                                          "cache-source", "omega0", "tau", "dyncfg-b", "kappa", "omega-reading",
                                          "kv-alpha", "kv-noise", "kv-cache"};
  return s;
}

namespace {
std::vector<int> parse_layers(const std::string& spec) {
  std::vector<int> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    // Whole non-negative integers only, each at most limits::kMaxLayerIndex, checked BEFORE a range is expanded
    // (0-200000000 must not allocate 200 million entries).
    auto index = [&](const std::string& s) -> int {
      if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
        fail("--weak-layers", "'" + item + "' is not a layer index or range (e.g. 4-8 or 3,5,7)");
      const long v = std::strtol(s.c_str(), nullptr, 10);
      if (v > limits::kMaxLayerIndex)
        fail("--weak-layers", "layer " + s + " is beyond the largest layer index any model has (" + std::to_string(limits::kMaxLayerIndex) + ")");
      return static_cast<int>(v);
    };
    auto dash = item.find('-');
    if (dash == std::string::npos) {
      out.push_back(index(item));
    } else {
      const int a = index(item.substr(0, dash)), b = index(item.substr(dash + 1));
      if (b < a) fail("--weak-layers", "range '" + item + "' is reversed");
      for (int i = a; i <= b; ++i) out.push_back(i);
    }
    if (out.size() > static_cast<std::size_t>(limits::kMaxLayerIndex) + 1)
      fail("--weak-layers", "names more than " + std::to_string(limits::kMaxLayerIndex + 1) + " layers");
  }
  return out;
}
}  // namespace

bool dyncfg_flags_given(const Args& a) {
  return a.has("omega0") || a.has("dyncfg-b") || a.has("kappa") || a.has("omega-reading");
}

GuidanceConfig guidance_from_args(const Args& a, bool require_dyncfg_mode, const char* default_mode) {
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
  else if (default_mode) g.set_mode(default_mode);
  if (require_dyncfg_mode && dyncfg_flags_given(a) && !g.dyncfg.enabled && !(g.kvlock.editing() && !a.has("omega0") &&
                                                                              !a.has("dyncfg-b") && !a.has("omega-reading")))
    fail("--guidance", "dynamic CFG flags (--omega0, --dyncfg-b, --kappa, --omega-reading) need --guidance dyncfg or a kvlock mode with an omega part");
  if (require_dyncfg_mode && (a.has("kv-alpha") || a.has("kv-noise") || a.has("kv-cache")) && !g.kvlock.lock)
    fail("--guidance", "--kv-alpha / --kv-noise / --kv-cache need a kvlock mode with the background lock (kvlock, kvlock-kv, kvlock-fixed, kvlock-global)");
  if (g.kvlock.editing()) {
    if (a.has("tau")) g.kvlock.tau = a.number("tau", 0.01, 1e-12, 1e6);
    if (a.has("kappa")) g.kvlock.kappa = static_cast<int>(a.integer("kappa", 20, 0, 1000));
    if (a.has("kv-alpha")) g.kvlock.alpha_fixed = a.number("kv-alpha", 0.5, 0, 1);
    if (a.has("kv-noise")) {
      const std::string n = a.str("kv-noise");
      if (n != "shared" && n != "fresh") fail("--kv-noise", "'" + n + "' is not shared or fresh");
      g.kvlock.shared_noise = n == "shared";
    }
    if (a.has("kv-cache")) {
      const std::string c = a.str("kv-cache");
      if (c != "device" && c != "cpu") fail("--kv-cache", "'" + c + "' is not device or cpu");
      g.kvlock.cache_on_cpu = c == "cpu";
    }
  }
  if (a.has("omega0")) g.dyncfg.omega0 = a.number("omega0", 1, 0.01, 100);
  if (a.has("tau")) g.dyncfg.tau = a.number("tau", 0.01, 1e-12, 1e6);
  if (a.has("dyncfg-b")) g.dyncfg.b = a.number("dyncfg-b", 2, 1, 1000);
  if (a.has("kappa")) g.dyncfg.kappa = static_cast<int>(a.integer("kappa", 20, 0, 1000));
  if (a.has("omega-reading")) g.dyncfg.reading = parse_omega_reading(a.str("omega-reading"));
  return g;
}

void print_guidance_summary(const GuidanceConfig& g, const std::vector<int>& weak_layers, const FsgPlan& plan,
                            const GuidanceStats& stats, const std::vector<std::string>& noops) {
  if (g.active()) {
    std::fprintf(stderr, "focal guidance %s: weak layers", g.mode().c_str());
    for (int l : weak_layers) std::fprintf(stderr, " %d", l);
    std::fprintf(stderr, " | keywords:");
    for (const auto& k : plan.keywords) std::fprintf(stderr, " %s (%.2f)", k.word.c_str(), k.clip_max);
    if (plan.keywords.empty()) std::fprintf(stderr, " none");
    if (g.ac) {
      std::fprintf(stderr, " | attention cache tokens touched per weak layer:");
      for (const auto& l : stats.weak) std::fprintf(stderr, " %d:%lld", l.layer, static_cast<long long>(l.ac_tokens_touched));
    }
    std::fprintf(stderr, "\n");
  }
  for (const auto& w : noops) std::fprintf(stderr, "warning: %s\n", w.c_str());
}

}  // namespace focalscope::cli
