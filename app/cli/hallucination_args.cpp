#include "app/cli/hallucination_args.h"

#include <cmath>
#include <fstream>

#include "engine/core/error.h"

namespace focalscope::cli {

HallucinationTau hallucination_tau(const ModelBundle& m, const Args& a) {
  if (a.has("tau")) return {a.number("tau", kPaperHallucinationTau, 1e-12, 1e6), "--tau"};
  if (!std::isnan(m.calibrated_kvlock_tau)) return {m.calibrated_kvlock_tau, "calibrated for this model"};
  return {kPaperHallucinationTau, "tau is the paper's value, not calibrated for this model"};
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot be written");
  f << text;
  if (!f) fail(path, "write failed");
}

}  // namespace focalscope::cli
