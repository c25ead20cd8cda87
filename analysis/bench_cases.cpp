#include "analysis/bench_cases.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "analysis/analysis_error.h"

namespace focalscope::analysis {

namespace {

constexpr const char* kColumns[] = {"setting", "seed", "case", "dimension", "pass", "i2v_subject", "i2v_background",
                                    "failures"};

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + '"';
}

// RFC 4180 records: commas and newlines inside double quotes are data, "" is a quote. Returns false on an
// unterminated quote.
bool split_records(const std::string& text, std::vector<std::vector<std::string>>* records) {
  std::vector<std::string> rec;
  std::string field;
  bool in_quotes = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') in_quotes = false;
      else field += c;
    } else if (c == '"') {
      in_quotes = any = true;
    } else if (c == ',') {
      rec.push_back(field), field.clear(), any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) rec.push_back(field), records->push_back(rec);
      rec.clear(), field.clear(), any = false;
    } else {
      field += c, any = true;
    }
  }
  if (in_quotes) return false;
  if (any || !field.empty()) rec.push_back(field), records->push_back(rec);
  return true;
}

double parse_number(const std::string& s, const std::string& where) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v)) raise(where, "'" + s + "' is not a number");
  return v;
}

}  // namespace

void BenchCases::add(const std::string& setting, int seed, const CaseScore& c, const std::string& source) {
  auto [it, fresh] = rows.try_emplace(setting);
  if (fresh) settings.push_back(setting);
  if (!it->second.emplace(Key{c.case_id, seed}, c).second)
    raise(source, "setting '" + setting + "' has case " + c.case_id + " seed " + std::to_string(seed) +
                      " twice (rename one file's settings: FILE:OLD=NEW)");
}

RowStats BenchCases::row(const std::string& setting, const std::map<Key, CaseScore>* only) const {
  std::map<int, std::vector<CaseScore>> by_seed;
  const auto it = rows.find(setting);
  if (it != rows.end())
    for (const auto& [key, c] : it->second)
      if (!only || only->count(key)) by_seed[key.second].push_back(c);
  RowStats r{setting, {}};
  for (const auto& [seed, cs] : by_seed) r.seeds.push_back(score_seed(cs));
  return r;
}

std::vector<RowStats> BenchCases::table_rows() const {
  std::vector<RowStats> out;
  for (const auto& s : settings) out.push_back(row(s));
  return out;
}

std::string cases_csv_header() {
  std::string h;
  for (const char* c : kColumns) h += (h.empty() ? "" : ",") + std::string(c);
  return h + "\n";
}

std::string cases_csv_row(const std::string& setting, int seed, const CaseScore& c) {
  // %.9g: enough digits that a re-read file re-scores to the same table as the run that wrote it.
  char nums[96];
  std::snprintf(nums, sizeof nums, "%d,%.9g,%.9g", c.pass ? 1 : 0, c.subject, c.background);
  return quoted(setting) + "," + std::to_string(seed) + "," + c.case_id + "," + c.dimension + "," + nums + "," +
         quoted(c.failures) + "\n";
}

