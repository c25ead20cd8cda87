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
