#include "analysis/shapes_checker.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "analysis/analysis_error.h"
#include "analysis/blob_tracker.h"
#include "engine/shapes/shapes_vocab.h"

namespace focalscope::analysis {
namespace {

using nlohmann::json;
constexpr double kPi = 3.14159265358979323846;

std::string fmt(const char* f, double a) {
  char buf[96];
  std::snprintf(buf, sizeof buf, f, a);
  return buf;
}
std::string fmt2(const char* f, double a, double b) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

int color_index(const std::string& name) {
  const auto& pal = shapes::named_colors();
  for (size_t k = 0; k < pal.size(); ++k)
    if (pal[k].name == name) return static_cast<int>(k);
  raise("shapes annotation", "unknown colour '" + name + "'");
}
std::string color_name(int k) { return k >= 0 ? shapes::named_colors()[static_cast<size_t>(k)].name : "none"; }

double shape_area(const std::string& shape, double s) {
  if (shape == "circle") return kPi * s * s / 4;
  if (shape == "square") return s * s;
  return s * s / 2;  // triangle (base = height = s), diamond (diagonals = s)
}

// The class an upright shape shows after turning by rotation_deg (Unknown half-way between two looks).
ShapeClass rotated_class(const std::string& shape, double rotation_deg) {
  const double r = std::fabs(rotation_deg);
  if (shape == "circle") return ShapeClass::Circle;
  if (shape == "triangle") {
    const double m = std::fmod(r, 120.0);
    if (m < 15 || m > 105) return ShapeClass::Triangle;
    if (std::fabs(m - 60) < 15) return ShapeClass::TriangleDown;
    return ShapeClass::Unknown;
  }
  const double m = std::fmod(r, 90.0);
  const bool same = m < 12 || m > 78, swapped = std::fabs(m - 45) < 12;
  if (shape == "square") return same ? ShapeClass::Square : swapped ? ShapeClass::Diamond : ShapeClass::Unknown;
  return same ? ShapeClass::Diamond : swapped ? ShapeClass::Square : ShapeClass::Unknown;
}

std::string direction_name(double dx, double dy) {
  if (std::hypot(dx, dy) < 1e-9) return "none";
  static const char* names[8] = {"right", "down-right", "down", "down-left", "left", "up-left", "up", "up-right"};
  double a = std::atan2(dy, dx) * 180 / kPi;  // image y points down
  if (a < 0) a += 360;
  return names[static_cast<int>(std::lround(a / 45.0)) % 8];
}

double angle_between_deg(double ax, double ay, double bx, double by) {
  const double na = std::hypot(ax, ay), nb = std::hypot(bx, by);
  if (na < 1e-9 || nb < 1e-9) return 180;
  return std::acos(std::clamp((ax * bx + ay * by) / (na * nb), -1.0, 1.0)) * 180 / kPi;
}

struct Obj {
  int id = 0;
  std::string role, shape, color;
  int color_idx = -1;
  double size = 0, x0 = 0, y0 = 0, area0 = 0;
  std::string name() const { return "the " + color + " " + shape; }
};

class Checker {
 public:
  Checker(const std::vector<RgbFrame>& frames, const json& ann, const CheckerParams& p) : ann_(ann), p_(p) {
    if (frames.size() < 5) raise("shapes checker", "need at least 5 frames, got " + std::to_string(frames.size()));
    W_ = frames[0].w;
    H_ = frames[0].h;
    for (const auto& f : frames)
      if (f.w != W_ || f.h != H_ || f.rgb.size() != static_cast<size_t>(W_) * H_ * 3)
        raise("shapes checker", "frames differ in size or are malformed");
    try {
      action_ = ann.at("action").get<std::string>();
      actor_ = ann.at("actor").get<int>();
      target_ = ann.value("target", -1);
      params_ = ann.at("params");
      const double sx = static_cast<double>(W_) / ann.at("width").get<int>();
      const double sy = static_cast<double>(H_) / ann.at("height").get<int>();
      scale_ = (sx + sy) / 2;
      ann_frames_ = ann.at("frames").get<int>();
      const auto& s0 = ann.at("states").at(0);
      for (const auto& o : ann.at("objects")) {
        Obj ob;
        ob.id = o.at("id").get<int>();
        ob.role = o.at("role").get<std::string>();
        ob.shape = o.at("shape").get<std::string>();
        ob.color = o.at("color").get<std::string>();
        ob.color_idx = color_index(ob.color);
        for (const auto& st : s0)
          if (st.at("id").get<int>() == ob.id) {
            ob.x0 = st.at("x").get<double>() * sx;
            ob.y0 = st.at("y").get<double>() * sy;
            ob.size = st.at("size").get<double>() * scale_;
          }
        ob.area0 = shape_area(ob.shape, ob.size);
        objs_.push_back(ob);
      }
      final_state_ = ann.at("states").back();
      // Objects that move on their own (the editing world's drifting distractors): tracked like the others
      // so they claim their own blobs, but asked nothing; the background metrics judge them.
      if (ann.contains("background_motion"))
        for (const auto& v : ann.at("background_motion")) {
          const int id = v.get<int>();
          for (size_t i = 0; i < objs_.size(); ++i)
            if (objs_[i].id == id) background_.push_back(static_cast<int>(i));
        }
    } catch (const json::exception& e) {
      raise("shapes annotation", std::string("malformed (") + e.what() + ")");
    }
    if (actor_ < 0 || actor_ >= static_cast<int>(objs_.size())) raise("shapes annotation", "actor id out of range");
    T_ = static_cast<int>(frames.size());

    bg_ = fit_background(frames[0], p_.seg);
    const BackgroundModel& bg = bg_;
    for (const auto& f : frames) fb_.push_back(segment_frame(f, bg, p_.seg));
    std::vector<TrackSpec> specs;
    for (size_t i = 0; i < objs_.size(); ++i) {
      const Obj& o = objs_[i];
      TrackSpec s;
      s.color = o.color_idx;
      s.shape = shape_class_of(o.shape);
      s.x = o.x0;
      s.y = o.y0;
      s.size = o.size;
      s.area = o.area0;
      if (static_cast<int>(i) == actor_) {
        s.any_color = action_ == "change_color" || action_ == "fade_out";
        actor_any_color_ = s.any_color;
        s.shape_stable = !(action_ == "spin" || action_ == "hide_behind" || action_ == "fade_out");
      }
      specs.push_back(s);
    }
    assign_ = track_objects(fb_, specs, 0.4 * std::min(W_, H_));
  }