void read_cases_csv(const std::string& text, const std::string& source, const std::map<std::string, std::string>& rename,
                    BenchCases& into) {
  std::vector<std::vector<std::string>> recs;
  if (!split_records(text, &recs)) raise(source, "unterminated quoted field");
  std::map<std::string, size_t> col;
  if (!recs.empty())
    for (size_t i = 0; i < recs[0].size(); ++i) col[recs[0][i]] = i;
  std::string need;
  for (const char* c : kColumns)
    if (std::string(c) != "failures" && !col.count(c)) need += (need.empty() ? "" : ", ") + std::string(c);
  if (!need.empty()) raise(source, "not a bench cases.csv (no column " + need + ")");
  std::set<std::string> seen;
  for (size_t r = 1; r < recs.size(); ++r) {
    const auto& rec = recs[r];
    const std::string where = source + " row " + std::to_string(r + 1);
    if (rec.size() != recs[0].size())
      raise(where, std::to_string(rec.size()) + " fields where the header has " + std::to_string(recs[0].size()));
    auto field = [&](const char* name) { return rec[col.at(name)]; };
    CaseScore c;
    c.case_id = field("case");
    c.dimension = field("dimension");
    if (c.dimension != "dynamic_attributes" && c.dimension != "motion" && c.dimension != "interaction")
      raise(where, "unknown dimension '" + c.dimension + "'");
    const double seed = parse_number(field("seed"), where), pass = parse_number(field("pass"), where);
    if (seed < 0 || seed != std::floor(seed) || seed > 1e6) raise(where, "seed '" + field("seed") + "' is not a seed index");
    if (pass != 0 && pass != 1) raise(where, "pass '" + field("pass") + "' is neither 0 nor 1");
    c.pass = pass == 1;
    c.subject = parse_number(field("i2v_subject"), where);
    c.background = parse_number(field("i2v_background"), where);
    if (col.count("failures")) c.failures = field("failures");
    const std::string setting = field("setting");
    seen.insert(setting);
    const auto rn = rename.find(setting);
    into.add(rn == rename.end() ? setting : rn->second, static_cast<int>(seed), c, source);
  }
  for (const auto& [old_name, new_name] : rename)
    if (!seen.count(old_name)) raise(source, "no setting named '" + old_name + "' to rename");
}

std::vector<PairedDelta> paired_deltas(const BenchCases& cases, const std::string& baseline) {
  std::vector<PairedDelta> out;
  const auto base = cases.rows.find(baseline);
  if (base == cases.rows.end()) return out;
  for (const auto& name : cases.settings) {
    if (name == baseline) continue;
    PairedDelta d;
    d.setting = name;
    // Score both on exactly the shared pairs, so a partial run is never compared with a whole one.
    std::map<BenchCases::Key, CaseScore> common;
    for (const auto& [key, c] : cases.rows.at(name)) {
      const auto b = base->second.find(key);
      if (b == base->second.end()) continue;
      common.emplace(key, c);
      d.gained += c.pass && !b->second.pass;
      d.lost += !c.pass && b->second.pass;
    }
    d.pairs = static_cast<int>(common.size());
    const RowStats mine = cases.row(name, &common), theirs = cases.row(baseline, &common);
    for (size_t s = 0; s < mine.seeds.size(); ++s) d.total_per_seed.push_back(mine.seeds[s].total - theirs.seeds[s].total);
    if (!d.total_per_seed.empty()) {
      for (double v : d.total_per_seed) d.mean += v;
      d.mean /= double(d.total_per_seed.size());
      for (double v : d.total_per_seed) d.stddev += (v - d.mean) * (v - d.mean);
      d.stddev = std::sqrt(d.stddev / double(d.total_per_seed.size()));
    }
    out.push_back(d);
  }
  return out;
}

std::string paired_markdown(const std::vector<PairedDelta>& deltas, const std::string& baseline) {
  std::string out = "| Setting (vs " + baseline + ", same case and seed) | ΔTotal | per seed | pairs gained / lost |\n"
                    "| --- | ---: | --- | ---: |\n";
  char buf[96];
  for (const auto& d : deltas) {
    out += "| " + d.setting + " | ";
    if (d.pairs == 0) {
      out += "no pair in common | | |\n";
      continue;
    }
    // Total needs all three dimensions (a `--dimension` run has none): then only the pairs are shown.
    const bool measured = !std::isnan(d.mean);
    std::snprintf(buf, sizeof buf, "%+.4f ± %.4f | ", d.mean, d.stddev);
    out += measured ? buf : "— | —";
    for (size_t s = 0; measured && s < d.total_per_seed.size(); ++s) {
      std::snprintf(buf, sizeof buf, "%s%+.4f", s ? ", " : "", d.total_per_seed[s]);
      out += buf;
    }
    std::snprintf(buf, sizeof buf, " | %d / %d of %d |\n", d.gained, d.lost, d.pairs);
    out += buf;
  }
  return out;
}

}  // namespace focalscope::analysis
