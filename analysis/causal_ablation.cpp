#include "analysis/causal_ablation.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "analysis/analysis_error.h"

namespace focalscope::analysis {

AblationSummary summarize_ablation(const std::vector<AblationRow>& rows, int reps, uint64_t seed) {
  struct Unit {
    const AblationRow* base = nullptr;
    const AblationRow* all = nullptr;
    std::map<int, const AblationRow*> layers;
  };
  std::map<std::pair<std::string, int>, Unit> units;
  for (const auto& r : rows) {
    Unit& u = units[{r.case_id, r.seed}];
    if (r.layer == kAblateBaseline) u.base = &r;
    else if (r.layer == kAblateAllLayers) u.all = &r;
    else u.layers[r.layer] = &r;
  }
  AblationSummary s;
  std::map<int, std::vector<double>> lat, pd, ad, mi, mx, passes;
  std::vector<double> base_pass, empty_pass, base_ag, empty_ag;
  for (const auto& [key, u] : units) {
    if (!u.base) raise("ablation " + key.first + " seed " + std::to_string(key.second), "has no un-ablated run");
    base_pass.push_back(u.base->pass);
    base_ag.push_back(u.base->agreement);
    if (u.all) empty_pass.push_back(u.all->pass), empty_ag.push_back(u.all->agreement);
    for (const auto& [l, r] : u.layers) {
      if (std::isfinite(r->latent_rel)) lat[l].push_back(r->latent_rel);
      pd[l].push_back(double(u.base->pass) - double(r->pass));
      ad[l].push_back(u.base->agreement - r->agreement);
      passes[l].push_back(r->pass);
      if (std::isfinite(r->moran_i)) mi[l].push_back(r->moran_i);
      if (std::isfinite(r->moran_excess)) mx[l].push_back(r->moran_excess);
    }
  }
  s.units = static_cast<int>(units.size());
  auto mean = [](const std::vector<double>& v) {
    double t = 0;
    for (double x : v) t += x;
    return v.empty() ? std::nan("") : t / double(v.size());
  };
  s.base_pass_rate = mean(base_pass);
  s.empty_pass_rate = mean(empty_pass);
  s.base_agreement = mean(base_ag);
  s.empty_agreement = mean(empty_ag);
  std::vector<double> xs, e_lat, e_pass, e_ag, xx, e_lat_x;
  const Interval none{std::nan(""), std::nan(""), std::nan("")};
  for (const auto& [l, drops] : pd) {
    LayerEffect e;
    e.layer = l;
    e.n = static_cast<int>(drops.size());
    const uint64_t sd = seed * 131 + static_cast<uint64_t>(l);
    e.latent_effect = lat[l].empty() ? none : bootstrap_mean(lat[l], reps, 0.95, sd);
    e.pass_drop = bootstrap_mean(pd[l], reps, 0.95, sd + 1);
    e.agreement_drop = bootstrap_mean(ad[l], reps, 0.95, sd + 2);
    e.pass_rate = mean(passes[l]);
    if (!mi[l].empty()) e.moran_i = bootstrap_median(mi[l], reps, 0.95, sd + 3);
    else e.moran_i = none;
    e.moran_excess = mx[l].empty() ? none : bootstrap_median(mx[l], reps, 0.95, sd + 4);
    if (!mx[l].empty() && !lat[l].empty()) xx.push_back(e.moran_excess.estimate), e_lat_x.push_back(e.latent_effect.estimate);
    s.layers.push_back(e);
    if (!mi[l].empty() && !lat[l].empty()) {
      xs.push_back(e.moran_i.estimate);
      e_lat.push_back(e.latent_effect.estimate);
      e_pass.push_back(e.pass_drop.estimate);
      e_ag.push_back(e.agreement_drop.estimate);
    }
  }
  s.spearman_latent = spearman(xs, e_lat);
  s.spearman_pass = spearman(xs, e_pass);
  s.spearman_agreement = spearman(xs, e_ag);
  s.spearman_excess_latent = spearman(xx, e_lat_x);
  return s;
}

namespace {
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
nlohmann::json interval(const Interval& i) { return {{"mean", num(i.estimate)}, {"ci95", {num(i.lo), num(i.hi)}}}; }
}  // namespace

nlohmann::json ablation_json(const AblationSummary& s) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& e : s.layers)
    layers.push_back({{"layer", e.layer},
                      {"n", e.n},
                      {"latent_effect", interval(e.latent_effect)},
                      {"pass_drop", interval(e.pass_drop)},
                      {"agreement_drop", interval(e.agreement_drop)},
                      {"pass_rate", num(e.pass_rate)},
                      {"moran_i", {{"median", num(e.moran_i.estimate)}, {"ci95", {num(e.moran_i.lo), num(e.moran_i.hi)}}}},
                      {"moran_excess", {{"median", num(e.moran_excess.estimate)},
                                        {"ci95", {num(e.moran_excess.lo), num(e.moran_excess.hi)}}}}});
  return {{"units", s.units},
          {"baseline", {{"pass_rate", num(s.base_pass_rate)}, {"agreement", num(s.base_agreement)}}},
          {"all_layers_knocked_out", {{"pass_rate", num(s.empty_pass_rate)}, {"agreement", num(s.empty_agreement)}}},
          {"layers", layers},
          {"spearman", {{"moran_i_vs_latent_effect", num(s.spearman_latent)},
                        {"moran_i_vs_pass_drop", num(s.spearman_pass)},
                        {"moran_i_vs_agreement_drop", num(s.spearman_agreement)},
                        {"moran_excess_vs_latent_effect", num(s.spearman_excess_latent)}}}};
}

