// Runs the Shapes editing benchmark (`focalscope bench --suite shapes-edit`): every case per row and seed through
// `focalscope edit`'s job (prepare_edit / run_edit), the foreground judged by the strict checker on the edit
// instruction, the background by PSNR / SSIM against the source outside the mask at the model's output size.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "analysis/edit_bench_table.h"
#include "engine/guidance/guidance_config.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/shapes/shapes_edit_bench.h"

namespace focalscope {

struct EditBenchSetting {
  std::string name, mode;  // table row and the --guidance token ("ceiling" / "source" for the references)
  GuidanceConfig guidance;
  enum class Kind { Edit, VaeCeiling, Source } kind = Kind::Edit;
};

struct EditBenchOptions {
  int seeds = 3;
  int steps = -1;
  double cfg = -1;
  // Called after each case: (setting, seed, done, total, score).
  std::function<void(const std::string&, int, int, int, const analysis::EditCaseScore&)> on_case;
  std::string strips_dir;  // when set: DIR/<row>/<case>_seed<k>.png filmstrips (source over edit)
};

// The edit bench folder next to the default model (assets/bench/shapes-edit), else that path relative to the cwd.
std::string default_edit_bench_dir();
// The noise seed of case `bc` at seed index k (the same for every row, so rows pair up).
int64_t edit_case_seed(const shapes::EditBenchCase& bc, int k);

// The rows for --guidance tokens (off -> "plain edit (off)", kvlock -> "KV-Lock (kvlock)", ...), plus the two
// reference rows unless disabled.
std::vector<EditBenchSetting> edit_bench_settings(const std::vector<std::string>& modes, const GuidanceConfig& base,
                                                  bool ceiling, bool source);

analysis::EditRow run_edit_setting(const ModelBundle& m, const std::vector<shapes::EditBenchCase>& cases,
                                   const EditBenchSetting& setting, const EditBenchOptions& opt);

}  // namespace focalscope