  CaseVerdict run() {
    CaseVerdict v;
    v.answers.push_back(first_frame());
    if (action_ == "move_left" || action_ == "move_right" || action_ == "move_up" || action_ == "move_down" ||
        action_ == "move_diagonal" || action_ == "stop")
      move(v);
    else if (action_ == "jump" || action_ == "bounce")
      hop(v);
    else if (action_ == "change_color")
      change_color(v);
    else if (action_ == "grow" || action_ == "shrink")
      resize(v);
    else if (action_ == "fade_out")
      fade_out(v);
    else if (action_ == "spin")
      spin(v);
    else if (action_ == "move_to")
      move_to(v);
    else if (action_ == "push")
      push(v);
    else if (action_ == "swap")
      swap(v);
    else if (action_ == "circle")
      circle(v);
    else if (action_ == "hide_behind")
      hide_behind(v);
    else
      raise("shapes annotation", "unknown action '" + action_ + "'");
    v.answers.push_back(no_strays());
    v.pass = std::all_of(v.answers.begin(), v.answers.end(), [](const Answer& a) { return a.ok; });
    return v;
  }

 private:
  const Blob* blob(int i, int t) const {
    const int a = assign_[i][t];
    return a < 0 ? nullptr : &fb_[t].blobs[a];
  }
  int last() const { return T_ - 1; }
  double put_tol(const Obj& o) const { return std::max(3.0 * scale_, p_.put_tol * o.size); }
  double param(const char* key) const { return params_.at(key).get<double>(); }
  // Frame index in this video for a frame index of the annotation (videos may have another length).
  int video_frame(int ann_frame) const {
    return static_cast<int>(std::lround(static_cast<double>(ann_frame) * (T_ - 1) / std::max(1, ann_frames_ - 1)));
  }
  const json& final_ann_state(int id) const {
    for (const auto& s : final_state_)
      if (s.at("id").get<int>() == id) return s;
    raise("shapes annotation", "no final state for object " + std::to_string(id));
  }
  std::string describe(const Blob* b) const {
    if (!b) return "not found";
    return color_name(b->color) + " " + shape_class_name(b->shape) + ", area " + std::to_string(b->area) + " px at (" +
           fmt("%.0f", b->cx) + ", " + fmt("%.0f", b->cy) + ")";
  }
  bool is_background(int i) const { return std::find(background_.begin(), background_.end(), i) != background_.end(); }
  double disp(int i, int t) const {
    const Blob* b = blob(i, t);
    return b ? std::hypot(b->cx - objs_[i].x0, b->cy - objs_[i].y0) : 0.0;
  }

