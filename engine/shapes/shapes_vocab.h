// The closed vocabulary of the Shapes world: object shapes, named colours, sizes and background tones.
// Named colours are saturated and background tones are muted, at least 100 RGB units apart, so a program
// (analysis/shapes_checker) can always tell an object pixel from a background pixel by colour alone.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace focalscope::shapes {

enum class ShapeKind { Circle, Square, Triangle, Diamond };

const std::vector<ShapeKind>& all_shapes();
std::string shape_name(ShapeKind s);
ShapeKind parse_shape(const std::string& name);  // throws Error on an unknown name

using Rgb = std::array<uint8_t, 3>;

struct NamedColor {
  std::string name;
  Rgb rgb;
};

// red, orange, yellow, green, cyan, blue, purple, white.
const std::vector<NamedColor>& named_colors();
const NamedColor& named_color(const std::string& name);  // throws Error on an unknown name

// Muted tones backgrounds are made of (solid or a gradient between two of them).
const std::vector<Rgb>& background_tones();

// Object sizes (bounding-box side in pixels at 96x96; scaled with the canvas).
enum class SizeClass { Small, Medium, Large };
std::string size_name(SizeClass s);
double size_pixels(SizeClass s);  // 16, 22, 28

// Radius of the circle around the object's centre that contains it at any rotation (used for
// non-overlap and in-bounds tests), as a multiple of its size.
double circumradius_factor(ShapeKind s);

}  // namespace focalscope::shapes
