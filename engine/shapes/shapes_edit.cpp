// Edit-case sampling: draw a pair of actions of one dimension, lay out one of them the way sample_case does
// (plus one or two drifting distractors), then plan the other from exactly the same start positions and cast.
// Tries whose geometry does not fit (the second path leaves the canvas or runs into something), whose second
// action would look like the first, or whose mask is implausibly small or large are redrawn from the same
// stream.
#include "engine/shapes/shapes_edit.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "engine/core/error.h"
#include "engine/shapes/shapes_plan.h"
#include "engine/shapes/shapes_prompts.h"
#include "engine/shapes/shapes_rng.h"

namespace focalscope::shapes {
namespace {

using nlohmann::json;
using namespace detail;
constexpr double kPi = 3.14159265358979323846;

constexpr int kPairPicks = 60;       // action pairs drawn before giving up
constexpr int kPairAttempts = 16;    // casts and layouts tried per pair
constexpr int kLayoutAttempts = 1000; // start positions for the action planned first
constexpr int kDriftAttempts = 20;    // drift directions for the background movers
constexpr int kEditAttempts = 20;     // parameter draws of the edited action from the fixed start
constexpr double kMinMask = 0.02, kMaxMask = 0.60;

struct Drift {
  int id;
  double dx, dy;  // total displacement over the clip (pixels)
};

// Constant-speed straight drift from frame 0 (where the object is unchanged) to the last frame.
void apply_drift(Plan& plan, const std::vector<Drift>& drifts) {
  for (const Drift& d : drifts) {
    auto& track = plan.tracks[d.id];
    const int T = static_cast<int>(track.size());
    for (int t = 0; t < T; ++t) {
      const double u = T > 1 ? static_cast<double>(t) / (T - 1) : 0.0;
      track[t].x = track[0].x + d.dx * u;
      track[t].y = track[0].y + d.dy * u;
    }
  }
}

bool is_straight_move(const std::string& a) { return a.rfind("move_", 0) == 0 && a != "move_to"; }

// Two motion actions the checker cannot tell apart from the final displacement: a move and a "move, then
// stop" along the same direction (both cover the same distance range).
bool too_similar(const std::string& a, const json& pa, const std::string& b, const json& pb) {
  const bool la = is_straight_move(a) || a == "stop", lb = is_straight_move(b) || b == "stop";
  return la && lb && pa.contains("direction") && pb.contains("direction") && pa.at("direction") == pb.at("direction");
}

std::vector<int> background_ids(const json& ann) {
  std::vector<int> ids;
  if (ann.contains("background_motion"))
    for (const auto& v : ann.at("background_motion")) ids.push_back(v.get<int>());
  return ids;
}

}  // namespace

std::vector<uint8_t> edit_mask(const json& src, const json& ed) {
  try {
    const int w = src.at("width").get<int>(), h = src.at("height").get<int>();
    if (ed.at("width").get<int>() != w || ed.at("height").get<int>() != h)
      throw Error("edit mask: the two annotations have different canvases");
    const double k = std::min(w, h) / 96.0, grow = 3 * k;
    const auto movers = background_ids(src);
    const int actor = src.at("actor").get<int>();
    const auto& objects = src.at("objects");
    std::vector<uint8_t> mask(static_cast<size_t>(w) * h, 0);
    auto states_of = [](const json& ann, int id) {
      std::vector<const json*> out;
      for (const auto& frame : ann.at("states"))
        for (const auto& s : frame)
          if (s.at("id").get<int>() == id) out.push_back(&s);
      return out;
    };
    auto stamp = [&](const json& s, double factor) {
      const double cx = s.at("x").get<double>(), cy = s.at("y").get<double>();
      const double r = factor * s.at("size").get<double>() + grow;
      const int x0 = std::max(0, static_cast<int>(std::floor(cx - r))), x1 = std::min(w - 1, static_cast<int>(std::ceil(cx + r)));
      const int y0 = std::max(0, static_cast<int>(std::floor(cy - r))), y1 = std::min(h - 1, static_cast<int>(std::ceil(cy + r)));
      for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x)  // pixel (x, y) covers [x, x+1) x [y, y+1), as in the renderer
          if (std::hypot(x + 0.5 - cx, y + 0.5 - cy) <= r) mask[static_cast<size_t>(y) * w + x] = 255;
    };
    for (const auto& o : objects) {
      const int id = o.at("id").get<int>();
      if (std::find(movers.begin(), movers.end(), id) != movers.end()) continue;
      const auto a = states_of(src, id), b = states_of(ed, id);
      bool differs = id == actor || a.size() != b.size();
      for (size_t t = 0; !differs && t < a.size(); ++t) differs = *a[t] != *b[t];
      if (!differs) continue;
      const double factor = circumradius_factor(parse_shape(o.at("shape").get<std::string>()));
      for (const json* s : a) stamp(*s, factor);
      for (const json* s : b) stamp(*s, factor);
    }
    return mask;
  } catch (const json::exception& e) {
    throw Error("edit mask: malformed annotation (" + std::string(e.what()) + ")");
  }
}