  Answer first_frame() const {
    Answer a{"Are all objects where the reference shows them?", "", "", true};
    for (size_t i = 0; i < objs_.size(); ++i) {
      const Obj& o = objs_[i];
      const Blob* b = blob(static_cast<int>(i), 0);
      const bool ok = b && b->color == o.color_idx && blob_shows(*b, shape_class_of(o.shape)) &&
                      std::hypot(b->cx - o.x0, b->cy - o.y0) <= put_tol(o) && b->area >= 0.5 * o.area0 &&
                      b->area <= 2.0 * o.area0;
      a.expected += (i ? "; " : "") + o.name() + " at (" + fmt("%.0f", o.x0) + ", " + fmt("%.0f", o.y0) + ")";
      if (!ok) {
        a.ok = false;
        a.observed += (a.observed.empty() ? "" : "; ") + o.name() + ": " + describe(b);
      }
    }
    if (a.ok) a.observed = "all found";
    return a;
  }

  // The object is one compact blob of the given colour and shape class, of about the expected area.
  Answer intact(int i, int t, int color, ShapeClass cls, double area) const {
    const Obj& o = objs_[i];
    Answer a{"Is " + o.name() + " one intact " + color_name(color) + " " + shape_class_name(cls) + " at frame " +
                 std::to_string(t) + "?",
             color_name(color) + " " + shape_class_name(cls) + ", area ~" + fmt("%.0f", area) + " px", "", false};
    const Blob* b = blob(i, t);
    a.observed = describe(b);
    if (b) a.observed += fmt(", compactness %.2f", b->compactness);
    a.ok = b && b->color == color && blob_shows(*b, cls) && b->area >= 0.5 * area && b->area <= 2.0 * area &&
           b->compactness >= 0.3;
    return a;
  }
  Answer actor_intact_at_end() const {
    const Obj& o = objs_[actor_];
    return intact(actor_, last(), o.color_idx, shape_class_of(o.shape), o.area0);
  }

  // Every object not in `moving` stays within tolerance of its start in every frame, unchanged at the end.
  void others_stay_put(CaseVerdict& v, std::vector<int> moving) const {
    moving.push_back(actor_);
    moving.insert(moving.end(), background_.begin(), background_.end());
    std::string names, worst;
    bool ok = true;
    for (size_t i = 0; i < objs_.size(); ++i) {
      if (std::find(moving.begin(), moving.end(), static_cast<int>(i)) != moving.end()) continue;
      const Obj& o = objs_[i];
      names += (names.empty() ? "" : ", ") + o.name();
      for (int t = 0; t < T_ && ok; ++t) {
        const Blob* b = blob(static_cast<int>(i), t);
        if (!b) {
          ok = false;
          worst = o.name() + " missing at frame " + std::to_string(t);
        } else if (disp(static_cast<int>(i), t) > put_tol(o)) {
          ok = false;
          worst = o.name() + fmt(" moved %.1f px", disp(static_cast<int>(i), t)) + " by frame " + std::to_string(t);
        }
      }
      const Blob* b = blob(static_cast<int>(i), last());
      if (ok && b && (!blob_shows(*b, shape_class_of(o.shape)) || b->area < 0.6 * o.area0 || b->area > 1.6 * o.area0)) {
        ok = false;
        worst = o.name() + " changed: " + describe(b);
      }
    }
    if (names.empty()) return;
    v.answers.push_back({"Did the other objects stay put and unchanged?", names + " within " +
                                                                              fmt("%.1f px", 3.0 * scale_) + " / " +
                                                                              fmt("%.0f%% of size", p_.put_tol * 100),
                         ok ? "yes" : worst, ok});
  }

