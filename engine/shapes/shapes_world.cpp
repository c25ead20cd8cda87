// Case sampling: pick an action, the objects it needs plus distractors, then lay out start positions by
// rejection until every trajectory stays inside the canvas and no two objects touch unless the action
// makes them (push, move_to, hide_behind). Everything is drawn from SplitMix64, so a seed is a case.
#include "engine/shapes/shapes_world.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/shapes/shapes_plan.h"
#include "engine/shapes/shapes_prompts.h"
#include "engine/shapes/shapes_rng.h"

namespace focalscope::shapes {
namespace detail {

using nlohmann::json;
constexpr double kPi = 3.14159265358979323846;

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

namespace {

bool pair_taken(const std::vector<Obj>& objs, const std::string& color, ShapeKind shape) {
  for (const auto& o : objs)
    if (o.color == color && o.shape == shape) return true;
  return false;
}

std::string pick_color(SplitMix64& rng) { return rng.pick(named_colors()).name; }
ShapeKind pick_shape(SplitMix64& rng) { return rng.pick(all_shapes()); }

}  // namespace

Cast choose_cast(const std::string& action, Dimension dim, int n_objects, SplitMix64& rng, double k) {
  Cast cast;
  Obj actor{"actor", pick_shape(rng), pick_color(rng), SizeClass::Medium, 0};
  if (action == "spin")  // a spinning circle looks still
    actor.shape = rng.pick(std::vector<ShapeKind>{ShapeKind::Square, ShapeKind::Triangle, ShapeKind::Diamond});
  std::vector<SizeClass> sizes{SizeClass::Small, SizeClass::Medium, SizeClass::Large};
  if (action == "grow") sizes = {SizeClass::Small, SizeClass::Medium};
  if (action == "circle") sizes = {SizeClass::Small};  // the whole orbit has to fit in the canvas
  if (action == "shrink" || action == "spin") sizes = {SizeClass::Medium, SizeClass::Large};
  if (action == "hide_behind") sizes = {SizeClass::Small};
  // Approach-and-contact actions need the whole path (plus the push) to fit in the canvas.
  if (action == "move_to" || action == "push" || action == "swap") sizes = {SizeClass::Small, SizeClass::Medium};
  actor.size_class = rng.pick(sizes);
  cast.objs.push_back(actor);

  if (dim == Dimension::Interaction) {
    Obj target{"target", pick_shape(rng), pick_color(rng), rng.pick(std::vector<SizeClass>{SizeClass::Small, SizeClass::Medium, SizeClass::Large}), 0};
    if (action == "hide_behind") {  // a cover big enough to hide the actor completely
      target.shape = rng.pick(std::vector<ShapeKind>{ShapeKind::Circle, ShapeKind::Square});
      target.size_class = SizeClass::Large;
    }
    if (action == "circle" || action == "move_to" || action == "push" || action == "swap")
      target.size_class = rng.pick(std::vector<SizeClass>{SizeClass::Small, SizeClass::Medium});
    while (target.color == actor.color) target.color = pick_color(rng);
    cast.objs.push_back(target);
  }

  while (static_cast<int>(cast.objs.size()) < n_objects) {
    // Distractors often share the actor's colour or shape, so the prompt has to pick the right object.
    Obj d{"distractor", pick_shape(rng), pick_color(rng), SizeClass::Medium, 0};
    d.size_class = rng.pick(std::vector<SizeClass>{SizeClass::Small, SizeClass::Medium, SizeClass::Large});
    const double r = rng.uniform();
    if (r < 0.4) d.color = actor.color;
    else if (r < 0.65) d.shape = actor.shape;
    for (int tries = 0; pair_taken(cast.objs, d.color, d.shape) && tries < 100; ++tries) {
      d.shape = pick_shape(rng);
      if (tries > 3) d.color = pick_color(rng);
    }
    cast.objs.push_back(d);
  }
  for (auto& o : cast.objs) o.size = size_pixels(o.size_class) * k;

  if (action == "change_color") cast.to_color = rng.pick(free_colors(cast));
  return cast;
}

std::vector<std::string> free_colors(const Cast& cast) {
  std::vector<std::string> free;
  for (const auto& c : named_colors()) {
    bool used = false;
    for (const auto& o : cast.objs) used = used || o.color == c.name;
    if (!used) free.push_back(c.name);
  }
  return free;
}

bool cast_fits(const std::string& action, const Cast& cast) {
  if (cast.objs.empty()) return false;
  const Obj& a = cast.objs[0];
  const bool small = a.size_class == SizeClass::Small, large = a.size_class == SizeClass::Large;
  const Obj* t = cast.objs.size() > 1 && cast.objs[1].role == "target" ? &cast.objs[1] : nullptr;
  if (action == "spin") return a.shape != ShapeKind::Circle && !small;
  if (action == "grow") return !large;
  if (action == "shrink") return !small;
  if (action == "change_color") return !free_colors(cast).empty();
  if (action == "circle") return t && small;
  if (action == "hide_behind")
    return t && small && t->size_class == SizeClass::Large && (t->shape == ShapeKind::Circle || t->shape == ShapeKind::Square);
  if (action == "move_to") return t && !large;
  if (action == "push" || action == "swap") return t && !large && t->size_class != SizeClass::Large;
  return true;
}

namespace {

Rgb lerp_rgb(const Rgb& a, const Rgb& b, double t) {
  Rgb out;
  for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(std::lround(a[c] + (b[c] - a[c]) * t));
  return out;
}

double clamp01(double v) { return std::min(1.0, std::max(0.0, v)); }

Vec operator+(Vec a, Vec b) { return {a.x + b.x, a.y + b.y}; }
Vec operator-(Vec a, Vec b) { return {a.x - b.x, a.y - b.y}; }
Vec operator*(Vec a, double s) { return {a.x * s, a.y * s}; }
double norm(Vec a) { return std::hypot(a.x, a.y); }

}  // namespace

// One layout attempt: start positions and per-frame states. Returns false when the action's own geometric
// constraints cannot be met from these start positions (the caller then tries new ones). With fixed_start the
// draws of start positions, orbit and target placement are skipped (their random numbers are not consumed).
bool plan_trajectories(const std::string& action, const Cast& cast, const ShapesWorldConfig& cfg, SplitMix64& rng,
                       double k, Plan& plan, const std::vector<Vec>* fixed_start) {
  const int T = cfg.frames, n = static_cast<int>(cast.objs.size());
  const double W = cfg.width, H = cfg.height;
  plan = Plan{};
  plan.objs = cast.objs;
  plan.tracks.assign(n, std::vector<State>(T));
  auto R = [&](int i) { return circumradius_factor(cast.objs[i].shape) * cast.objs[i].size; };
  auto random_point = [&](double r) { return Vec{rng.uniform(r + 2 * k, W - r - 2 * k), rng.uniform(r + 2 * k, H - r - 2 * k)}; };
  std::vector<Vec> p0(n);
  if (fixed_start) {
    if (static_cast<int>(fixed_start->size()) != n)
      throw Error("shapes world: fixed start for " + std::to_string(fixed_start->size()) + " objects, cast has " +
                  std::to_string(n));
    p0 = *fixed_start;
  } else {
    for (int i = 0; i < n; ++i) p0[i] = random_point(R(i));
  }
  double orbit = 0;
  if (action == "circle" && !fixed_start) {
    // Place the orbit first: centre (the target) where the whole circle fits, actor on it.
    orbit = std::max(R(0) + R(1) + 5 * k, 20 * k) + rng.uniform(0, 4 * k);
    p0[1] = random_point(orbit + R(0));
    const double th = rng.uniform(0, 2 * kPi);
    p0[0] = p0[1] + Vec{std::cos(th), std::sin(th)} * orbit;
  }

  // Defaults: everything static, opaque, in its own colour and size.
  for (int i = 0; i < n; ++i)
    for (int t = 0; t < T; ++t) {
      State& s = plan.tracks[i][t];
      s.x = p0[i].x;
      s.y = p0[i].y;
      s.size = cast.objs[i].size;
      s.color = named_color(cast.objs[i].color).rgb;
    }
  auto u_of = [&](int t) { return T > 1 ? static_cast<double>(t) / (T - 1) : 0.0; };
  auto set_pos = [&](int i, int t, Vec p) {
    plan.tracks[i][t].x = p.x;
    plan.tracks[i][t].y = p.y;
  };
  json& P = plan.params;

  if (action == "change_color") {
    P["to_color"] = cast.to_color;
    const Rgb a = named_color(cast.objs[0].color).rgb, b = named_color(cast.to_color).rgb;
    for (int t = 0; t < T; ++t) plan.tracks[0][t].color = lerp_rgb(a, b, clamp01((u_of(t) - 0.15) / 0.5));
  } else if (action == "grow" || action == "shrink") {
    // Shrinking stops at 14 px (at 96x96): smaller diamonds and triangles lose their corners to blur.
    const double scale = action == "grow" ? rng.uniform(1.6, 1.8) : std::max(0.5, 14 * k / cast.objs[0].size);
    P["scale"] = round3(scale);
    for (int t = 0; t < T; ++t) plan.tracks[0][t].size = cast.objs[0].size * (1 + (round3(scale) - 1) * u_of(t));
  } else if (action == "fade_out") {
    for (int t = 0; t < T; ++t) plan.tracks[0][t].opacity = clamp01(1 - u_of(t) / 0.75);
  } else if (action == "spin") {
    // Ends half a symmetry period off: a square ends as a diamond, a triangle upside down.
    const double total = (cast.objs[0].shape == ShapeKind::Triangle ? 180.0 : 225.0) * (rng.chance(0.5) ? 1 : -1);
    P["rotation_deg"] = total;
    for (int t = 0; t < T; ++t) plan.tracks[0][t].rotation = total * u_of(t);
  } else if (action == "move_left" || action == "move_right" || action == "move_up" || action == "move_down" ||
             action == "move_diagonal" || action == "stop") {
    Vec d{0, 0};
    if (action == "move_left") d = {-1, 0};
    if (action == "move_right") d = {1, 0};
    if (action == "move_up") d = {0, -1};
    if (action == "move_down") d = {0, 1};
    if (action == "stop") d = rng.pick(std::vector<Vec>{{-1, 0}, {1, 0}, {0, -1}, {0, 1}});
    if (action == "move_diagonal") {
      const double s = 1 / std::sqrt(2.0);
      d = rng.pick(std::vector<Vec>{{-s, -s}, {s, -s}, {-s, s}, {s, s}});
    }
    const double dist = rng.uniform(30, 42) * k;
    const int stop_frame = action == "stop" ? static_cast<int>(std::lround(0.5 * (T - 1))) : T - 1;
    P["direction"] = {round3(d.x), round3(d.y)};
    P["distance"] = round3(dist);
    if (action == "stop") P["stop_frame"] = stop_frame;
    for (int t = 0; t < T; ++t) set_pos(0, t, p0[0] + d * (dist * clamp01(static_cast<double>(t) / stop_frame)));
  } else if (action == "jump" || action == "bounce") {
    const double h = (action == "jump" ? rng.uniform(26, 36) : rng.uniform(24, 32)) * k;
    P["height"] = round3(h);
    P["hops"] = action == "jump" ? 1 : 2;
    for (int t = 0; t < T; ++t) {
      const double u = u_of(t);
      const double lift = action == "jump" ? 4 * u * (1 - u) : std::fabs(std::sin(2 * kPi * u));
      set_pos(0, t, p0[0] + Vec{0, -h * lift});
    }
  } else if (action == "move_to" || action == "push" || action == "hide_behind") {
    // Place the target at a travel distance from the actor (random start positions are rarely far enough apart).
    if (!fixed_start) {
      const double stop0 = action == "hide_behind" ? 0 : R(0) + R(1) + (action == "push" ? 1 : 2) * k;
      const double travel = (action == "push" ? rng.uniform(20, 30) : rng.uniform(28, 40)) * k;
      const double reach = std::max(stop0 + travel, R(0) + R(1) + 4 * k);
      const double th = rng.uniform(0, 2 * kPi);
      p0[1] = p0[0] + Vec{std::cos(th), std::sin(th)} * reach;
      for (int t = 0; t < T; ++t) set_pos(1, t, p0[1]);
    }
    const Vec ab = p0[1] - p0[0];
    const double dist0 = norm(ab);
    const Vec dir = ab * (1 / std::max(dist0, 1e-9));
    const double min_travel = (action == "push" ? 20 : 28) * k;
    const double stop_at = action == "hide_behind" ? 0 : R(0) + R(1) + (action == "push" ? 1 : 2) * k;
    if (dist0 - stop_at < min_travel || dist0 < R(0) + R(1) + 4 * k) return false;
    P["direction"] = {round3(dir.x), round3(dir.y)};
    if (action == "push") {
      const double push = rng.uniform(16, 24) * k;
      const int contact = static_cast<int>(std::lround(0.5 * (T - 1)));
      P["distance"] = round3(dist0 - stop_at);
      P["push_distance"] = round3(push);
      P["contact_frame"] = contact;
      for (int t = 0; t < T; ++t) {
        const double a = clamp01(static_cast<double>(t) / contact);
        const double b = t > contact ? static_cast<double>(t - contact) / (T - 1 - contact) : 0.0;
        set_pos(0, t, p0[0] + dir * ((dist0 - stop_at) * a + push * b));
        set_pos(1, t, p0[1] + dir * (push * b));
      }
    } else {
      const double arrive = action == "hide_behind" ? 0.75 : 1.0;
      P["distance"] = round3(dist0 - stop_at);
      for (int t = 0; t < T; ++t) set_pos(0, t, p0[0] + dir * ((dist0 - stop_at) * clamp01(u_of(t) / arrive)));
    }
  } else if (action == "swap") {
    const Vec ab = p0[1] - p0[0];
    const double dist0 = norm(ab);
    if (dist0 < 30 * k) return false;
    // The two pass each other on opposite arcs so they never overlap.
    const Vec nrm{-ab.y / dist0, ab.x / dist0};
    // Half the clearance at the crossing, plus a margin for the frames around it (sin flattens near the top).
    const double h = 0.6 * (R(0) + R(1) + 4 * k) + 2 * k;
    P["distance"] = round3(dist0);
    for (int t = 0; t < T; ++t) {
      const double u = u_of(t), bump = h * std::sin(kPi * u);
      set_pos(0, t, p0[0] + ab * u + nrm * bump);
      set_pos(1, t, p0[1] - ab * u - nrm * bump);
    }
  } else if (action == "circle") {
    const Vec ba = p0[0] - p0[1];
    const double radius = norm(ba);
    if (radius < R(0) + R(1) + 5 * k || radius < 20 * k) return false;
    const double sign = rng.chance(0.5) ? 1 : -1;  // +1: clockwise on screen (image y points down)
    const double th0 = std::atan2(ba.y, ba.x);
    P["radius"] = round3(radius);
    P["turn_deg"] = 360.0 * sign;
    for (int t = 0; t < T; ++t) {
      const double th = th0 + sign * 2 * kPi * u_of(t);
      set_pos(0, t, p0[1] + Vec{std::cos(th), std::sin(th)} * radius);
    }
  } else {
    throw Error("shapes world: unknown action '" + action + "'");
  }

  return layout_valid(action, cast.objs, plan.tracks, cfg, k);
}

// Validity: inside the canvas, and apart unless the action brings the pair together.
bool layout_valid(const std::string& action, const std::vector<Obj>& objs, const std::vector<std::vector<State>>& tracks,
                  const ShapesWorldConfig& cfg, double k) {
  const int n = static_cast<int>(objs.size()), T = cfg.frames;
  const double W = cfg.width, H = cfg.height;
  const bool pair_exempt = action == "move_to" || action == "push" || action == "hide_behind";
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < n; ++i) {
      const State& s = tracks[i][t];
      const double r = circumradius_factor(objs[i].shape) * s.size;
      if (s.x - r < 1 * k || s.y - r < 1 * k || s.x + r > W - 1 * k || s.y + r > H - 1 * k) return false;
      for (int j = i + 1; j < n; ++j) {
        if (pair_exempt && i == 0 && j == 1) continue;
        const State& q = tracks[j][t];
        const double rq = circumradius_factor(objs[j].shape) * q.size;
        if (std::hypot(s.x - q.x, s.y - q.y) < r + rq + 4 * k) return false;
      }
    }
  }
  return true;
}

