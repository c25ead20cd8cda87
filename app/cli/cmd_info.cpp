// focalscope info [--model-dir DIR]: what a model folder holds — detected variant and, per component, its files,
// dtypes and parameter count — without building the models.
#include <cstdio>
#include <cstdlib>
#include <map>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/model_arg.h"
#include "engine/core/blas_check.h"
#include "engine/core/weights.h"
#include "engine/pipeline/model_bundle.h"

namespace focalscope::cli {
namespace {

void describe(const char* component, const std::string& file, const TensorSet& set, const std::string& prefix = "") {
  std::map<std::string, long long> by_dtype;
  long long params = 0, count = 0, skipped = 0;
  std::map<std::string, int> files;
  for (const auto& n : set.names()) {
    if (!prefix.empty() && n.rfind(prefix, 0) != 0) {
      ++skipped;
      continue;
    }
    const auto& t = set.get(n);
    by_dtype[c10::toString(t.scalar_type())] += t.numel();
    params += t.numel();
    ++count;
    files[set.source(n)]++;
  }
  std::string dt;
  for (const auto& [k, v] : by_dtype) dt += (dt.empty() ? "" : ", ") + k;
  std::printf("  %-13s %lld tensors, %.3f M parameters, dtype %s\n", component, count, params / 1e6, dt.c_str());
  for (const auto& [f, n] : files) std::printf("                %s (%d tensors)\n", f.c_str(), n);
  if (skipped) std::printf("                (%lld tensors outside '%s' skipped: not used for I2V)\n", skipped, prefix.c_str());
  (void)file;
}

int run(const std::vector<std::string>& argv) {
  Args a(argv, {"model-dir"}, {"help"});
  if (a.flag("help")) {
    std::printf("usage: focalscope info [--model-dir DIR]\nDescribes a model folder (official Wan2.1 layout or FocalScope format).\n");
    return 0;
  }
  const std::string dir = resolve_model_dir(a.str("model-dir"));
  ModelLayout L = detect_model_layout(dir);
  std::printf("model folder: %s\nformat: %s\nvariant: %s\n", L.dir.c_str(), L.format.c_str(), L.variant.c_str());
  describe("DiT", L.dit_weights, load_tensor_file(L.dit_weights));
  describe("umT5", L.t5_weights, load_tensor_file(L.t5_weights));
  describe("CLIP vision", L.clip_weights, load_tensor_file(L.clip_weights), L.clip_prefix);
  describe("VAE", L.vae_weights, load_tensor_file(L.vae_weights));
  std::printf("  %-13s %s\n", "tokenizer", L.tokenizer.c_str());
  std::printf("%s\n", blas_summary(detect_blas(false)).c_str());
  const char* wait = std::getenv("OMP_WAIT_POLICY");  // set to PASSIVE by main() unless the user chose one
  std::printf("OpenMP wait policy: %s\n", wait ? wait : "(libgomp default)");
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("info", "describe a model folder: variant, files, dtypes, parameter counts", run);

}  // namespace focalscope::cli
