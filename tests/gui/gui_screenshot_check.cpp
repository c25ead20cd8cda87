// gui_screenshot_check SCREENSHOT.png STATE.json: asserts on a headless screenshot's PIXELS that the app drew
// what it should (not merely that a file exists). STATE.json is the script's `dump_state` output: where every
// pane, the grid's cells, the large view's image and the two videos were on that frame.
//
//   * every pane: inside the window, a title bar in the theme's title colours, a body in the window colour;
//   * layer x step grid and large view: heatmaps, i.e. many pixels of the colormap (viridis) with a spread of
//     values (a blank or constant map fails); the large view must be shown at opacity 1 for exact colours;
//   * layer curves: the Moran's I (sky blue) and std (orange) lines are drawn, and the causal-effect curve (reddish
//     purple) when the script loaded an ablation;
//   * video A/B: both frames have texture (luminance spread), not a flat fill;
//   * Edit mode (state "mode": "edit"): the reference frame, source | edit with the mask outline, the lock's plot.
// Prints one line per check; exit 0 only when all pass.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "render/colormap.h"
#include "render/image.h"

using focalscope::render::Image;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s  %s\n", ok ? "PASS" : "FAIL", what.c_str());
  if (!ok) ++failures;
}

struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
};

Rect rect_of(const nlohmann::json& a, const Image& img) {
  Rect r;
  if (!a.is_array() || a.size() != 4) return r;
  r.x = std::max(0, static_cast<int>(std::lround(a[0].get<double>())));
  r.y = std::max(0, static_cast<int>(std::lround(a[1].get<double>())));
  r.w = std::min(img.width - r.x, static_cast<int>(std::lround(a[2].get<double>())));
  r.h = std::min(img.height - r.y, static_cast<int>(std::lround(a[3].get<double>())));
  return r;
}

bool near(const uint8_t* p, int r, int g, int b, int tol) {
  return std::abs(p[0] - r) <= tol && std::abs(p[1] - g) <= tol && std::abs(p[2] - b) <= tol;
}

// Fraction of pixels in the rectangle matching any of the colours.
double fraction(const Image& img, Rect r, const std::vector<std::array<int, 3>>& cols, int tol) {
  long n = 0, hit = 0;
  for (int y = r.y; y < r.y + r.h; ++y)
    for (int x = r.x; x < r.x + r.w; ++x, ++n) {
      const uint8_t* p = img.at(x, y);
      for (const auto& c : cols)
        if (near(p, c[0], c[1], c[2], tol)) {
          ++hit;
          break;
        }
    }
  return n ? double(hit) / n : 0.0;
}

long count(const Image& img, Rect r, int cr, int cg, int cb, int tol) {
  long hit = 0;
  for (int y = r.y; y < r.y + r.h; ++y)
    for (int x = r.x; x < r.x + r.w; ++x) hit += near(img.at(x, y), cr, cg, cb, tol);
  return hit;
}

// Heatmap test: pixels that are (almost exactly) a colormap entry, how many distinct entries, their spread.
void check_heatmap(const Image& img, Rect r, focalscope::render::Colormap cmap, const std::string& name) {
  const auto& table = focalscope::render::colormap_table(cmap);
  long n = 0, total = 0;
  double sum = 0, sum2 = 0;
  std::set<int> distinct;
  for (int y = r.y; y < r.y + r.h; ++y)
    for (int x = r.x; x < r.x + r.w; ++x) {
      ++total;
      const uint8_t* p = img.at(x, y);
      int best = -1, bestd = 1 << 30;
      for (int i = 0; i < 256; ++i) {
        const int d = std::abs(p[0] - table[i][0]) + std::abs(p[1] - table[i][1]) + std::abs(p[2] - table[i][2]);
        if (d < bestd) bestd = d, best = i;
      }
      if (bestd <= 6) {
        ++n;
        sum += best;
        sum2 += double(best) * best;
        distinct.insert(best / 4);
      }
    }
  const double mean = n ? sum / n : 0, sd = n ? std::sqrt(std::max(0.0, sum2 / n - mean * mean)) : 0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %ld of %ld pixels are %s colours, %zu distinct levels, index std %.1f", name.c_str(),
                n, total, focalscope::render::colormap_name(cmap), distinct.size(), sd);
  check(total > 0 && n >= std::max<long>(200, total / 3) && distinct.size() >= 8 && sd >= 8.0, buf);
}

void check_texture(const Image& img, Rect r, const std::string& name) {
  double sum = 0, sum2 = 0;
  long n = 0;
  for (int y = r.y; y < r.y + r.h; ++y)
    for (int x = r.x; x < r.x + r.w; ++x, ++n) {
      const uint8_t* p = img.at(x, y);
      const double l = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
      sum += l;
      sum2 += l * l;
    }
  const double mean = n ? sum / n : 0, sd = n ? std::sqrt(std::max(0.0, sum2 / n - mean * mean)) : 0;
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s: %ld pixels, luminance std %.1f", name.c_str(), n, sd);
  check(n >= 400 && sd >= 4.0, buf);
}