  Answer no_strays() const {
    double mean_area = 0;
    for (const auto& o : objs_) mean_area += o.area0;
    mean_area /= objs_.size();
    const double limit = std::max(10.0 * scale_ * scale_, p_.stray_fraction * mean_area);
    int worst_t = 0;
    double worst = 0;
    for (int t = 0; t < T_; ++t) {
      std::vector<char> used(fb_[t].blobs.size(), 0);
      for (size_t i = 0; i < objs_.size(); ++i)
        if (assign_[i][t] >= 0) used[assign_[i][t]] = 1;
      // An actor changing colour or fading is a blend, which may split into two colour labels: pieces
      // close around its blob are still the actor.
      if (actor_any_color_ && assign_[actor_][t] >= 0) {
        const Blob& a = fb_[t].blobs[assign_[actor_][t]];
        for (size_t b = 0; b < used.size(); ++b) {
          const Blob& o = fb_[t].blobs[b];
          if (!used[b] && std::hypot(o.cx - a.cx, o.cy - a.cy) <= objs_[actor_].size) used[b] = 1;
        }
      }
      double stray = 0;
      for (size_t b = 0; b < used.size(); ++b)
        if (!used[b]) stray += fb_[t].blobs[b].area;
      if (stray > worst) {
        worst = stray;
        worst_t = t;
      }
    }
    return {"Is the frame free of stray blobs?", "<= " + fmt("%.0f", limit) + " px of unexplained colour per frame",
            fmt("%.0f px", worst) + " at frame " + std::to_string(worst_t), worst <= limit};
  }

  // Which object moved most from its start (by the last frame), or "none" below `min_px`.
  Answer which_moved(double min_px) const {
    int best = -1;
    double bd = 0;
    for (size_t i = 0; i < objs_.size(); ++i) {
      if (is_background(static_cast<int>(i))) continue;  // drifts by design; not a candidate for "who acted"
      const double d = disp(static_cast<int>(i), last());
      if (blob(static_cast<int>(i), last()) && d > bd) {
        bd = d;
        best = static_cast<int>(i);
      }
    }
    const std::string obs = best >= 0 && bd >= min_px ? objs_[best].name() + fmt(" (%.1f px)", bd) : "none";
    return {"Which object moved?", objs_[actor_].name(), obs, best == actor_ && bd >= min_px};
  }

  void direction_and_distance(CaseVerdict& v, int i, double dx, double dy, double dist) const {
    const Blob* b = blob(i, last());
    const double ox = b ? b->cx - objs_[i].x0 : 0, oy = b ? b->cy - objs_[i].y0 : 0;
    const double ang = angle_between_deg(ox, oy, dx, dy);
    v.answers.push_back({"Which direction did " + objs_[i].name() + " move?", direction_name(dx, dy),
                         b ? direction_name(ox, oy) + fmt(" (%.0f deg off)", ang) : "not found",
                         b && std::hypot(ox, oy) > 1 && ang <= p_.angle_tol_deg});
    const double moved = std::hypot(ox, oy);
    v.answers.push_back({"How far did " + objs_[i].name() + " move?", fmt(">= %.1f px", p_.min_distance * dist),
                         fmt("%.1f px", moved), b && moved >= p_.min_distance * dist});
  }