double EditCase::mask_fraction() const {
  if (mask.empty()) return 0;
  return static_cast<double>(std::count(mask.begin(), mask.end(), uint8_t{255})) / mask.size();
}

namespace {

// One try at realising the pair (a, b). `a_first`: a's layout is drawn and b is planned from its start
// positions; otherwise the other way round (each action places its objects its own way, e.g. move_to far
// from the target and circle close to it, so some pairs only fit one way). `cast_of_a`: the cast is drawn
// for a (else for b) and must fit the other action too (hide_behind's large cover, for instance, is never
// drawn for move_to but move_to can approach it).
std::optional<EditCase> try_pair(uint64_t seed, const ShapesWorldConfig& cfg, Dimension d, const std::string& a,
                                 const std::string& b, bool a_first, bool cast_of_a, SplitMix64& rng) {
  const double k = std::min(cfg.width, cfg.height) / 96.0;
  const int need = d == Dimension::Interaction ? 2 : 1;
  const std::string& first = a_first ? a : b;
  const std::string& second = a_first ? b : a;
  // Cast: what one of the actions needs, one background mover, and sometimes (single-actor dimensions, where
  // the canvas has room) a second distractor that may drift too or stay put.
  const int n = need + 1 + (need == 1 && rng.chance(0.35) ? 1 : 0);
  Cast cast = choose_cast(cast_of_a ? a : b, d, n, rng, k);
  if (!cast_fits(cast_of_a ? b : a, cast)) return std::nullopt;
  if (cast.to_color.empty() && (a == "change_color" || b == "change_color")) cast.to_color = rng.pick(free_colors(cast));
  std::vector<int> movers{need};
  if (n > need + 1 && rng.chance(0.5)) movers.push_back(need + 1);

  Plan p1;
  bool ok = false;
  for (int i = 0; i < kLayoutAttempts && !ok; ++i) ok = plan_trajectories(first, cast, cfg, rng, k, p1);
  if (!ok) return std::nullopt;

  std::vector<Drift> drifts;
  ok = false;
  for (int i = 0; i < kDriftAttempts && !ok; ++i) {
    drifts.clear();
    for (int id : movers) {
      const double th = rng.uniform(0, 2 * kPi), dist = rng.uniform(15, 30) * k;  // 10-20 px at 64x64
      drifts.push_back({id, std::cos(th) * dist, std::sin(th) * dist});
    }
    Plan moved = p1;
    apply_drift(moved, drifts);
    ok = layout_valid(first, moved.objs, moved.tracks, cfg, k);
    if (ok) p1 = std::move(moved);
  }
  if (!ok) return std::nullopt;

  std::vector<Vec> start;
  for (const auto& track : p1.tracks) start.push_back({track[0].x, track[0].y});
  Plan p2;
  ok = false;
  for (int i = 0; i < kEditAttempts && !ok; ++i) {
    if (!plan_trajectories(second, cast, cfg, rng, k, p2, &start)) continue;
    apply_drift(p2, drifts);
    ok = layout_valid(second, p2.objs, p2.tracks, cfg, k) && !too_similar(first, p1.params, second, p2.params);
  }
  if (!ok) return std::nullopt;
  const Plan& src = a_first ? p1 : p2;
  const Plan& ed = a_first ? p2 : p1;

  const std::vector<int> z = draw_order(static_cast<int>(cast.objs.size()), a == "hide_behind" || b == "hide_behind", rng);
  const json bg = draw_background(seed, rng);
  EditCase e;
  e.seed = seed;
  e.dim = d;
  auto make = [&](ShapesCase& c, const std::string& action, const Plan& plan, uint64_t wording_seed) {
    c.seed = seed;
    c.dim = d;
    c.action = action;
    c.annotation = build_annotation(seed, cfg, d, action, plan, z, bg);
    c.annotation["background_motion"] = movers;
    c.prompt = make_prompt(c.annotation, wording_seed);
    c.annotation["prompt"] = c.prompt;
  };
  make(e.source, a, src, seed);
  make(e.edited, b, ed, mix_seed(seed, 0xED));
  e.mask = edit_mask(e.source.annotation, e.edited.annotation);
  e.mask_w = cfg.width;
  e.mask_h = cfg.height;
  const double frac = e.mask_fraction();
  if (frac < kMinMask || frac > kMaxMask) return std::nullopt;
  return e;
}

}  // namespace