// The Edit mode after a finished edit: the reference frame with the painted mask, source | edit with the mask outline
// (yellow) over both, and the lock's plot with alpha (reddish purple) and sigma2 (sky blue) drawn.
int check_edit_mode(const Image& img, const nlohmann::json& st) {
  const auto& e = st.at("edit");
  check_texture(img, rect_of(e.at("reference_image"), img), "edit: reference frame");
  for (int v = 0; v < 2; ++v) {
    const Rect r = rect_of(e.at("videos")[v], img);
    const std::string name = v == 0 ? "edit: source video" : "edit: edited video";
    check_texture(img, r, name);
    const long outline = count(img, r, 255, 221, 0, 10);
    check(outline >= 20, name + ": " + std::to_string(outline) + " mask outline pixels");
  }
  const Rect plot = rect_of(e.at("plot"), img);
  const long alpha = count(img, plot, 204, 121, 167, 12), sigma = count(img, plot, 86, 180, 233, 12);
  check(alpha >= 30 && sigma >= 30,
        "edit: lock plot: " + std::to_string(alpha) + " alpha pixels, " + std::to_string(sigma) + " sigma2 pixels");
  check(e.value("state", std::string()) == "done", "edit: state " + e.value("state", std::string()));
  std::printf("%s: %d check(s) failed\n", failures ? "FAILED" : "OK", failures);
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: gui_screenshot_check SCREENSHOT.png STATE.json\n");
    return 2;
  }
  Image img;
  nlohmann::json st;
  try {
    img = focalscope::render::load_image(argv[1], 3);
    std::ifstream in(argv[2]);
    st = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  check(img.width >= 1280 && img.height >= 800, "screenshot is " + std::to_string(img.width) + "x" + std::to_string(img.height));

  // Theme colours (app/gui/theme.cpp), as ImGui rounds them to 8 bits.
  const std::vector<std::array<int, 3>> title = {{33, 36, 43}, {41, 64, 97}};
  const std::vector<std::array<int, 3>> body = {{27, 28, 32}};
  for (auto& [name, r] : st.at("panes").items()) {
    Rect p = rect_of(r, img);
    const bool inside = p.w >= 150 && p.h >= 80;
    check(inside, "pane '" + name + "' is on screen (" + std::to_string(p.w) + "x" + std::to_string(p.h) + ")");
    if (!inside) continue;
    const double t = fraction(img, Rect{p.x + 2, p.y + 2, p.w - 4, 8}, title, 3);
    const double b = fraction(img, Rect{p.x + 2, p.y + 30, p.w - 4, p.h - 34}, body, 3);
    char buf[200];
    std::snprintf(buf, sizeof buf, "pane '%s': title bar %.0f%% title colour, body %.0f%% window colour", name.c_str(),
                  100 * t, 100 * b);
    check(t >= 0.6 && b >= 0.05, buf);
  }

  if (st.value("mode", std::string("generate")) == "edit") return check_edit_mode(img, st);

  const auto cmap = focalscope::render::parse_colormap(st.value("colormap", std::string("viridis")));
  check_heatmap(img, rect_of(st.at("grid_cells"), img), cmap, "layer x step grid");
  if (st.value("overlay_opacity", 0.0) >= 0.999)
    check_heatmap(img, rect_of(st.at("large_view_image"), img), cmap, "large view");
  else
    check(false, "large view: the script must set 'opacity 1' before the screenshot for an exact colour check");

  Rect curves = rect_of(st.at("panes").at("Layer curves (Fig. 2)"), img);
  const long moran = count(img, curves, 86, 180, 233, 12), sd = count(img, curves, 230, 159, 0, 12);
  check(moran >= 30 && sd >= 30,
        "layer curves: " + std::to_string(moran) + " Moran's I pixels, " + std::to_string(sd) + " std pixels");
  // An ablation overlay (`load_ablation`): its causal-effect curve (reddish purple) is drawn on the curves.
  if (st.contains("ablation") && st["ablation"].value("layers", 0) > 0) {
    const long causal = count(img, curves, 204, 121, 167, 12);
    check(causal >= 30, "layer curves: " + std::to_string(causal) + " causal-effect pixels (ablation overlay)");
  }

  const auto& vids = st.at("videos");
  check_texture(img, rect_of(vids[0], img), "video A (baseline)");
  check_texture(img, rect_of(vids[1], img), "video B (guided)");

  int done = 0;
  for (const auto& r : st.at("runs")) done += r.value("state", std::string()) == "done";
  check(done == 2, "both runs done (" + std::to_string(done) + ")");

  std::printf("%s: %d check(s) failed\n", failures ? "FAILED" : "OK", failures);
  return failures ? 1 : 0;
}
