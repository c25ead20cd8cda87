#include "app/session/demo_presets.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "engine/shapes/shapes_bench.h"
#include "engine/shapes/shapes_world.h"

namespace focalscope::session {
namespace fs = std::filesystem;

namespace {

render::Image to_image(const shapes::RgbFrame& f) {
  render::Image img(f.w, f.h, 3);
  img.pixels = f.rgb;
  return img;
}

// assets/bench/shapes next to the executable or up to four folders above it (build trees), else empty.
std::string find_bench_root() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  buf[n] = 0;
  fs::path p = fs::path(buf).parent_path();
  for (int up = 0; up < 5; ++up) {
    std::error_code ec;
    if (fs::exists(p / "assets" / "bench" / "shapes" / "index.json", ec)) return (p / "assets" / "bench" / "shapes").string();
    p = p.parent_path();
  }
  return {};
}

}  // namespace

std::vector<DemoPreset> demo_presets(int per_dimension) {
  std::vector<DemoPreset> out;
  // 1) The benchmark on disk.
  try {
    const std::string root = find_bench_root();
    if (!root.empty()) {
      std::map<std::string, std::vector<shapes::BenchCase>> by_dim;
      for (auto& c : shapes::read_bench_set(root)) by_dim[shapes::dimension_name(c.c.dim)].push_back(std::move(c));
      for (int i = 0; i < per_dimension; ++i) {
        for (shapes::Dimension d : shapes::all_dimensions()) {
          auto& v = by_dim[shapes::dimension_name(d)];
          if (i >= static_cast<int>(v.size())) continue;
          DemoPreset p;
          p.id = v[i].id;
          p.dimension = shapes::dimension_name(d);
          p.prompt = v[i].c.prompt;
          p.image_path = v[i].ref_path;
          p.image = std::make_shared<render::Image>(render::load_image(v[i].ref_path, 3));
          out.push_back(std::move(p));
        }
      }
      if (!out.empty()) return out;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: benchmark presets: %s; regenerating the cases from their seeds\n", e.what());
    out.clear();
  }
  // 2) The same cases, regenerated from the benchmark seeds (the Shapes world is deterministic).
  try {
    for (int i = 0; i < per_dimension; ++i) {
      for (shapes::Dimension d : shapes::all_dimensions()) {
        const shapes::ShapesCase c =
            shapes::sample_case(shapes::bench_seed(shapes::kBenchSeedBase, d, i), shapes::ShapesWorldConfig{}, d, 3);
        char id[64];
        std::snprintf(id, sizeof id, "%s_%04d", shapes::dimension_name(d).c_str(), i);
        DemoPreset p;
        p.id = id;
        p.dimension = shapes::dimension_name(d);
        p.prompt = c.prompt;
        p.image_path = std::string("bench:") + id;
        p.image = std::make_shared<render::Image>(to_image(shapes::render_reference(c)));
        out.push_back(std::move(p));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: demo presets unavailable: %s\n", e.what());
  }
  return out;
}

}  // namespace focalscope::session
