// The Shapes world: seeded, deterministic image-to-video cases whose ground truth is known.
// A case is 1-3 flat-coloured shapes on a smooth background; frame 0 is the reference image, the prompt
// asks one object (the actor) to do one thing, and the annotation says, machine-readably, who does what
// and where every object is in every frame. The annotation alone is enough to render the video
// (render_case) and to check a generated one (analysis/shapes_checker).
//
// Seeds: training draws from [0, kTrainSeedLimit); the benchmark set (assets/bench/shapes) uses seeds
// >= kBenchSeedBase, so no benchmark case was ever seen in training.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/shapes/rgb_frame.h"
#include "engine/shapes/shapes_vocab.h"

namespace focalscope::shapes {

inline constexpr uint64_t kTrainSeedLimit = 1'000'000'000ULL;
inline constexpr uint64_t kBenchSeedBase = 9'000'000'000ULL;

struct ShapesWorldConfig {
  int width = 96, height = 96;
  int frames = 13;  // 1 + 4k: the VAE packs 4 frames per latent frame after the first
  int fps = 8;
};

enum class Dimension { DynamicAttributes, Motion, Interaction };
const std::vector<Dimension>& all_dimensions();
std::string dimension_name(Dimension d);  // "dynamic_attributes", "motion", "interaction"
Dimension parse_dimension(const std::string& name);

// Actions per dimension (the "action" string of a case):
//   dynamic_attributes: change_color grow shrink fade_out spin
//   motion:             move_left move_right move_up move_down move_diagonal jump bounce stop
//   interaction:        move_to push swap circle hide_behind
const std::vector<std::string>& actions_of(Dimension d);

struct ShapesCase {
  uint64_t seed = 0;
  Dimension dim = Dimension::Motion;
  std::string action;
  std::string prompt;
  nlohmann::json annotation;  // format "focalscope.shapes/1"; see sample_case
};

// One deterministic case. dim unset: drawn from the seed. max_objects (1..3, a training curriculum knob)
// bounds the object count; interactions always have at least 2.
//
// Annotation fields: format, seed, width, height, frames, fps, dimension, action, prompt,
//   background {color0, color1, angle_deg, noise_amp, noise_seed},
//   objects [{id, role: actor|target|distractor, shape, color, size_class, size}],
//   actor (id), target (id or -1),
//   params {action-specific: direction [dx,dy] (unit, image y down), distance, height, to_color, scale,
//           rotation_deg, push_distance, radius, turn_deg, stop_frame ...},
//   states [frame][object] {id, x, y, size, rotation, opacity, color [r,g,b], z}.
ShapesCase sample_case(uint64_t seed, const ShapesWorldConfig& cfg = {}, std::optional<Dimension> dim = {},
                       int max_objects = 3);

// Frames of the ground-truth video (frame 0 = the reference image), rendered from the annotation only.
std::vector<RgbFrame> render_case(const ShapesCase& c, const ShapesWorldConfig& cfg = {});
std::vector<RgbFrame> render_annotation(const nlohmann::json& annotation);
RgbFrame render_reference(const ShapesCase& c);
// The reference repeated for every frame: a video in which nothing happens (for checker tests).
std::vector<RgbFrame> render_static(const ShapesCase& c);

// Case <-> JSON ({seed, dimension, action, prompt, annotation}), as stored in the benchmark set.
nlohmann::json case_to_json(const ShapesCase& c);
ShapesCase case_from_json(const nlohmann::json& j, const std::string& where = "case.json");

}  // namespace focalscope::shapes