json state_json(int id, const State& s) {
  return json{{"id", id},
              {"x", round3(s.x)},
              {"y", round3(s.y)},
              {"size", round3(s.size)},
              {"rotation", round3(s.rotation)},
              {"opacity", round3(s.opacity)},
              {"color", {s.color[0], s.color[1], s.color[2]}},
              {"z", s.z}};
}

std::vector<int> draw_order(int n_objects, bool actor_hides, SplitMix64& rng) {
  std::vector<int> z(n_objects);
  for (int i = 0; i < n_objects; ++i) z[i] = i;
  for (int i = n_objects - 1; i > 0; --i) std::swap(z[i], z[rng.range(0, i)]);
  if (actor_hides && z[0] > z[1]) std::swap(z[0], z[1]);
  return z;
}

json draw_background(uint64_t seed, SplitMix64& rng) {
  const auto& tones = background_tones();
  const int t0 = rng.range(0, static_cast<int>(tones.size()) - 1);
  int t1 = t0;
  if (rng.chance(0.6))
    while (t1 == t0) t1 = rng.range(0, static_cast<int>(tones.size()) - 1);
  // A braced list evaluates its elements in order, so the draws below happen in the order written.
  return json{{"color0", {tones[t0][0], tones[t0][1], tones[t0][2]}},
              {"color1", {tones[t1][0], tones[t1][1], tones[t1][2]}},
              {"angle_deg", 45.0 * rng.range(0, 7)},
              {"noise_amp", rng.chance(0.5) ? static_cast<double>(rng.range(2, 5)) : 0.0},
              {"noise_seed", mix_seed(seed, 3) >> 12}};
}