  void move(CaseVerdict& v) const {
    const double dist = param("distance") * scale_;
    const auto& d = params_.at("direction");
    v.answers.push_back(which_moved(0.5 * dist));
    direction_and_distance(v, actor_, d.at(0).get<double>(), d.at(1).get<double>(), dist);
    if (action_ == "stop") {
      // Still over the last stretch: from a third of the way between the stop frame and the end.
      const int stop = video_frame(params_.at("stop_frame").get<int>());
      const int from = stop + (last() - stop + 2) / 3;
      const Blob* a = blob(actor_, from);
      const Blob* b = blob(actor_, last());
      const double still = a && b ? std::hypot(b->cx - a->cx, b->cy - a->cy) : 1e9;
      const double lim = std::max(3.0 * scale_, 0.12 * dist);
      v.answers.push_back({"Did " + objs_[actor_].name() + " stop?",
                           fmt("moves <= %.1f px", lim) + " from frame " + std::to_string(from) + " on",
                           a && b ? fmt("%.1f px", still) : "not found", still <= lim});
    }
    v.answers.push_back(actor_intact_at_end());
    others_stay_put(v, {});
  }

  void hop(CaseVerdict& v) const {
    const Obj& o = objs_[actor_];
    const double h = param("height") * scale_;
    const int want = params_.at("hops").get<int>();
    std::vector<double> up(T_, 0.0);
    double max_up = 0;
    for (int t = 0; t < T_; ++t)
      if (const Blob* b = blob(actor_, t)) {
        up[t] = o.y0 - b->cy;
        max_up = std::max(max_up, up[t]);
      }
    v.answers.push_back({"Did " + o.name() + " go up?", fmt(">= %.1f px", 0.5 * h), fmt("%.1f px", max_up), max_up >= 0.5 * h});
    // Hops: rises above 60% of the peak after having been below 30% of it.
    int hops = 0;
    bool low = true;
    for (int t = 0; t < T_; ++t) {
      if (!blob(actor_, t)) continue;
      if (low && up[t] >= 0.6 * max_up && max_up > 0) {
        ++hops;
        low = false;
      } else if (up[t] <= 0.3 * max_up) {
        low = true;
      }
    }
    v.answers.push_back({"How many times did " + o.name() + " leave the ground?", std::to_string(want),
                         std::to_string(hops), hops == want});
    const Blob* b = blob(actor_, last());
    const double back = b ? std::hypot(b->cx - o.x0, b->cy - o.y0) : 1e9;
    v.answers.push_back({"Did " + o.name() + " land where it started?", fmt("within %.1f px", 0.3 * h),
                         b ? fmt("%.1f px away", back) : "not found", back <= 0.3 * h});
    v.answers.push_back(actor_intact_at_end());
    others_stay_put(v, {});
  }

  Answer stayed_in_place(int i) const {
    const Blob* b = blob(i, last());
    const double d = disp(i, last());
    return {"Did " + objs_[i].name() + " stay in place?", fmt("within %.1f px", put_tol(objs_[i])),
            b ? fmt("%.1f px away", d) : "not found", b && d <= put_tol(objs_[i])};
  }

  void change_color(CaseVerdict& v) const {
    const Obj& o = objs_[actor_];
    const int to = color_index(params_.at("to_color").get<std::string>());
    const Blob* b = blob(actor_, last());
    v.answers.push_back({"What colour is " + o.name() + " at the end?", color_name(to), b ? color_name(b->color) : "not found",
                         b && b->color == to});
    v.answers.push_back(stayed_in_place(actor_));
    v.answers.push_back(intact(actor_, last(), to, shape_class_of(o.shape), o.area0));
    others_stay_put(v, {});
  }

  void resize(CaseVerdict& v) const {
    const Obj& o = objs_[actor_];
    const double scale = param("scale");
    const Blob* b0 = blob(actor_, 0);
    const Blob* b = blob(actor_, last());
    const double ratio = b0 && b ? static_cast<double>(b->area) / b0->area : 0;
    // Area goes with the square of the scale; demand at least half of the expected change.
    const double want = scale * scale;
    const bool grow = scale > 1;
    const double lim = grow ? 1 + 0.5 * (want - 1) : 1 - 0.5 * (1 - want);
    v.answers.push_back({"How did the size of " + o.name() + " change?",
                         std::string(grow ? "area x >= " : "area x <= ") + fmt("%.2f", lim),
                         b0 && b ? fmt("area x %.2f", ratio) : "not found",
                         b0 && b && (grow ? ratio >= lim : ratio <= lim)});
    v.answers.push_back(stayed_in_place(actor_));
    v.answers.push_back(intact(actor_, last(), o.color_idx, shape_class_of(o.shape), o.area0 * want));
    others_stay_put(v, {});
  }

