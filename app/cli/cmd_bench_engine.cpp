// focalscope bench-engine: DiT forward throughput against this machine's measured matmul throughput.
// Last line: "ratio X.XX" = achieved GFLOP/s of the toy-size forward / 1024^2 matmul GFLOP/s.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "engine/dit/wan_model.h"

namespace focalscope::cli {
namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double best_seconds(int reps, F&& fn) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

double matmul_gflops() {
  at::Tensor a = at::randn({1024, 1024}), b = at::randn({1024, 1024});
  at::matmul(a, b);
  double s = best_seconds(8, [&] { at::matmul(a, b); });
  return 2.0 * 1024 * 1024 * 1024 / s / 1e9;
}

struct BenchCase {
  const char* name;
  WanConfig cfg;
  int64_t F, H, W, n_img;
};

WanConfig make_cfg(int dim, int heads, int layers, int ffn, int text_dim, int text_len, int clip_dim, int patch) {
  WanConfig c;
  c.patch_size = {1, patch, patch};
  c.dim = dim; c.num_heads = heads; c.num_layers = layers; c.ffn_dim = ffn;
  c.text_dim = text_dim; c.text_len = text_len; c.clip_dim = clip_dim;
  return c;
}

int run(const std::vector<std::string>& argv) {
  Args args(argv, {"reps", "threads"}, {"help"});
  if (args.flag("help")) {
    std::printf("usage: focalscope bench-engine [--reps N] [--threads N]\n"
                "Times one CFG DiT forward (batch 2, cached context) at a toy and a larger size and compares the\n"
                "achieved GFLOP/s with a 1024x1024 fp32 matmul measured in the same run.\n");
    return 0;
  }
  const int reps = static_cast<int>(args.integer("reps", 5, 1, 1000));
  if (args.has("threads")) at::set_num_threads(static_cast<int>(args.integer("threads", 2, 1, 256)));
  c10::InferenceMode guard;
  at::manual_seed(0);
  const double mm = matmul_gflops();
  std::printf("threads %d | matmul 1024^2 fp32: %.1f GFLOP/s\n", at::get_num_threads(), mm);

  // Toy: the embedded Shapes model's shape (width 128, 12 layers, patch 1x1x1, 4 latent frames of 8x8 tokens, 65 CLIP
  // tokens). Larger: width 512, patch 1x2x2, 5 latent frames of 16x16 tokens.
  std::vector<BenchCase> cases = {
      {"toy", make_cfg(128, 4, 12, 512, 64, 32, 128, 1), 4, 8, 8, 65},
      {"larger", make_cfg(512, 8, 12, 2048, 64, 32, 128, 2), 5, 32, 32, 65},
  };
  double toy_ratio = 0;
  std::printf("%-7s %6s %6s %7s %10s %10s %9s %7s\n", "case", "dim", "layers", "tokens", "GFLOP/fwd", "ms/fwd", "GFLOP/s", "ratio");
  for (const auto& bc : cases) {
    WanModel m = WanModel::init(bc.cfg, 1);
    for (auto& b : m.blocks) (void)b;
    m.head.w = at::randn_like(m.head.w) * 0.02;  // non-zero head so the output depends on every op
    const int64_t B = 2;
    DitInputs in;
    in.x = at::randn({B, 16, bc.F, bc.H, bc.W});
    in.y = at::randn({B, 20, bc.F, bc.H, bc.W});
    in.t = at::full({B}, 500.0);
    in.context = at::randn({B, bc.cfg.text_len, bc.cfg.text_dim});
    in.clip_fea = at::randn({B, bc.n_img, bc.cfg.clip_dim});
    CrossContext cross = m.precompute_cross(in.context, in.clip_fea);
    ForwardOptions opt;
    opt.cross = &cross;
    m.forward(in, opt);  // warm-up
    const double s = best_seconds(reps, [&] { m.forward(in, opt); });
    const int64_t L = bc.F * (bc.H / bc.cfg.patch_size[1]) * (bc.W / bc.cfg.patch_size[2]);
    const double flops = B * dit_forward_flops(bc.cfg, L, bc.cfg.text_len, bc.n_img, /*cached_context=*/true);
    const double gf = flops / s / 1e9;
    std::printf("%-7s %6d %6d %7lld %10.2f %10.1f %9.1f %7.2f\n", bc.name, bc.cfg.dim, bc.cfg.num_layers,
                static_cast<long long>(B * L), flops / 1e9, s * 1e3, gf, gf / mm);
    if (std::string(bc.name) == "toy") toy_ratio = gf / mm;
  }
  std::printf("ratio %.2f\n", toy_ratio);
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("bench-engine", "DiT forward GFLOP/s vs. this machine's matmul GFLOP/s (ends with 'ratio X.XX')", run);

}  // namespace focalscope::cli
