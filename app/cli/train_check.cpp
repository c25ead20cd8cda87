#include "app/cli/train_check.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "analysis/shapes_checker.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/shapes/png_io.h"
#include "engine/shapes/shapes_world.h"
#include "engine/train/shapes_data.h"
#include "engine/train/train_options.h"

namespace focalscope::cli {

std::string run_train_check(const TrainCheckOptions& opt) {
  auto bundle = load_model_bundle(opt.model_dir);
  const auto& d = bundle->defaults;
  train::WorldSpec world;
  world.frames = d.frames;
  world.fps = d.fps;
  world.width = world.height = bundle->clip.cfg.image_size;
  struct Tally { int pass = 0, floor_pass = 0, n = 0; double seconds = 0; };
  std::map<std::string, Tally> tally;
  std::map<std::string, std::map<std::string, int>> fails;  // dimension -> first failing question -> count
  int idx = 0;
  for (shapes::Dimension dim : shapes::all_dimensions()) {
    for (int k = 0; k < opt.cases_per_dimension; ++k, ++idx) {
      const uint64_t ws = train::world_seed(opt.seed, train::kStreamCheck, static_cast<uint64_t>(idx));
      const auto c = train::sample_case_robust(ws, world, dim, 3);
      GenerateRequest req;
      req.image = train::frame_to_tensor(shapes::render_reference(c));
      req.prompt = c.prompt;
      req.seed = static_cast<int64_t>(ws);
      req.steps = opt.steps;
      req.guide_scale = opt.cfg;
      const auto t0 = std::chrono::steady_clock::now();
      GenerateResult r = generate(*bundle, req);
      Tally& t = tally[shapes::dimension_name(dim)];
      t.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto frames = train::tensor_to_frames(r.video);
      const auto verdict = analysis::check_case(frames, c.annotation);
      t.pass += verdict.pass;
      ++t.n;
      if (!verdict.pass)
        for (const auto& a : verdict.answers)
          if (!a.ok) {
            ++fails[shapes::dimension_name(dim)][a.question];
            break;
          }
      if (opt.floor) {
        req.guide_scale = 0.0;  // CFG 0 = the unconditional ("") prediction alone
        const auto fr = train::tensor_to_frames(generate(*bundle, req).video);
        t.floor_pass += analysis::check_case(fr, c.annotation).pass;
      }
      if (!opt.frames_dir.empty()) {
        namespace fs = std::filesystem;
        fs::create_directories(opt.frames_dir);
        // One strip per case: generated frames side by side.
        const int W = frames[0].w, H = frames[0].h, T = static_cast<int>(frames.size());
        shapes::RgbFrame strip(W * T, H);
        for (int f = 0; f < T; ++f)
          for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
              const uint8_t* p = frames[f].at(x, y);
              uint8_t* q = strip.at(f * W + x, y);
              q[0] = p[0], q[1] = p[1], q[2] = p[2];
            }
        char name[64];
        std::snprintf(name, sizeof name, "%02d_%s_%s.png", idx, shapes::dimension_name(dim).c_str(), verdict.pass ? "pass" : "fail");
        shapes::write_png((fs::path(opt.frames_dir) / name).string(), strip);
      }
      std::fprintf(stderr, "\r[check] %d/%d cases", idx + 1, opt.cases_per_dimension * 3);
    }
  }
  std::fprintf(stderr, "\n");
  nlohmann::json j;
  std::printf("%-20s %8s %8s %10s   most common first failure\n", "dimension", "strict", "floor", "s/case");
  for (const auto& [name, t] : tally) {
    std::string top;
    int best = 0;
    for (const auto& [q, n] : fails[name])
      if (n > best) best = n, top = q + " (" + std::to_string(n) + ")";
    // Without --floor the floor was not measured: say so ("-", JSON null), never print a number for it.
    char floor_cell[16] = "       -";
    if (opt.floor) std::snprintf(floor_cell, sizeof floor_cell, "%7.0f%%", 100.0 * t.floor_pass / t.n);
    std::printf("%-20s %7.0f%% %s %10.2f   %s\n", name.c_str(), 100.0 * t.pass / t.n, floor_cell, t.seconds / t.n,
                top.c_str());
    j[name] = {{"strict", double(t.pass) / t.n},
               {"floor", opt.floor ? nlohmann::json(double(t.floor_pass) / t.n) : nlohmann::json(nullptr)},
               {"cases", t.n},
               {"seconds_per_case", t.seconds / t.n}};
  }
  return j.dump();
}

}  // namespace focalscope::cli