  void fade_out(CaseVerdict& v) const {
    const Obj& o = objs_[actor_];
    const Blob* end = blob(actor_, last());
    // Whatever is left of it near where it was, in its own colour.
    // A drifting distractor of the same colour passing nearby is not what is left of the actor.
    std::vector<char> mover_blob(fb_[last()].blobs.size(), 0);
    for (int i : background_)
      if (assign_[i][last()] >= 0) mover_blob[assign_[i][last()]] = 1;
    double left = 0;
    for (size_t k = 0; k < fb_[last()].blobs.size(); ++k) {
      const Blob& bl = fb_[last()].blobs[k];
      if (!mover_blob[k] && bl.color == o.color_idx && std::hypot(bl.cx - o.x0, bl.cy - o.y0) <= o.size) left += bl.area;
    }
    if (end && end->color != o.color_idx) left += end->area;
    v.answers.push_back({"Is " + o.name() + " gone at the end?", fmt("< %.0f px visible", 0.2 * o.area0),
                         fmt("%.0f px visible", left), left < 0.2 * o.area0});
    // While still visible, it fades where it is rather than leaving (a partly faded blob is only partly
    // labelled, so its centroid may wander a little more than a solid one's).
    const double tol = std::max(put_tol(o), 0.5 * o.size);
    double worst = 0;
    for (int t = 0; t < T_; ++t) {
      const Blob* b = blob(actor_, t);
      if (b && b->area >= 0.2 * o.area0) worst = std::max(worst, disp(actor_, t));  // not the last faint specks
    }
    v.answers.push_back({"Did " + o.name() + " fade where it was?", fmt("within %.1f px", tol),
                         fmt("moved up to %.1f px", worst), worst <= tol});
    // ...and in its own colour: a fading object is a mix of its colour and the background behind it.
    const auto& own = shapes::named_colors()[static_cast<size_t>(o.color_idx)].rgb;
    double off = 0;
    int off_t = 0;
    for (int t = 0; t < T_; ++t) {
      const Blob* b = blob(actor_, t);
      if (!b) continue;
      const auto back = bg_.at(static_cast<int>(b->cx), static_cast<int>(b->cy));
      // Distance from the blob's mean colour to the segment background -> own colour.
      double dir[3], rel[3], dd = 0, proj = 0;
      for (int k = 0; k < 3; ++k) {
        dir[k] = own[k] - back[k];
        rel[k] = b->mean_rgb[k] - back[k];
        dd += dir[k] * dir[k];
        proj += dir[k] * rel[k];
      }
      const double u = std::clamp(dd > 0 ? proj / dd : 0.0, 0.0, 1.0);
      double e = 0;
      for (int k = 0; k < 3; ++k) e += std::pow(rel[k] - u * dir[k], 2.0);
      if (std::sqrt(e) > off) {
        off = std::sqrt(e);
        off_t = t;
      }
    }
    v.answers.push_back({"Did " + o.name() + " keep its colour while fading?", "within 45 of a " + o.color + "/background mix",
                         fmt("%.0f off", off) + " at frame " + std::to_string(off_t), off <= 45});
    others_stay_put(v, {});
  }

  void spin(CaseVerdict& v) const {
    const Obj& o = objs_[actor_];
    const json& fs = final_ann_state(o.id);
    const ShapeClass want = rotated_class(o.shape, fs.at("rotation").get<double>());
    const Blob* b = blob(actor_, last());
    v.answers.push_back({"How is " + o.name() + " turned at the end?", shape_class_name(want),
                         b ? shape_class_name(b->shape) : "not found", b && blob_shows(*b, want)});
    v.answers.push_back(stayed_in_place(actor_));
    v.answers.push_back(intact(actor_, last(), o.color_idx, want, o.area0));
    others_stay_put(v, {});
  }

