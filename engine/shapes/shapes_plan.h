// Internal to engine/shapes: the planning steps of sample_case (cast, trajectories, layout check, draw order,
// background, annotation), shared with the editing world (shapes_edit.cpp), which plans a second action from
// the first one's start positions. Not a public API: everything here may change with the world.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/shapes/shapes_rng.h"
#include "engine/shapes/shapes_world.h"

namespace focalscope::shapes::detail {

struct Obj {
  std::string role;
  ShapeKind shape;
  std::string color;
  SizeClass size_class;
  double size;
};

struct State {
  double x = 0, y = 0, size = 0, rotation = 0, opacity = 1;
  Rgb color{};
  int z = 0;
};

struct Plan {
  std::vector<Obj> objs;
  std::vector<std::vector<State>> tracks;  // [object][frame]
  nlohmann::json params = nlohmann::json::object();
};

// Everything that does not depend on positions: which objects, which colours and shapes, the action's own
// parameters that are not geometric.
struct Cast {
  std::vector<Obj> objs;  // actor first, then target (interactions), then distractors
  std::string to_color;   // change_color only
};

struct Vec {
  double x, y;
};

double round3(double v);

Cast choose_cast(const std::string& action, Dimension dim, int n_objects, SplitMix64& rng, double k);

// Whether `cast` can play `action` (the constraints choose_cast puts on the actor, the target and, for
// change_color, a free colour), as the editing world needs when a second action reuses the first one's cast.
// For move_to and circle a large target is accepted (choose_cast never draws one): the layout check decides
// whether the path fits, and it gives hide_behind (whose cover is always large) partners to be edited into.
bool cast_fits(const std::string& action, const Cast& cast);

// Colours no object of the cast wears (change_color's candidates).
std::vector<std::string> free_colors(const Cast& cast);

// One layout attempt: start positions and per-frame states. Returns false when the action's own geometric
// constraints cannot be met. fixed_start (one position per object): plan from exactly these start positions
// instead of drawing them (and without re-placing the target or the orbit); the plan is then simply invalid
// when the geometry does not fit.
bool plan_trajectories(const std::string& action, const Cast& cast, const ShapesWorldConfig& cfg, SplitMix64& rng,
                       double k, Plan& plan, const std::vector<Vec>* fixed_start = nullptr);

// Inside the canvas in every frame, and apart unless the action brings actor and target together.
bool layout_valid(const std::string& action, const std::vector<Obj>& objs, const std::vector<std::vector<State>>& tracks,
                  const ShapesWorldConfig& cfg, double k);

// Drawing order (z per object): random, except a hiding actor is always behind its cover.
std::vector<int> draw_order(int n_objects, bool actor_hides, SplitMix64& rng);

// Background parameters: a solid tone or a gentle gradient, sometimes with faint large-scale noise.
nlohmann::json draw_background(uint64_t seed, SplitMix64& rng);

nlohmann::json state_json(int id, const State& s);

// The annotation of a planned case (format "focalscope.shapes/1", without "prompt").
nlohmann::json build_annotation(uint64_t seed, const ShapesWorldConfig& cfg, Dimension dim, const std::string& action,
                                const Plan& plan, const std::vector<int>& z, const nlohmann::json& background);

}  // namespace focalscope::shapes::detail