json build_annotation(uint64_t seed, const ShapesWorldConfig& cfg, Dimension dim, const std::string& action,
                      const Plan& plan, const std::vector<int>& z, const json& background) {
  const int nobj = static_cast<int>(plan.objs.size());
  json objects = json::array();
  for (int i = 0; i < nobj; ++i) {
    const Obj& o = plan.objs[i];
    objects.push_back({{"id", i}, {"role", o.role}, {"shape", shape_name(o.shape)}, {"color", o.color},
                       {"size_class", size_name(o.size_class)}, {"size", round3(o.size)}});
  }
  json states = json::array();
  for (int t = 0; t < cfg.frames; ++t) {
    json frame = json::array();
    for (int i = 0; i < nobj; ++i) {
      State s = plan.tracks[i][t];
      s.z = z[i];
      frame.push_back(state_json(i, s));
    }
    states.push_back(frame);
  }
  return json{{"format", "focalscope.shapes/1"},
              {"seed", seed},
              {"width", cfg.width},
              {"height", cfg.height},
              {"frames", cfg.frames},
              {"fps", cfg.fps},
              {"dimension", dimension_name(dim)},
              {"action", action},
              {"background", background},
              {"objects", objects},
              {"actor", 0},
              {"target", dim == Dimension::Interaction ? 1 : -1},
              {"params", plan.params},
              {"states", states}};
}

}  // namespace detail

