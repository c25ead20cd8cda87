// The CLI side of KV-Lock's hallucination metric (engine/pipeline/hallucination.h): which tau a run is read against.
#pragma once
#include <string>

#include "app/cli/args.h"
#include "engine/pipeline/hallucination_trace.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/pipeline/model_bundle.h"

namespace focalscope::cli {

struct HallucinationTau {
  double value;
  std::string source;  // "--tau", "calibrated for this model" or "the paper's value, not calibrated for this model"
};
// --tau when given, else the model's calibrated kvlock tau (ModelBundle::calibrated_kvlock_tau), else the paper's
// kPaperHallucinationTau.
// `local`: the run reads sigma2 inside a mask (an edit): the calibrated tau_local when the model has one.
HallucinationTau hallucination_tau(const ModelBundle& m, const Args& a, bool local = false);

// --hallucination-window (default 10; 0 turns the metric off; 1 is refused: a variance needs 2 steps).
int hallucination_window_flag(const Args& a);
// --hallucination-out, checked before the run: .csv or .json, in an existing folder, and refused when window is 0
// (pass window -1 for a command without --hallucination-window). "" when not given.
std::string hallucination_out_flag(const Args& a, int window);
// After the run: the one-line summary against tau on stderr, and the trace written to `path` (.csv, or .json with
// tau) when path is not empty.
void report_hallucination(const HallucinationTrace& t, const HallucinationTau& tau, const std::string& path);

// One line on what dynamic CFG did in a run: s* (median, range), omega over the scheduled steps, omega0, tau.
std::string dyncfg_summary(const GenerateResult& r, const DynCfgConfig& c);

// Before a long run: the folder an output file goes to must exist (Error naming the flag, the file and the folder),
// so a typo fails in a second instead of after the generation.
void check_output_folder(const std::string& path, const std::string& flag);

// Writes text to path, or an Error naming the file.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace focalscope::cli