std::string ablation_csv_header() { return "case,dimension,seed,layer,pass,agreement,latent_rel,moran_i,moran_excess"; }

std::string ablation_csv_line(const AblationRow& r) {
  char b[256];
  std::snprintf(b, sizeof b, ",%d,%d,%d,%.6g,%.6g,%.6g,%.6g", r.seed, r.layer, r.pass ? 1 : 0, r.agreement, r.latent_rel,
                r.moran_i, r.moran_excess);
  return r.case_id + "," + r.dimension + b;
}

std::vector<AblationRow> read_ablation_runs(const std::string& path) {
  std::ifstream in(path);
  if (!in) raise(path, "cannot read");
  std::string line;
  if (!std::getline(in, line) || line != ablation_csv_header())
    raise(path, "line 1: expected the header '" + ablation_csv_header() + "'");
  std::vector<AblationRow> rows;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (f.size() != 9) raise(path, "line " + std::to_string(n) + ": expected 9 fields, got " + std::to_string(f.size()));
    AblationRow r;
    r.case_id = f[0];
    r.dimension = f[1];
    try {
      size_t used = 0;
      auto whole = [&](const std::string& s, auto parse) {
        auto v = parse(s, &used);
        if (used != s.size()) throw std::invalid_argument(s);
        return v;
      };
      r.seed = whole(f[2], [](const std::string& s, size_t* u) { return std::stoi(s, u); });
      r.layer = whole(f[3], [](const std::string& s, size_t* u) { return std::stoi(s, u); });
      r.pass = whole(f[4], [](const std::string& s, size_t* u) { return std::stoi(s, u); }) != 0;
      r.agreement = whole(f[5], [](const std::string& s, size_t* u) { return std::stod(s, u); });
      r.latent_rel = whole(f[6], [](const std::string& s, size_t* u) { return std::stod(s, u); });
      auto maybe_nan = [&](const std::string& x) {
        return x == "nan" || x == "-nan" ? std::nan("") : whole(x, [](const std::string& s, size_t* u) { return std::stod(s, u); });
      };
      r.moran_i = maybe_nan(f[7]);
      r.moran_excess = maybe_nan(f[8]);
    } catch (const std::exception&) {
      raise(path, "line " + std::to_string(n) + ": malformed number");
    }
    rows.push_back(r);
  }
  return rows;
}

}  // namespace focalscope::analysis
