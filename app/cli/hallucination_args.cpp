#include "app/cli/hallucination_args.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/core/error.h"

namespace focalscope::cli {

HallucinationTau hallucination_tau(const ModelBundle& m, const Args& a, bool local) {
  if (a.has("tau")) return {a.number("tau", kPaperHallucinationTau, 1e-12, 1e6), "--tau"};
  bool calibrated = false;
  const double tau = kvlock_tau(m, &calibrated, local);
  return {tau, !calibrated ? "tau is the paper's value, not calibrated for this model"
               : local && !std::isnan(m.calibrated_kvlock_tau_local) ? "calibrated for this model, inside a mask"
                                                                      : "calibrated for this model"};
}

int hallucination_window_flag(const Args& a) {
  const int w = static_cast<int>(a.integer("hallucination-window", 10, 0, 1000));
  if (w == 1) fail("--hallucination-window", "1 is too small: a variance needs 2 steps (0 turns it off)");
  return w;
}

std::string hallucination_out_flag(const Args& a, int window) {
  const std::string path = a.str("hallucination-out");
  if (path.empty()) return path;
  check_output_folder(path, "--hallucination-out");
  const auto ext = std::filesystem::path(path).extension();
  if (ext != ".csv" && ext != ".json") fail("--hallucination-out", "'" + path + "' must end in .csv or .json");
  if (window == 0) fail("--hallucination-out", "the metric is off (--hallucination-window 0)");
  return path;
}

void report_hallucination(const HallucinationTrace& t, const HallucinationTau& tau, const std::string& path) {
  std::fprintf(stderr, "%s (%s)\n", hallucination_summary(t, tau.value).c_str(), tau.source.c_str());
  if (!path.empty())
    write_text_file(path, std::filesystem::path(path).extension() == ".csv" ? hallucination_csv(t)
                                                                            : hallucination_json(t, tau.value));
}

std::string dyncfg_summary(const GenerateResult& r, const DynCfgConfig& c) {
  if (r.dyncfg.empty()) return "dynamic CFG: not applied";
  std::vector<double> s, w;
  for (const auto& st : r.dyncfg) {
    s.push_back(st.sstar);
    if (st.scheduled) w.push_back(st.omega);
  }
  std::sort(s.begin(), s.end());
  char b[400];
  std::snprintf(b, sizeof b, "dynamic CFG (%s%s%s, %s reading): s* median %.4f [%.4f, %.4f]", c.sstar ? "s*" : "",
                c.sstar && c.omega ? " + " : "", c.omega ? "omega schedule" : "", omega_reading_name(c.reading),
                s[s.size() / 2], s.front(), s.back());
  std::string out = b;
  if (c.omega) {
    if (w.empty()) {
      out += "; no scheduled step";
    } else {
      std::snprintf(b, sizeof b, "; omega over the last %d steps %.3f-%.3f (omega0 %.3g, tau %.3g%s)", r.dyncfg_kappa,
                    *std::min_element(w.begin(), w.end()), *std::max_element(w.begin(), w.end()), r.dyncfg_omega0,
                    r.dyncfg_tau, r.dyncfg_tau_calibrated ? ", calibrated" : ", the paper's value, not calibrated");
      out += b;
    }
  }
  return out;
}

void check_output_folder(const std::string& path, const std::string& flag) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
    fail(flag, "'" + path + "': its folder " + dir.string() + " does not exist");
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot be written");
  f << text;
  if (!f) fail(path, "write failed");
}

}  // namespace focalscope::cli