using detail::Cast;
using detail::Plan;
using nlohmann::json;

const std::vector<Dimension>& all_dimensions() {
  static const std::vector<Dimension> v{Dimension::DynamicAttributes, Dimension::Motion, Dimension::Interaction};
  return v;
}

std::string dimension_name(Dimension d) {
  switch (d) {
    case Dimension::DynamicAttributes: return "dynamic_attributes";
    case Dimension::Motion: return "motion";
    case Dimension::Interaction: return "interaction";
  }
  return "?";
}

Dimension parse_dimension(const std::string& name) {
  for (Dimension d : all_dimensions())
    if (dimension_name(d) == name) return d;
  throw Error("shapes: unknown dimension '" + name + "' (dynamic_attributes, motion or interaction)");
}

const std::vector<std::string>& actions_of(Dimension d) {
  static const std::vector<std::string> dyn{"change_color", "grow", "shrink", "fade_out", "spin"};
  static const std::vector<std::string> mot{"move_left", "move_right", "move_up", "move_down",
                                            "move_diagonal", "jump", "bounce", "stop"};
  static const std::vector<std::string> inter{"move_to", "push", "swap", "circle", "hide_behind"};
  return d == Dimension::DynamicAttributes ? dyn : d == Dimension::Motion ? mot : inter;
}

