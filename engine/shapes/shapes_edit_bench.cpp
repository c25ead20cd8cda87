#include "engine/shapes/shapes_edit_bench.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/shapes/png_io.h"
#include "engine/shapes/shapes_bench.h"

namespace focalscope::shapes {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void make_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create directory (" + ec.message() + ")");
}

json read_json(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path.string() + ": cannot open " + what);
  return read_json_file(path.string());  // size / depth limits, one line naming the file
}

void write_clip(const fs::path& dir, const std::vector<RgbFrame>& frames) {
  make_dir(dir);
  char name[32];
  for (size_t t = 0; t < frames.size(); ++t) {
    std::snprintf(name, sizeof name, "frame_%03zu.png", t);
    write_png((dir / name).string(), frames[t]);
  }
}

}  // namespace

std::string EditBenchCase::ref_path() const { return (fs::path(dir) / "ref.png").string(); }
std::string EditBenchCase::mask_path() const { return (fs::path(dir) / "mask.png").string(); }
std::string EditBenchCase::frame_path(const std::string& clip, int t) const {
  char name[32];
  std::snprintf(name, sizeof name, "frame_%03d.png", t);
  return (fs::path(dir) / clip / name).string();
}

void write_mask_png(const std::string& path, const std::vector<uint8_t>& mask, int w, int h) {
  if (w <= 0 || h <= 0 || mask.size() != static_cast<size_t>(w) * h)
    throw Error(path + ": refusing to write a malformed mask (" + std::to_string(w) + "x" + std::to_string(h) + ")");
  if (!stbi_write_png(path.c_str(), w, h, 1, mask.data(), w)) throw Error(path + ": cannot write PNG");
}

std::vector<uint8_t> read_mask_png(const std::string& path, int& w, int& h) {
  int c = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &c, 1);
  if (!data) throw Error(path + ": cannot read mask (" + std::string(stbi_failure_reason() ? stbi_failure_reason() : "?") + ")");
  std::vector<uint8_t> out(data, data + static_cast<size_t>(w) * h);
  stbi_image_free(data);
  return out;
}

json write_edit_bench_set(const std::string& root, int per_dimension, uint64_t seed_base, const ShapesWorldConfig& cfg) {
  if (seed_base < kTrainSeedLimit)
    throw Error(root + ": seed base " + std::to_string(seed_base) + " overlaps the training seeds [0, " +
                std::to_string(kTrainSeedLimit) + ")");
  if (per_dimension < 1 || per_dimension > 1'000'000) throw Error(root + ": per-dimension count must be in 1..1000000");
  json index{{"format", "focalscope.shapes.edit.bench/1"},
             {"seed_base", seed_base},
             {"per_dimension", per_dimension},
             {"width", cfg.width},
             {"height", cfg.height},
             {"frames", cfg.frames},
             {"fps", cfg.fps},
             {"cases", json::array()}};
  for (Dimension d : all_dimensions()) {
    for (int i = 0; i < per_dimension; ++i) {
      char id[64];
      std::snprintf(id, sizeof id, "%s_%04d", dimension_name(d).c_str(), i);
      const EditCase e = sample_edit_case(bench_seed(seed_base, d, i), cfg, d);
      const fs::path dir = fs::path(root) / dimension_name(d) / id;
      make_dir(dir);
      const auto source = render_annotation(e.source.annotation);
      write_png((dir / "ref.png").string(), source.at(0));
      write_mask_png((dir / "mask.png").string(), e.mask, e.mask_w, e.mask_h);
      write_clip(dir / "source", source);
      write_clip(dir / "expected", render_annotation(e.edited.annotation));
      std::ofstream out(dir / "case.json");
      out << e.to_json().dump() << "\n";
      if (!out) throw Error((dir / "case.json").string() + ": write failed");
      index["cases"].push_back({{"id", id},
                                {"dimension", dimension_name(d)},
                                {"seed", e.seed},
                                {"source_action", e.source.action},
                                {"edited_action", e.edited.action},
                                {"source_prompt", e.source.prompt},
                                {"instruction", e.instruction()},
                                {"dir", dimension_name(d) + "/" + id}});
    }
  }
  std::ofstream out(fs::path(root) / "index.json");
  out << index.dump(1) << "\n";
  if (!out) throw Error(root + "/index.json: write failed");
  return index;
}

std::vector<EditBenchCase> read_edit_bench_set(const std::string& root) {
  const fs::path index_path = fs::path(root) / "index.json";
  const json index = read_json(index_path, "editing benchmark index");
  if (index.value("format", "") != "focalscope.shapes.edit.bench/1")
    throw Error(index_path.string() + ": not a Shapes editing benchmark index (format focalscope.shapes.edit.bench/1)");
  std::vector<EditBenchCase> out;
  try {
    for (const auto& e : index.at("cases")) {
      const fs::path dir = fs::path(root) / e.at("dir").get<std::string>();
      const fs::path case_path = dir / "case.json";
      if (!fs::exists(case_path)) throw Error(case_path.string() + ": listed in the index but missing");
      out.push_back({e.at("id").get<std::string>(), dir.string(),
                     EditCase::from_json(read_json(case_path, "edit case"), case_path.string())});
    }
  } catch (const json::exception& ex) {
    throw Error(index_path.string() + ": malformed index (" + ex.what() + ")");
  }
  return out;
}

std::vector<RgbFrame> read_edit_clip(const EditBenchCase& bc, const std::string& clip) {
  if (clip != "source" && clip != "expected") throw Error("edit bench: unknown clip '" + clip + "' (source or expected)");
  const int frames = bc.c.source.annotation.at("frames").get<int>();
  std::vector<RgbFrame> out;
  for (int t = 0; t < frames; ++t) out.push_back(read_png(bc.frame_path(clip, t)));
  return out;
}

}  // namespace focalscope::shapes