  double dist_ab(int t) const {
    const Blob* a = blob(actor_, t);
    const Blob* b = blob(target_, t);
    return a && b ? std::hypot(a->cx - b->cx, a->cy - b->cy) : 1e9;
  }
  double ann_final_dist() const {
    const json& a = final_ann_state(objs_[actor_].id);
    const json& b = final_ann_state(objs_[target_].id);
    return std::hypot(a.at("x").get<double>() - b.at("x").get<double>(), a.at("y").get<double>() - b.at("y").get<double>()) *
           scale_;
  }
  void need_target() const {
    if (target_ < 0 || target_ >= static_cast<int>(objs_.size()))
      raise("shapes annotation", "interaction '" + action_ + "' without a valid target");
  }

  void move_to(CaseVerdict& v) const {
    need_target();
    const double dist = param("distance") * scale_;
    const double d0 = std::hypot(objs_[actor_].x0 - objs_[target_].x0, objs_[actor_].y0 - objs_[target_].y0);
    v.answers.push_back(which_moved(0.5 * dist));
    const double want = ann_final_dist();
    const double lim = std::min(want * 1.35 + 3 * scale_, 0.6 * d0);
    const double got = dist_ab(last());
    v.answers.push_back({"Did " + objs_[actor_].name() + " end next to " + objs_[target_].name() + "?",
                         fmt("centres <= %.1f px apart", lim), got < 1e8 ? fmt("%.1f px apart", got) : "not found",
                         got <= lim});
    v.answers.push_back(actor_intact_at_end());
    others_stay_put(v, {});  // the target included
  }

  void push(CaseVerdict& v) const {
    need_target();
    const auto& d = params_.at("direction");
    const double dx = d.at(0).get<double>(), dy = d.at(1).get<double>();
    const double pushd = param("push_distance") * scale_;
    const double contact = ann_final_dist();
    double closest = 1e9;
    for (int t = 0; t < T_; ++t) closest = std::min(closest, dist_ab(t));
    const double lim = contact * 1.35 + 3 * scale_;
    v.answers.push_back({"Did " + objs_[actor_].name() + " reach " + objs_[target_].name() + "?",
                         fmt("centres <= %.1f px apart", lim), closest < 1e8 ? fmt("%.1f px apart", closest) : "not found",
                         closest <= lim});
    direction_and_distance(v, target_, dx, dy, pushd);
    const double end = dist_ab(last());
    v.answers.push_back({"Is " + objs_[actor_].name() + " still against " + objs_[target_].name() + " at the end?",
                         fmt("centres <= %.1f px apart", lim), end < 1e8 ? fmt("%.1f px apart", end) : "not found",
                         end <= lim});
    v.answers.push_back(actor_intact_at_end());
    const Obj& t = objs_[target_];
    v.answers.push_back(intact(target_, last(), t.color_idx, shape_class_of(t.shape), t.area0));
    others_stay_put(v, {target_});
  }

  void swap(CaseVerdict& v) const {
    need_target();
    const Obj& a = objs_[actor_];
    const Obj& b = objs_[target_];
    const double d0 = std::hypot(a.x0 - b.x0, a.y0 - b.y0);
    const double tol = std::max(6.0 * scale_, 0.25 * d0);
    for (auto [i, j] : {std::pair<int, int>{actor_, target_}, std::pair<int, int>{target_, actor_}}) {
      const Blob* bl = blob(i, last());
      const double off = bl ? std::hypot(bl->cx - objs_[j].x0, bl->cy - objs_[j].y0) : 1e9;
      v.answers.push_back({"Is " + objs_[i].name() + " where " + objs_[j].name() + " was?", fmt("within %.1f px", tol),
                           bl ? fmt("%.1f px away", off) : "not found", off <= tol});
    }
    v.answers.push_back(actor_intact_at_end());
    v.answers.push_back(intact(target_, last(), b.color_idx, shape_class_of(b.shape), b.area0));
    others_stay_put(v, {target_});
  }

