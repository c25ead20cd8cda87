// `focalscope make-bench --out DIR [--per-dimension N] [--seed-base S]`: writes the Shapes benchmark set
// (DIR/<dimension>/<case_id>/{ref.png, case.json} + DIR/index.json) from seeds no training run uses.
#include <cstdio>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "engine/core/error.h"
#include "engine/shapes/shapes_bench.h"

namespace {

void print_make_bench_help() {
  std::printf(
      "usage: focalscope make-bench --out DIR [--per-dimension N] [--seed-base S] [--width W --height H --frames F]\n\n"
      "Writes N Shapes cases per dimension (dynamic_attributes, motion, interaction) to DIR: each case is\n"
      "DIR/<dimension>/<case_id>/ref.png (the reference image) and case.json (seed, dimension, action, prompt,\n"
      "annotation), listed in DIR/index.json. Case i of dimension d uses seed S + 1000000*d + i; S must be at\n"
      "least %llu (training seeds are below that). Defaults: N = 100, S = %llu, 96x96, 13 frames.\n",
      static_cast<unsigned long long>(focalscope::shapes::kTrainSeedLimit),
      static_cast<unsigned long long>(focalscope::shapes::kBenchSeedBase));
}

int run_make_bench(const std::vector<std::string>& argv) {
  focalscope::cli::Args args(argv, {"out", "per-dimension", "seed-base", "width", "height", "frames"}, {"help"});
  if (args.flag("help")) {
    print_make_bench_help();
    return 0;
  }
  if (!args.positional().empty()) focalscope::fail(args.positional()[0], "unexpected argument (see --help)");
  const std::string out = args.required("out");
  focalscope::shapes::ShapesWorldConfig cfg;
  cfg.width = static_cast<int>(args.integer("width", cfg.width, 48, 1024));
  cfg.height = static_cast<int>(args.integer("height", cfg.height, 48, 1024));
  cfg.frames = static_cast<int>(args.integer("frames", cfg.frames, 5, 1000));
  const int per_dim = static_cast<int>(args.integer("per-dimension", 100, 1, 1000000));
  const auto seed_base = static_cast<uint64_t>(
      args.integer("seed-base", static_cast<long long>(focalscope::shapes::kBenchSeedBase), 0, 1LL << 62));
  const auto index = focalscope::shapes::write_bench_set(out, per_dim, seed_base, cfg);
  std::printf("wrote %zu cases to %s (index.json)\n", index["cases"].size(), out.c_str());
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("make-bench", "Write the Shapes benchmark set (reference PNGs + prompts + annotations)", run_make_bench);
