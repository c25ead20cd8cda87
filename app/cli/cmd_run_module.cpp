// focalscope run-module --fixture DIR --out FILE: reproduce a reference fixture's outputs from the shell.
#include <cstdio>
#include <set>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/device_args.h"
#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/formats/dit_weights.h"
#include "engine/models/wan/dit_fixture.h"
#include "engine/pipeline/run_module.h"

namespace focalscope::cli {
namespace {

int run(const std::vector<std::string>& argv) {
  Args args(argv, {"fixture", "out", "device", "dtype", "bar", "weights"}, {"help", "compare", "keep-quantised"});
  if (args.flag("help")) {
    std::printf("usage: focalscope run-module --fixture DIR --out FILE [--compare] [--device cpu|cuda] [--dtype f32|bf16|f16]\n"
                "Runs the module a fixture folder describes (config.json + weights.safetensors + io.safetensors) and\n"
                "writes every output under the fixture's tensor names to FILE (safetensors). --compare also prints\n"
                "max|ours-ref| / max(1,max|ref|) per tensor against the folder's io.safetensors (with max|ours-ref|\n"
                "and the bound bar*max(1,max|ref|)); a recorded output that is neither produced nor an input fails.\n"
                "  --device D   where the module runs (default cpu)\n"
                "  --dtype T    weight precision: f32 (default; bar 1e-4) or the module's mixed precision in bf16/f16\n"
                "               (bar 1e-1: the bound docs/real_weights.md documents for 8-bit mantissas)\n"
                "  --bar X      override the pass bar of --compare\n"
                "  --weights P  Wan DiT fixtures: take the DiT weights from P instead of the folder's weights.safetensors —\n"
                "               any checkpoint format `focalscope info --dit P` identifies (official names, ComfyUI single\n"
                "               file bf16/fp16/fp32/fp8/scaled fp8, diffusers folder, GGUF), dequantised to float32\n"
                "  --keep-quantised  with --weights: keep Q8_0 / Q4_K / fp8 block weights as codes, decoded per block\n"
                "               while it runs (the outputs equal the decoded-on-load run bit for bit)\n");
    return 0;
  }
  Fixture f = load_fixture(args.required("fixture"));
  f.target.device = parse_device_flag(args.str("device", "cpu"));
  f.target.dtype = parse_dtype_flag(args.str("dtype", "f32"));
  const double bar = args.number("bar", f.target.dtype == c10::ScalarType::Float ? 1e-4 : 1e-1, 0.0, 1.0);
  const std::string kind = fixture_kind(f);
  formats::QuantisedWeights kept;  // --keep-quantised: block weights left as codes, decoded per block in the run
  if (args.has("weights")) {
    if (kind != "dit") fail("--weights", "replaces a Wan DiT's weights; " + f.dir + " is a '" + kind + "' fixture");
    auto w = formats::load_wan_dit_weights(args.str("weights"), c10::ScalarType::Float, args.flag("keep-quantised"));
    std::printf("%s: %s, %s, %s; %zu tensors (%lld dequantised to float32)\n", args.str("weights").c_str(), w.probe.layout.c_str(),
                w.probe.variant.c_str(), w.probe.storage.c_str(), w.set.size(), static_cast<long long>(w.dequantised));
    if (args.flag("keep-quantised"))
      std::printf("%s\n", w.kept.empty() ? "--keep-quantised: nothing kept (no Q8_0 / Q4_K / fp8 block weights in this file)"
                                         : ("--keep-quantised: " + w.kept_summary()).c_str());
    f.weights = std::move(w.set);
    kept = std::move(w.kept);
  } else if (args.flag("keep-quantised")) {
    fail("--keep-quantised", "applies to the weights given with --weights");
  }
  FixtureResult r = kept.empty() ? run_module_fixture(f) : run_dit_fixture(f, f.weights, &kept);
  save_safetensors(args.required("out"), r.outputs, {{"fixture", f.dir}, {"module", kind}});
  std::printf("%s: ran %s on %s in %s, wrote %zu tensors to %s\n", f.dir.c_str(), kind.c_str(), f.target.device.str().c_str(),
              dtype_flag_name(f.target.dtype), r.outputs.size(), args.str("out").c_str());
  if (args.flag("compare")) {
    double worst = 0;
    for (const auto& [name, t] : r.outputs) {
      if (!f.io.has(name)) continue;
      at::Tensor ref = f.io.get(name).to(at::kDouble);
      if (ref.sizes() != t.sizes()) {
        std::printf("  %-40s SHAPE MISMATCH\n", name.c_str());
        worst = 1e30;
        continue;
      }
      const double abs_err = (t.to(at::kDouble) - ref).abs().max().item<double>();
      const double scale = std::max(1.0, ref.abs().max().item<double>());
      const double err = abs_err / scale;
      worst = std::max(worst, err);
      std::printf("  %-40s %.3g   (max|ours-ref| %.3g, bound %.3g)\n", name.c_str(), err, abs_err, bar * scale);
    }
    // A recorded output the runner did not reproduce (and did not declare an input) fails, as in the parity test.
    std::set<std::string> produced;
    for (const auto& [name, t] : r.outputs) produced.insert(name);
    for (const auto& n : f.io.names())
      if (!produced.count(n) && !r.inputs.count(n)) {
        std::printf("  %-40s NOT PRODUCED\n", n.c_str());
        worst = 1e30;
      }
    std::printf("worst relative error %.3g (bar %.3g): %s\n", worst, bar, worst <= bar ? "PASS" : "FAIL");
    return worst <= bar ? 0 : 1;
  }
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("run-module", "run the module a reference-fixture folder describes; write its outputs", run);

}  // namespace focalscope::cli