ShapesCase sample_case(uint64_t seed, const ShapesWorldConfig& cfg, std::optional<Dimension> dim, int max_objects) {
  if (cfg.width < 48 || cfg.height < 48 || cfg.frames < 5)
    throw Error("shapes world: canvas " + std::to_string(cfg.width) + "x" + std::to_string(cfg.height) + "x" +
                std::to_string(cfg.frames) + " too small (need >= 48x48 and >= 5 frames)");
  SplitMix64 rng(mix_seed(seed, 1));
  ShapesCase c;
  c.seed = seed;
  c.dim = dim ? *dim : rng.pick(all_dimensions());
  c.action = rng.pick(actions_of(c.dim));
  const double k = std::min(cfg.width, cfg.height) / 96.0;
  const int need = c.dim == Dimension::Interaction ? 2 : 1;
  const int most = std::max(need, std::min(3, max_objects));
  int n = rng.range(need, most);

  Cast cast = detail::choose_cast(c.action, c.dim, n, rng, k);
  Plan plan;
  bool ok = false;
  for (int attempt = 0; attempt < 2000 && !ok; ++attempt) {
    // A crowded layout that keeps failing loses a distractor rather than the case.
    if (attempt > 0 && attempt % 400 == 0 && static_cast<int>(cast.objs.size()) > need) cast.objs.pop_back();
    ok = detail::plan_trajectories(c.action, cast, cfg, rng, k, plan);
  }
  if (!ok) throw Error("shapes world: seed " + std::to_string(seed) + ": no valid layout for '" + c.action + "'");

  // Drawing order: random, except a hiding actor is always behind its cover.
  const std::vector<int> z = detail::draw_order(static_cast<int>(plan.objs.size()), c.action == "hide_behind", rng);
  // Background: a solid tone or a gentle gradient between two tones, sometimes with faint large-scale noise.
  const json bg = detail::draw_background(seed, rng);
  c.annotation = detail::build_annotation(seed, cfg, c.dim, c.action, plan, z, bg);
  c.prompt = make_prompt(c.annotation, seed);
  c.annotation["prompt"] = c.prompt;
  return c;
}

json case_to_json(const ShapesCase& c) {
  return json{{"seed", c.seed}, {"dimension", dimension_name(c.dim)}, {"action", c.action}, {"prompt", c.prompt},
              {"annotation", c.annotation}};
}

ShapesCase case_from_json(const json& j, const std::string& where) {
  try {
    ShapesCase c;
    c.seed = j.at("seed").get<uint64_t>();
    c.dim = parse_dimension(j.at("dimension").get<std::string>());
    c.action = j.at("action").get<std::string>();
    c.prompt = j.at("prompt").get<std::string>();
    c.annotation = j.at("annotation");
    if (c.annotation.value("format", "") != "focalscope.shapes/1")
      throw Error("annotation format is not focalscope.shapes/1");
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": malformed Shapes case (" + std::string(e.what()) + ")");
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

}  // namespace focalscope::shapes
