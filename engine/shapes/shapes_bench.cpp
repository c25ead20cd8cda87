#include "engine/shapes/shapes_bench.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/shapes/png_io.h"

namespace focalscope::shapes {
namespace fs = std::filesystem;
using nlohmann::json;

uint64_t bench_seed(uint64_t seed_base, Dimension d, int i) {
  return seed_base + static_cast<uint64_t>(static_cast<int>(d)) * 1'000'000ULL + static_cast<uint64_t>(i);
}

json write_bench_set(const std::string& root, int per_dimension, uint64_t seed_base, const ShapesWorldConfig& cfg) {
  if (seed_base < kTrainSeedLimit)
    throw Error(root + ": seed base " + std::to_string(seed_base) + " overlaps the training seeds [0, " +
                std::to_string(kTrainSeedLimit) + ")");
  if (per_dimension < 1 || per_dimension > 1'000'000) throw Error(root + ": per-dimension count must be in 1..1000000");
  json index{{"format", "focalscope.shapes.bench/1"},
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
      const ShapesCase c = sample_case(bench_seed(seed_base, d, i), cfg, d, 3);
      const fs::path dir = fs::path(root) / dimension_name(d) / id;
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) throw Error(dir.string() + ": cannot create directory (" + ec.message() + ")");
      write_png((dir / "ref.png").string(), render_reference(c));
      std::ofstream out(dir / "case.json");
      out << case_to_json(c).dump() << "\n";
      if (!out) throw Error((dir / "case.json").string() + ": write failed");
      index["cases"].push_back({{"id", id},
                                {"dimension", dimension_name(d)},
                                {"action", c.action},
                                {"seed", c.seed},
                                {"prompt", c.prompt},
                                {"dir", dimension_name(d) + "/" + id}});
    }
  }
  std::ofstream out(fs::path(root) / "index.json");
  out << index.dump(1) << "\n";
  if (!out) throw Error(root + "/index.json: write failed");
  return index;
}

std::vector<BenchCase> read_bench_set(const std::string& root) {
  const fs::path index_path = fs::path(root) / "index.json";
  std::error_code ec;
  if (!fs::exists(index_path, ec)) throw Error(index_path.string() + ": cannot open benchmark index");
  const json index = read_json_object_file(index_path.string());
  if (!index.contains("cases") || !index.at("cases").is_array()) throw Error(index_path.string() + ": no \"cases\" list");
  std::vector<BenchCase> out;
  for (const auto& e : index.at("cases")) {
    const bool ok = e.is_object() && e.contains("dir") && e.at("dir").is_string() && e.contains("id") && e.at("id").is_string();
    if (!ok) throw Error(index_path.string() + ": case " + std::to_string(out.size()) + " needs string \"id\" and \"dir\"");
    const std::string rel = e.at("dir").get<std::string>();
    if (rel.empty() || rel.find("..") != std::string::npos || rel[0] == '/')
      throw Error(index_path.string() + ": case dir '" + rel + "' must be a folder inside the set");
    const fs::path dir = fs::path(root) / rel;
    const fs::path case_path = dir / "case.json";
    if (!fs::exists(case_path, ec)) throw Error(case_path.string() + ": listed in the index but missing");
    const json j = read_json_object_file(case_path.string());
    out.push_back({e.at("id").get<std::string>(), (dir / "ref.png").string(),
                   naming_file(case_path.string(), [&] { return case_from_json(j, case_path.string()); })});
  }
  return out;
}

}  // namespace focalscope::shapes
