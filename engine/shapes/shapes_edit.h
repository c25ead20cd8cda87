// The Shapes editing world: ground truth for mask-based video editing (KV-Lock, arXiv 2603.09657).
// An edit case is a pair of Shapes cases that share their first frame exactly (cast, colours, sizes, start
// positions, draw order, background): in `source` the actor does action A, in `edited` it does another action
// B of the same dimension. The edited case's prompt is the edit instruction. A static mask marks where the two
// clips may differ; everything outside it is background that an editor has to keep.
//
// "Other objects move too": every case has at least one distractor that drifts in a straight line at
// constant speed, identically in both clips, and is named in no prompt. Both annotations list such objects
// under "background_motion" (ids); the checker leaves them to the background metrics
// (analysis/edit_metrics.h) rather than asking them to stay put.
//
// Seeds: edit cases draw from their own stream (mix_seed(seed, ...)), so an edit seed is unrelated to the
// plain case of the same seed; the shipped set uses seeds >= kEditBenchSeedBase (shapes_edit_bench.h).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/shapes/shapes_world.h"

namespace focalscope::shapes {

// Seed base of the editing benchmark set: above every training seed and clear of kBenchSeedBase's range
// (that set uses kBenchSeedBase + 1e6 * dimension + i).
inline constexpr uint64_t kEditBenchSeedBase = 9'500'000'000ULL;

struct EditCase {
  uint64_t seed = 0;
  Dimension dim = Dimension::Motion;
  ShapesCase source;          // action A; source.prompt is the source prompt
  ShapesCase edited;          // action B from the same first frame; edited.prompt is the edit instruction
  std::vector<uint8_t> mask;  // mask_w * mask_h, row-major: 255 where the clips may differ, else 0
  int mask_w = 0, mask_h = 0;

  const std::string& instruction() const { return edited.prompt; }
  double mask_fraction() const;  // share of mask pixels that are 255

  // {format "focalscope.shapes.edit/1", seed, dimension, instruction, source_prompt, source_action,
  //  edited_action, background_motion, mask {width, height, fraction}, source {case}, edited {case}}
  // (cases as case_to_json). The mask itself is not stored: from_json recomputes it from the annotations.
  nlohmann::json to_json() const;
  static EditCase from_json(const nlohmann::json& j, const std::string& where = "case.json");
};

// One deterministic edit case. dim unset: drawn from the seed. Throws Error if no valid pair is found
// (not expected for canvases >= 48x48).
EditCase sample_edit_case(uint64_t seed, const ShapesWorldConfig& cfg = {}, std::optional<Dimension> dim = {});

// The edit mask of two annotations of the same canvas: the union over every frame of both clips of the
// circumscribed disc of each object that differs between them (the actor always; the target too when one clip
// moves it), grown by 3 px at 96x96 (scaled like the world) to cover anti-aliased edges. Objects listed in
// "background_motion" are never part of it. Returns width * height bytes (0/255).
std::vector<uint8_t> edit_mask(const nlohmann::json& source_annotation, const nlohmann::json& edited_annotation);

}  // namespace focalscope::shapes
