// The Shapes editing benchmark set on disk (assets/bench/shapes-edit), mirroring shapes_bench.h:
//   <root>/index.json
//   <root>/<dimension>/<case_id>/case.json                 EditCase::to_json
//   <root>/<dimension>/<case_id>/ref.png                   frame 0, shared by both clips (RGB)
//   <root>/<dimension>/<case_id>/mask.png                  the edit mask, 8-bit grayscale 0/255 (255 = may change)
//   <root>/<dimension>/<case_id>/source/frame_000.png ...   the source clip (action A)
//   <root>/<dimension>/<case_id>/expected/frame_000.png ... the expected edited clip (action B)
// Clips are lossless PNG frames rather than MP4: a whole 102-case 64x64 set is about 5 MB, and the expected
// clip is exact ground truth (H.264's 4:2:0 chroma would blur the flat colours the checker segments).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/shapes/rgb_frame.h"
#include "engine/shapes/shapes_edit.h"

namespace focalscope::shapes {

struct EditBenchCase {
  std::string id;   // e.g. "motion_0007"
  std::string dir;  // <root>/<dimension>/<id>
  EditCase c;

  std::string ref_path() const;   // dir/ref.png
  std::string mask_path() const;  // dir/mask.png
  // dir/<clip>/frame_NNN.png, clip = "source" or "expected".
  std::string frame_path(const std::string& clip, int t) const;
};

// Writes per_dimension edit cases for each dimension (case i of dimension d: seed bench_seed(seed_base, d, i));
// returns the index JSON (also written to <root>/index.json). Throws Error if seed_base < kTrainSeedLimit.
nlohmann::json write_edit_bench_set(const std::string& root, int per_dimension, uint64_t seed_base,
                                    const ShapesWorldConfig& cfg = {});

// Reads <root>/index.json and every case.json it lists (masks recomputed from the annotations).
std::vector<EditBenchCase> read_edit_bench_set(const std::string& root);

// A stored clip ("source" or "expected"), every frame the annotation has.
std::vector<RgbFrame> read_edit_clip(const EditBenchCase& bc, const std::string& clip);

// The mask as stored: 8-bit grayscale PNG, 0/255. read_mask_png returns the bytes and sets w, h.
void write_mask_png(const std::string& path, const std::vector<uint8_t>& mask, int w, int h);
std::vector<uint8_t> read_mask_png(const std::string& path, int& w, int& h);

}  // namespace focalscope::shapes