EditCase sample_edit_case(uint64_t seed, const ShapesWorldConfig& cfg, std::optional<Dimension> dim) {
  if (cfg.width < 48 || cfg.height < 48 || cfg.frames < 5)
    throw Error("shapes edit world: canvas " + std::to_string(cfg.width) + "x" + std::to_string(cfg.height) + "x" +
                std::to_string(cfg.frames) + " too small (need >= 48x48 and >= 5 frames)");
  SplitMix64 rng(mix_seed(seed, 0xED17));
  const Dimension d = dim ? *dim : rng.pick(all_dimensions());
  const auto& actions = actions_of(d);
  // The pair is drawn first and kept for a block of tries, so pairs that fit less often are not crowded out
  // by easy ones (the set stays close to uniform over pairs that fit at all).
  for (int pick = 0; pick < kPairPicks; ++pick) {
    const std::string a = rng.pick(actions);
    std::string b = a;
    while (b == a) b = rng.pick(actions);
    for (int attempt = 0; attempt < kPairAttempts; ++attempt)
      if (auto e = try_pair(seed, cfg, d, a, b, attempt % 2 == 0, attempt % 4 < 2, rng)) return std::move(*e);
  }
  throw Error("shapes edit world: seed " + std::to_string(seed) + ": no valid " + dimension_name(d) + " edit pair after " +
              std::to_string(kPairPicks) + " pairs");
}

json EditCase::to_json() const {
  return json{{"format", "focalscope.shapes.edit/1"},
              {"seed", seed},
              {"dimension", dimension_name(dim)},
              {"instruction", edited.prompt},
              {"source_prompt", source.prompt},
              {"source_action", source.action},
              {"edited_action", edited.action},
              {"background_motion", source.annotation.value("background_motion", json::array())},
              {"mask", {{"width", mask_w}, {"height", mask_h}, {"fraction", round3(mask_fraction())}}},
              {"source", case_to_json(source)},
              {"edited", case_to_json(edited)}};
}

EditCase EditCase::from_json(const json& j, const std::string& where) {
  try {
    if (j.value("format", "") != "focalscope.shapes.edit/1") throw Error("format is not focalscope.shapes.edit/1");
    EditCase e;
    e.seed = j.at("seed").get<uint64_t>();
    e.dim = parse_dimension(j.at("dimension").get<std::string>());
    e.source = case_from_json(j.at("source"), where + " (source)");
    e.edited = case_from_json(j.at("edited"), where + " (edited)");
    if (j.at("instruction").get<std::string>() != e.edited.prompt)
      throw Error("instruction differs from the edited case's prompt");
    if (e.source.annotation.at("states").at(0) != e.edited.annotation.at("states").at(0))
      throw Error("source and edited clips do not share their first frame");
    e.mask = edit_mask(e.source.annotation, e.edited.annotation);
    e.mask_w = e.source.annotation.at("width").get<int>();
    e.mask_h = e.source.annotation.at("height").get<int>();
    return e;
  } catch (const json::exception& ex) {
    throw Error(where + ": malformed Shapes edit case (" + std::string(ex.what()) + ")");
  } catch (const Error& ex) {
    const std::string msg = ex.what();
    throw Error(msg.rfind(where, 0) == 0 ? msg : where + ": " + msg);
  }
}

}  // namespace focalscope::shapes
