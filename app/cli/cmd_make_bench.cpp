// `focalscope make-bench [--suite shapes|shapes-edit] --out DIR [--per-dimension N] [--seed-base S]`: writes a
// Shapes benchmark set from seeds no training run uses.
//   shapes (default): DIR/<dimension>/<case_id>/{ref.png, case.json} + DIR/index.json (prompt following).
//   shapes-edit:      DIR/<dimension>/<case_id>/{case.json, ref.png, mask.png, source/, expected/} + DIR/index.json
//                     (mask-based video editing; see engine/shapes/shapes_edit_bench.h).
#include <cstdio>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "engine/core/error.h"
#include "engine/shapes/shapes_bench.h"
#include "engine/shapes/shapes_edit_bench.h"

namespace {

void print_make_bench_help() {
  std::printf(
      "usage: focalscope make-bench [--suite shapes|shapes-edit] --out DIR [--per-dimension N] [--seed-base S]\n"
      "                             [--width W --height H --frames F]\n\n"
      "--suite shapes (default): writes N Shapes cases per dimension (dynamic_attributes, motion, interaction) to\n"
      "DIR: each case is DIR/<dimension>/<case_id>/ref.png (the reference image) and case.json (seed, dimension,\n"
      "action, prompt, annotation), listed in DIR/index.json. Defaults: N = 100, S = %llu, 96x96, 13 frames.\n\n"
      "--suite shapes-edit: writes N editing cases per dimension: a source clip in which the actor does one thing\n"
      "and the expected clip in which, from the same first frame, it does another (the edit instruction), with\n"
      "the edit mask. Each case is DIR/<dimension>/<case_id>/case.json (seed, dimension, instruction,\n"
      "source_prompt, both annotations), ref.png (frame 0), mask.png (0/255, 255 = may change),\n"
      "source/frame_NNN.png and expected/frame_NNN.png, listed in DIR/index.json. Defaults: N = 34,\n"
      "S = %llu, 64x64, 13 frames (the embedded model's world).\n\n"
      "Case i of dimension d uses seed S + 1000000*d + i; S must be at least %llu (training seeds are below that).\n",
      static_cast<unsigned long long>(focalscope::shapes::kBenchSeedBase),
      static_cast<unsigned long long>(focalscope::shapes::kEditBenchSeedBase),
      static_cast<unsigned long long>(focalscope::shapes::kTrainSeedLimit));
}

int run_make_bench(const std::vector<std::string>& argv) {
  focalscope::cli::Args args(argv, {"suite", "out", "per-dimension", "seed-base", "width", "height", "frames"}, {"help"});
  if (args.flag("help")) {
    print_make_bench_help();
    return 0;
  }
  if (!args.positional().empty()) focalscope::fail(args.positional()[0], "unexpected argument (see --help)");
  const std::string suite = args.str("suite", "shapes");
  if (suite != "shapes" && suite != "shapes-edit")
    focalscope::fail("--suite", "unknown suite '" + suite + "' (shapes or shapes-edit)");
  const bool edit = suite == "shapes-edit";
  const std::string out = args.required("out");
  focalscope::shapes::ShapesWorldConfig cfg;
  if (edit) {
    // The editing set is made for the embedded model (assets/models/shapes/focalscope.json training.world).
    cfg.width = 64;
    cfg.height = 64;
  }
  cfg.width = static_cast<int>(args.integer("width", cfg.width, 48, 1024));
  cfg.height = static_cast<int>(args.integer("height", cfg.height, 48, 1024));
  cfg.frames = static_cast<int>(args.integer("frames", cfg.frames, 5, 1000));
  const int per_dim = static_cast<int>(args.integer("per-dimension", edit ? 34 : 100, 1, 1000000));
  const auto default_base = edit ? focalscope::shapes::kEditBenchSeedBase : focalscope::shapes::kBenchSeedBase;
  const auto seed_base = static_cast<uint64_t>(args.integer("seed-base", static_cast<long long>(default_base), 0, 1LL << 62));
  const auto index = edit ? focalscope::shapes::write_edit_bench_set(out, per_dim, seed_base, cfg)
                          : focalscope::shapes::write_bench_set(out, per_dim, seed_base, cfg);
  std::printf("wrote %zu %scases to %s (index.json)\n", index["cases"].size(), edit ? "editing " : "", out.c_str());
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("make-bench", "Write a Shapes benchmark set (--suite shapes: prompt following; shapes-edit: video editing)",
                   run_make_bench);
