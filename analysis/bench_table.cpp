#include "analysis/bench_table.h"

#include <cmath>
#include <cstdio>

namespace focalscope::analysis {

namespace {
constexpr const char* kCols[] = {"I2V Subject", "I2V Background", "Dynamic Attributes", "Motion", "Interaction", "Total"};
std::vector<double> values(const SeedScores& s) {
  return {s.subject, s.background, s.dynamic_attributes, s.motion, s.interaction, s.total};
}
// A dimension with no cases (e.g. `bench --dimension motion`) is NaN and shows as a dash, never as 0.
std::string fmt(const char* f, double a, double b = 0) {
  if (std::isnan(a)) return " — |";
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, a, b);
  return buf;
}
}  // namespace

SeedScores score_seed(const std::vector<CaseScore>& cases) {
  SeedScores s;
  std::map<std::string, int> pass;
  double subj = 0, bg = 0;
  for (const auto& c : cases) {
    s.cases[c.dimension]++;
    pass[c.dimension] += c.pass ? 1 : 0;
    subj += c.subject;
    bg += c.background;
  }
  // No cases of a dimension: not measured (NaN), so Total is not a mean of five either.
  auto rate = [&](const char* d) { return s.cases[d] ? double(pass[d]) / s.cases[d] : std::nan(""); };
  s.dynamic_attributes = rate("dynamic_attributes");
  s.motion = rate("motion");
  s.interaction = rate("interaction");
  s.subject = cases.empty() ? std::nan("") : subj / double(cases.size());
  s.background = cases.empty() ? std::nan("") : bg / double(cases.size());
  s.total = (s.subject + s.background + s.dynamic_attributes + s.motion + s.interaction) / 5.0;
  return s;
}

SeedScores RowStats::mean() const {
  SeedScores m;
  if (seeds.empty()) return m;
  for (const auto& s : seeds) {
    m.subject += s.subject; m.background += s.background; m.dynamic_attributes += s.dynamic_attributes;
    m.motion += s.motion; m.interaction += s.interaction; m.total += s.total;
  }
  const double n = double(seeds.size());
  m.subject /= n; m.background /= n; m.dynamic_attributes /= n; m.motion /= n; m.interaction /= n; m.total /= n;
  m.cases = seeds[0].cases;
  return m;
}

SeedScores RowStats::stddev() const {
  SeedScores m = mean(), v;
  if (seeds.size() < 2) return v;
  auto sq = [](double a, double b) { return (a - b) * (a - b); };
  for (const auto& s : seeds) {
    v.subject += sq(s.subject, m.subject); v.background += sq(s.background, m.background);
    v.dynamic_attributes += sq(s.dynamic_attributes, m.dynamic_attributes); v.motion += sq(s.motion, m.motion);
    v.interaction += sq(s.interaction, m.interaction); v.total += sq(s.total, m.total);
  }
  const double n = double(seeds.size());
  v.subject = std::sqrt(v.subject / n); v.background = std::sqrt(v.background / n);
  v.dynamic_attributes = std::sqrt(v.dynamic_attributes / n); v.motion = std::sqrt(v.motion / n);
  v.interaction = std::sqrt(v.interaction / n); v.total = std::sqrt(v.total / n);
  return v;
}

std::string table1_markdown(const std::vector<RowStats>& rows) {
  std::string out = "| Method |";
  for (const char* c : kCols) out += std::string(" ") + c + " |";
  out += "\n| --- |";
  for (size_t i = 0; i < 6; ++i) out += " ---: |";
  out += "\n";
  for (const auto& r : rows) {
    auto m = values(r.mean()), s = values(r.stddev());
    out += "| " + r.name + " |";
    for (size_t i = 0; i < 6; ++i)
      out += r.seeds.size() > 1 ? fmt(" %.4f ± %.4f |", m[i], s[i]) : fmt(" %.4f |", m[i]);
    out += "\n";
  }
  return out;
}

std::string table3_markdown(const std::vector<RowStats>& rows, const std::string& baseline) {
  const RowStats* base = nullptr;
  for (const auto& r : rows)
    if (r.name == baseline) base = &r;
  std::string out = "| Setting |";
  for (const char* c : kCols) out += std::string(" ") + c + " |";
  out += "\n| --- |";
  for (size_t i = 0; i < 6; ++i) out += " ---: |";
  out += "\n";
  if (!base) return out;
  auto b = values(base->mean());
  for (const auto& r : rows) {
    auto m = values(r.mean());
    out += "| " + r.name + " |";
    for (size_t i = 0; i < 6; ++i)
      // A delta that rounds to zero prints +0.0000, not -0.0000 (float noise of two equal means).
      out += &r == base ? fmt(" %.4f |", m[i])
                        : fmt(" %.4f (%+.4f) |", m[i], std::fabs(m[i] - b[i]) < 5e-5 ? 0.0 : m[i] - b[i]);
    out += "\n";
  }
  return out;
}

nlohmann::json rows_to_json(const std::vector<RowStats>& rows) {
  nlohmann::json j = nlohmann::json::array();
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };  // not measured
  auto obj = [&](const SeedScores& s) {
    return nlohmann::json{{"i2v_subject", num(s.subject)}, {"i2v_background", num(s.background)},
                          {"dynamic_attributes", num(s.dynamic_attributes)}, {"motion", num(s.motion)},
                          {"interaction", num(s.interaction)}, {"total", num(s.total)}, {"cases", s.cases}};
  };
  for (const auto& r : rows) {
    nlohmann::json seeds = nlohmann::json::array();
    for (const auto& s : r.seeds) seeds.push_back(obj(s));
    j.push_back({{"name", r.name}, {"mean", obj(r.mean())}, {"std", obj(r.stddev())}, {"seeds", seeds}});
  }
  return j;
}

}  // namespace focalscope::analysis