  void circle(CaseVerdict& v) const {
    need_target();
    const double radius = param("radius") * scale_;
    // Unwrapped angle of the actor around the target, over frames where both are seen.
    double total = 0, prev = 0, closest = 1e9;
    bool have = false;
    int seen = 0;
    for (int t = 0; t < T_; ++t) {
      const Blob* a = blob(actor_, t);
      const Blob* b = blob(target_, t);
      if (!a || !b) continue;
      ++seen;
      closest = std::min(closest, std::hypot(a->cx - b->cx, a->cy - b->cy));
      const double ang = std::atan2(a->cy - b->cy, a->cx - b->cx);
      if (have) {
        double d = ang - prev;
        while (d > kPi) d -= 2 * kPi;
        while (d < -kPi) d += 2 * kPi;
        total += d;
      }
      prev = ang;
      have = true;
    }
    const double deg = std::fabs(total) * 180 / kPi;
    v.answers.push_back({"How far did " + objs_[actor_].name() + " go around " + objs_[target_].name() + "?",
                         ">= 270 deg", fmt("%.0f deg", deg) + " (seen in " + std::to_string(seen) + " frames)",
                         deg >= 270 && seen >= (3 * T_ + 3) / 4});
    v.answers.push_back({"Did " + objs_[actor_].name() + " keep its distance from " + objs_[target_].name() + "?",
                         fmt(">= %.1f px", 0.5 * radius), closest < 1e8 ? fmt("%.1f px", closest) : "not found",
                         closest >= 0.5 * radius});
    v.answers.push_back(actor_intact_at_end());
    others_stay_put(v, {});  // the target included
  }

  void hide_behind(CaseVerdict& v) const {
    need_target();
    const Obj& a = objs_[actor_];
    const Obj& b = objs_[target_];
    const Blob* end = blob(actor_, last());
    double visible = end ? end->area : 0;
    v.answers.push_back({"Is " + a.name() + " hidden at the end?", fmt("< %.0f px visible", 0.15 * a.area0),
                         fmt("%.0f px visible", visible), visible < 0.15 * a.area0});
    // The last place it was seen must be at the cover, not where it started.
    const double d0 = std::hypot(a.x0 - b.x0, a.y0 - b.y0);
    double last_seen = d0;
    int last_t = 0;
    for (int t = 0; t < T_; ++t)
      if (const Blob* bl = blob(actor_, t)) {
        last_seen = std::hypot(bl->cx - b.x0, bl->cy - b.y0);
        last_t = t;
      }
    v.answers.push_back({"Did " + a.name() + " go behind " + b.name() + "?", fmt("last seen <= %.1f px from it", 0.7 * d0),
                         fmt("%.1f px", last_seen) + " at frame " + std::to_string(last_t), last_seen <= 0.7 * d0});
    v.answers.push_back(intact(target_, last(), b.color_idx, shape_class_of(b.shape), b.area0));
    others_stay_put(v, {});  // the cover included
  }

  const json& ann_;
  CheckerParams p_;
  int W_ = 0, H_ = 0, T_ = 0, ann_frames_ = 0, actor_ = 0, target_ = -1;
  double scale_ = 1;
  bool actor_any_color_ = false;
  std::string action_;
  json params_, final_state_;
  std::vector<Obj> objs_;
  std::vector<int> background_;  // indices into objs_ of "background_motion" objects
  BackgroundModel bg_;
  std::vector<FrameBlobs> fb_;
  std::vector<std::vector<int>> assign_;
};

}  // namespace

std::string CaseVerdict::failures() const {
  std::string s;
  for (const auto& a : answers)
    if (!a.ok) s += (s.empty() ? "" : "; ") + a.question + " expected " + a.expected + ", observed " + a.observed;
  return s;
}

CaseVerdict check_case(const std::vector<RgbFrame>& frames, const json& annotation, const CheckerParams& params) {
  return Checker(frames, annotation, params).run();
}

}  // namespace focalscope::analysis
