#include "engine/shapes/shapes_vocab.h"

#include "engine/core/error.h"

namespace focalscope::shapes {

const std::vector<ShapeKind>& all_shapes() {
  static const std::vector<ShapeKind> v{ShapeKind::Circle, ShapeKind::Square, ShapeKind::Triangle, ShapeKind::Diamond};
  return v;
}

std::string shape_name(ShapeKind s) {
  switch (s) {
    case ShapeKind::Circle: return "circle";
    case ShapeKind::Square: return "square";
    case ShapeKind::Triangle: return "triangle";
    case ShapeKind::Diamond: return "diamond";
  }
  return "?";
}

ShapeKind parse_shape(const std::string& name) {
  for (ShapeKind s : all_shapes())
    if (shape_name(s) == name) return s;
  throw Error("shapes annotation: unknown shape '" + name + "'");
}

const std::vector<NamedColor>& named_colors() {
  static const std::vector<NamedColor> v{
      {"red", {220, 40, 40}},   {"orange", {245, 140, 20}}, {"yellow", {245, 225, 40}},  {"green", {40, 180, 60}},
      {"cyan", {40, 215, 225}}, {"blue", {40, 80, 225}},    {"purple", {150, 60, 205}}, {"white", {245, 245, 245}},
  };
  return v;
}

const NamedColor& named_color(const std::string& name) {
  for (const auto& c : named_colors())
    if (c.name == name) return c;
  throw Error("shapes annotation: unknown colour '" + name + "'");
}

const std::vector<Rgb>& background_tones() {
  static const std::vector<Rgb> v{
      {50, 58, 72},  {38, 38, 42},  {105, 105, 110}, {120, 108, 96}, {78, 88, 70},
      {40, 45, 80},  {80, 62, 80},  {50, 80, 85},    {150, 140, 120}, {160, 160, 165},
  };
  return v;
}

std::string size_name(SizeClass s) {
  switch (s) {
    case SizeClass::Small: return "small";
    case SizeClass::Medium: return "medium";
    case SizeClass::Large: return "large";
  }
  return "?";
}

double size_pixels(SizeClass s) {
  switch (s) {
    case SizeClass::Small: return 16;
    case SizeClass::Medium: return 22;
    case SizeClass::Large: return 28;
  }
  return 22;
}

double circumradius_factor(ShapeKind s) {
  switch (s) {
    case ShapeKind::Circle: return 0.5;
    case ShapeKind::Square: return 0.7072;   // half the diagonal
    case ShapeKind::Triangle: return 0.6667;  // centroid to apex (2/3 of the height; base corners are nearer)
    case ShapeKind::Diamond: return 0.5;
  }
  return 0.75;
}

}  // namespace focalscope::shapes
