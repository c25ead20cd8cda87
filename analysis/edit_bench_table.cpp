#include "analysis/edit_bench_table.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace focalscope::analysis {

namespace {
const char* kDims[] = {"dynamic_attributes", "motion", "interaction"};

std::string fmt(const char* f, double a, double b) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}
std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
}  // namespace

EditSeedScores score_edit_seed(const std::vector<EditCaseScore>& cases) {
  EditSeedScores s;
  std::map<std::string, int> n, pass;
  for (const auto& c : cases) {
    s.bg_psnr += c.bg_psnr;
    s.bg_ssim += c.bg_ssim;
    s.fg_pass += c.fg_pass;
    ++n[c.dimension];
    pass[c.dimension] += c.fg_pass;
  }
  s.cases = static_cast<int>(cases.size());
  if (s.cases > 0) s.bg_psnr /= s.cases, s.bg_ssim /= s.cases, s.fg_pass /= s.cases;
  for (const auto& [d, k] : n) s.fg_pass_by_dimension[d] = double(pass[d]) / k;
  return s;
}

EditSeedScores EditRow::mean() const {
  EditSeedScores m;
  const double n = double(seeds.size());
  for (size_t k = 0; k < seeds.size(); ++k) {
    const EditSeedScores s = seed_scores(k);
    m.bg_psnr += s.bg_psnr / n, m.bg_ssim += s.bg_ssim / n, m.fg_pass += s.fg_pass / n;
    for (const auto& [d, v] : s.fg_pass_by_dimension) m.fg_pass_by_dimension[d] += v / n;
    m.cases = s.cases;
  }
  return m;
}

EditSeedScores EditRow::stddev() const {
  const EditSeedScores m = mean();
  EditSeedScores v;
  const double n = double(seeds.size());
  for (size_t k = 0; k < seeds.size(); ++k) {
    const EditSeedScores s = seed_scores(k);
    v.bg_psnr += std::pow(s.bg_psnr - m.bg_psnr, 2) / n;
    v.bg_ssim += std::pow(s.bg_ssim - m.bg_ssim, 2) / n;
    v.fg_pass += std::pow(s.fg_pass - m.fg_pass, 2) / n;
    for (const auto& [d, x] : s.fg_pass_by_dimension) v.fg_pass_by_dimension[d] += std::pow(x - m.fg_pass_by_dimension.at(d), 2) / n;
  }
  v.bg_psnr = std::sqrt(v.bg_psnr), v.bg_ssim = std::sqrt(v.bg_ssim), v.fg_pass = std::sqrt(v.fg_pass);
  for (auto& [d, x] : v.fg_pass_by_dimension) x = std::sqrt(x);
  v.cases = m.cases;
  return v;
}

std::string edit_table_markdown(const std::vector<EditRow>& rows, const std::string& baseline) {
  std::ostringstream o;
  o << "| row | mode | bg PSNR (dB) | bg SSIM | fg pass | dynamic attributes | motion | interaction |\n"
       "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& r : rows) {
    const EditSeedScores m = r.mean(), s = r.stddev();
    o << "| " << r.name << " | `" << r.mode << "` | " << fmt("%.2f ± %.2f", m.bg_psnr, s.bg_psnr) << " | "
      << fmt("%.4f ± %.4f", m.bg_ssim, s.bg_ssim) << " | " << fmt("%.3f ± %.3f", m.fg_pass, s.fg_pass);
    for (const char* d : kDims) {
      auto it = m.fg_pass_by_dimension.find(d);
      o << " | " << (it == m.fg_pass_by_dimension.end() ? std::string("-") : fmt("%.3f ± %.3f", it->second, s.fg_pass_by_dimension.at(d)));
    }
    o << " |\n";
  }
  const EditRow* base = nullptr;
  for (const auto& r : rows)
    if (r.mode == baseline) base = &r;
  if (!base) return o.str();
  o << "\nPaired against `" << baseline << "` (same case, same seed: same noise); per-seed deltas, mean ± std over seeds:\n\n"
       "| row | Δ bg PSNR (dB) | Δ bg SSIM | Δ fg pass | fg pairs gained / lost |\n| --- | ---: | ---: | ---: | ---: |\n";
  for (const auto& r : rows) {
    if (&r == base || r.seeds.size() != base->seeds.size() || r.mode == "ceiling") continue;
    std::vector<double> dp, ds, df;
    int gained = 0, lost = 0, pairs = 0;
    for (size_t k = 0; k < r.seeds.size(); ++k) {
      if (r.seeds[k].size() != base->seeds[k].size()) continue;
      const EditSeedScores a = r.seed_scores(k), b = base->seed_scores(k);
      dp.push_back(a.bg_psnr - b.bg_psnr), ds.push_back(a.bg_ssim - b.bg_ssim), df.push_back(a.fg_pass - b.fg_pass);
      for (size_t i = 0; i < r.seeds[k].size(); ++i) {
        ++pairs;
        gained += r.seeds[k][i].fg_pass && !base->seeds[k][i].fg_pass;
        lost += !r.seeds[k][i].fg_pass && base->seeds[k][i].fg_pass;
      }
    }
    auto ms = [](const std::vector<double>& v) {
      double m = 0, s = 0;
      for (double x : v) m += x / v.size();
      for (double x : v) s += (x - m) * (x - m) / v.size();
      return std::make_pair(m, std::sqrt(s));
    };
    if (dp.empty()) continue;
    const auto [pm, psd] = ms(dp);
    const auto [sm, ssd] = ms(ds);
    const auto [fm, fsd] = ms(df);
    o << "| " << r.name << " | " << fmt("%+.2f ± %.2f", pm, psd) << " | " << fmt("%+.4f ± %.4f", sm, ssd) << " | "
      << fmt("%+.3f ± %.3f", fm, fsd) << " | " << gained << " / " << lost << " of " << pairs << " |\n";
  }
  return o.str();
}

nlohmann::json edit_rows_to_json(const std::vector<EditRow>& rows) {
  auto obj = [](const EditSeedScores& s) {
    nlohmann::json j{{"bg_psnr", s.bg_psnr}, {"bg_ssim", s.bg_ssim}, {"fg_pass", s.fg_pass}, {"cases", s.cases}};
    for (const auto& [d, v] : s.fg_pass_by_dimension) j[d] = v;
    return j;
  };
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json seeds = nlohmann::json::array();
    for (size_t k = 0; k < r.seeds.size(); ++k) seeds.push_back(obj(r.seed_scores(k)));
    j.push_back({{"name", r.name}, {"mode", r.mode}, {"mean", obj(r.mean())}, {"std", obj(r.stddev())}, {"seeds", seeds}});
  }
  return j;
}

std::string edit_cases_csv(const std::vector<EditRow>& rows) {
  std::ostringstream o;
  o << "setting,mode,seed,dimension,case,fg_pass,bg_psnr,bg_ssim,failures\n";
  char num[64];
  for (const auto& r : rows)
    for (size_t k = 0; k < r.seeds.size(); ++k)
      for (const auto& c : r.seeds[k]) {
        std::snprintf(num, sizeof num, "%d,%.4f,%.6f", c.fg_pass ? 1 : 0, c.bg_psnr, c.bg_ssim);
        o << csv_quote(r.name) << "," << csv_quote(r.mode) << "," << k << "," << c.dimension << "," << csv_quote(c.case_id)
          << "," << num << "," << csv_quote(c.failures) << "\n";
      }
  return o.str();
}

}  // namespace focalscope::analysis
