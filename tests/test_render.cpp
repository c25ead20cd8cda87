// render/: images, colormaps, canvas/figures and H.264 export. No torch (test_util.h pulls ATen, so
// this file keeps its own tiny helpers).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "engine/core/error.h"
#include "render/canvas.h"
#include "render/colormap.h"
#include "render/figures.h"
#include "render/image.h"
#include "render/video_writer.h"
#include "tests/run_capture.h"

using namespace focalscope;
using namespace focalscope::render;
using focalscope::testing::run_capture;
namespace fs = std::filesystem;

namespace {

std::string temp_dir() {
  static const std::string dir = [] {
    auto p = fs::temp_directory_path() / ("focalscope_test_render_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p.string();
  }();
  return dir;
}

// Figures are also written to a stable path so a person can look at them after the run.
std::string figure_path(const std::string& name) {
  const char* e = std::getenv("FOCALSCOPE_FIGURE_DIR");
  std::string dir = e && *e ? e : "/tmp/focalscope_render_examples";
  fs::create_directories(dir);
  return dir + "/" + name;
}

// CIE L* of an sRGB colour: what "perceived lightness" means for the monotonicity checks.
double lightness(const std::array<uint8_t, 3>& c) {
  auto lin = [](double v) {
    v /= 255.0;
    return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
  };
  double y = 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  return y > 216.0 / 24389 ? 116 * std::cbrt(y) - 16 : y * 24389.0 / 27;
}

int count_differing(const Image& img, Color bg) {
  int n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* p = img.at(x, y);
      n += (p[0] != bg.r || p[1] != bg.g || p[2] != bg.b);
    }
  return n;
}

bool have_tool(const char* name) { return std::system((std::string("command -v ") + name + " >/dev/null 2>&1").c_str()) == 0; }

Image gradient_image(int w, int h) {
  Image img(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.at(x, y);
      p[0] = uint8_t(x * 255 / std::max(1, w - 1)), p[1] = uint8_t(y * 255 / std::max(1, h - 1)), p[2] = 77;
    }
  return img;
}

}  // namespace

// ---- image ---------------------------------------------------------------------------------------

TEST(RenderImage, PngRoundTripIsLossless) {
  Image img = gradient_image(37, 23);
  std::string path = temp_dir() + "/roundtrip.png";
  save_png(path, img);
  Image back = load_image(path);
  ASSERT_EQ(back.width, 37);
  ASSERT_EQ(back.height, 23);
  ASSERT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels, img.pixels);

  Image rgba = load_image(path, 4);
  ASSERT_EQ(rgba.channels, 4);
  EXPECT_EQ(rgba.at(5, 7)[3], 255);
  EXPECT_EQ(rgba.at(5, 7)[0], img.at(5, 7)[0]);
}

TEST(RenderImage, CorruptMissingAndEmptyFilesThrowNamingTheFile) {
  std::string bad = temp_dir() + "/corrupt.png";
  {
    // A real PNG signature followed by garbage: stb must reject it, not crash.
    std::ofstream f(bad, std::ios::binary);
    const unsigned char sig[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    f.write(reinterpret_cast<const char*>(sig), sizeof sig);
    f << "this is not an IHDR chunk at all";
  }
  std::string empty = temp_dir() + "/empty.png";
  std::ofstream(empty).close();
  std::string truncated = temp_dir() + "/truncated.png";
  {
    save_png(truncated, gradient_image(64, 64));
    fs::resize_file(truncated, 60);
  }
  for (const std::string& p : {bad, empty, truncated, temp_dir() + "/does_not_exist.png"}) {
    try {
      load_image(p);
      ADD_FAILURE() << "no error for " << p;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "message must be one line";
    }
  }
  EXPECT_THROW(save_png(temp_dir() + "/no/such/dir/x.png", gradient_image(4, 4)), Error);
  Image broken(4, 4, 3);
  broken.pixels.resize(5);
  EXPECT_THROW(save_png(temp_dir() + "/broken.png", broken), Error);
}

TEST(RenderImage, ResizeBilinearAndNearest) {
  Image two(2, 1, 3);
  two.at(0, 0)[0] = 0, two.at(1, 0)[0] = 200;
  Image up = resize_bilinear(two, 4, 1);
  // Pixel-centre alignment: outer pixels clamp to the sources, inner ones interpolate 1/4, 3/4.
  EXPECT_EQ(up.at(0, 0)[0], 0);
  EXPECT_EQ(up.at(1, 0)[0], 50);
  EXPECT_EQ(up.at(2, 0)[0], 150);
  EXPECT_EQ(up.at(3, 0)[0], 200);
  Image nn = resize_nearest(two, 4, 1);
  EXPECT_EQ(nn.at(1, 0)[0], 0);
  EXPECT_EQ(nn.at(2, 0)[0], 200);
  Image big = gradient_image(64, 48);
  Image down = resize_bilinear(big, 16, 12);
  EXPECT_EQ(down.width, 16);
  EXPECT_NEAR(down.at(15, 0)[0], 255, 12);
  EXPECT_THROW(resize_bilinear(big, 0, 5), Error);
}

TEST(RenderImage, BlitAndAlphaBlendClipAndMix) {
  Image dst(8, 8, 3, 0);
  Image src(4, 4, 4, 255);  // opaque white
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) src.at(x, y)[3] = 128;
  alpha_blend(dst, src, 6, 6);  // partially off the edge: clipped, no crash
  EXPECT_NEAR(dst.at(7, 7)[0], 128, 1);
  EXPECT_EQ(dst.at(5, 5)[0], 0);
  alpha_blend(dst, src, -2, -2, 0.5f);
  EXPECT_NEAR(dst.at(0, 0)[1], 64, 1);
  blit(dst, src, 2, 2);  // plain copy drops alpha
  EXPECT_EQ(dst.at(3, 3)[2], 255);
}

// ---- colormap ------------------------------------------------------------------------------------

TEST(RenderColormap, EndpointsMatchPublishedColours) {
  const auto& v = colormap_table(Colormap::Viridis);
  // matplotlib viridis: #440154 ... #21918c (middle) ... #fde725. Polynomial fit: within a few levels.
  auto near = [](const std::array<uint8_t, 3>& c, int r, int g, int b, int tol) {
    return std::abs(c[0] - r) <= tol && std::abs(c[1] - g) <= tol && std::abs(c[2] - b) <= tol;
  };
  EXPECT_TRUE(near(v[0], 0x44, 0x01, 0x54, 4));
  EXPECT_TRUE(near(v[128], 0x21, 0x91, 0x8c, 4));
  EXPECT_TRUE(near(v[255], 0xfd, 0xe7, 0x25, 4));
  const auto& inf = colormap_table(Colormap::Inferno);
  EXPECT_TRUE(near(inf[0], 0, 0, 4, 5));
  EXPECT_TRUE(near(inf[255], 0xfc, 0xff, 0xa4, 5));
  const auto& tu = colormap_table(Colormap::Turbo);
  // Turbo runs dark blue -> green/yellow -> dark red.
  EXPECT_GT(tu[20][2], tu[20][0]);
  EXPECT_GT(tu[128][1], 200);
  EXPECT_GT(tu[250][0], 2 * tu[250][2]);
  EXPECT_EQ(colormap_table(Colormap::Gray)[77][1], 77);
}

TEST(RenderColormap, PerceptualMapsHaveMonotoneLightness) {
  for (Colormap c : {Colormap::Viridis, Colormap::Inferno}) {
    const auto& t = colormap_table(c);
    double prev = lightness(t[0]);
    for (int i = 1; i < 256; ++i) {
      double l = lightness(t[i]);
      EXPECT_GE(l, prev - 0.35) << colormap_name(c) << " at " << i;  // slack: 8-bit rounding
      prev = l;
    }
    EXPECT_GT(lightness(t[255]) - lightness(t[0]), 60) << colormap_name(c);
  }
  // Turbo is a rainbow: dark at both ends, bright in the middle (so it must not be read as monotone).
  const auto& tu = colormap_table(Colormap::Turbo);
  EXPECT_GT(lightness(tu[128]), lightness(tu[0]) + 30);
  EXPECT_GT(lightness(tu[128]), lightness(tu[255]) + 30);
}

TEST(RenderColormap, ApplyColormapScalesClampsAndMarksNan) {
  std::vector<float> v = {0.f, 0.5f, 1.f, -3.f, 7.f, NAN};
  Image img = apply_colormap(v, 3, 2, 0.f, 1.f, Colormap::Viridis);
  ASSERT_EQ(img.width, 3);
  ASSERT_EQ(img.height, 2);
  const auto& t = colormap_table(Colormap::Viridis);
  EXPECT_EQ(img.at(0, 0)[0], t[0][0]);
  EXPECT_EQ(img.at(2, 0)[1], t[255][1]);
  EXPECT_EQ(img.at(0, 1)[2], t[0][2]);    // below vmin clamps low
  EXPECT_EQ(img.at(1, 1)[1], t[255][1]);  // above vmax clamps high
  EXPECT_EQ(img.at(2, 1)[0], 128);        // NaN -> gray
  // Auto range (NaN limits) uses the finite min/max.
  Image autoimg = apply_colormap(v, 3, 2, NAN, NAN, Colormap::Gray);
  EXPECT_EQ(autoimg.at(0, 1)[0], 0);
  EXPECT_EQ(autoimg.at(1, 1)[0], 255);
  EXPECT_THROW(apply_colormap(v, 4, 2, 0, 1), Error);
  EXPECT_EQ(parse_colormap("Inferno"), Colormap::Inferno);
  EXPECT_THROW(parse_colormap("jet"), Error);
}

TEST(RenderColormap, OverlayUpsamplesTokenGridToFrame) {
  Image frame(64, 32, 3, 0);
  std::vector<float> map = {0, 1, 2, 3};  // 4x1 token grid
  Image nn = overlay_heatmap(frame, map, 4, 1, 1.0f, Colormap::Gray, Upsample::Nearest);
  ASSERT_EQ(nn.width, 64);
  ASSERT_EQ(nn.height, 32);
  EXPECT_EQ(nn.at(0, 0)[0], 0);
  EXPECT_EQ(nn.at(15, 31)[0], 0);
  EXPECT_EQ(nn.at(16, 0)[0], 85);
  EXPECT_EQ(nn.at(63, 10)[0], 255);
  Image bl = overlay_heatmap(frame, map, 4, 1, 1.0f, Colormap::Gray, Upsample::Bilinear);
  // Bilinear: a smooth ramp between cell centres (x = 8, 24, 40, 56 in pixel-edge coordinates).
  EXPECT_EQ(bl.at(7, 5)[0], 0);
  EXPECT_LE(bl.at(8, 5)[0], 4);
  EXPECT_GT(bl.at(16, 5)[0], 30);
  EXPECT_LT(bl.at(16, 5)[0], 55);
  EXPECT_EQ(bl.at(63, 5)[0], 255);
  // Opacity 0.5 over a white frame: halfway between white and the colour.
  Image white(8, 8, 3, 255);
  std::vector<float> zero(4, 0.f);
  Image half = overlay_heatmap(white, zero, 2, 2, 0.5f, Colormap::Gray, Upsample::Nearest, 0.f, 1.f);
  EXPECT_NEAR(half.at(3, 3)[0], 128, 1);
  EXPECT_THROW(overlay_heatmap(frame, map, 3, 1, 0.5f), Error);
}

// ---- canvas --------------------------------------------------------------------------------------

TEST(RenderCanvas, TextIsDrawnAndScales) {
  Canvas cv(200, 60);
  cv.text(10, 10, "Layer 12", colors::kBlack, 1);
  int ink1 = count_differing(cv.image(), colors::kWhite);
  EXPECT_GT(ink1, 40);
  Canvas cv2(200, 60);
  cv2.text(10, 10, "Layer 12", colors::kBlack, 2);
  int ink2 = count_differing(cv2.image(), colors::kWhite);
  EXPECT_NEAR(ink2, 4 * ink1, ink1 / 2);  // integer scaling quadruples area
  EXPECT_EQ(Canvas::text_width("Layer 12", 2), 2 * Canvas::text_width("Layer 12", 1));
  // Right alignment ends at x; nothing drawn right of the anchor.
  Canvas cv3(100, 30);
  cv3.text(60, 5, "123", colors::kBlack, 2, Align::Right);
  for (int y = 0; y < 30; ++y)
    for (int x = 61; x < 100; ++x) ASSERT_EQ(cv3.image().at(x, y)[0], 255) << x << "," << y;
  // Non-ASCII bytes must not index outside the font table.
  cv3.text(0, 0, "\xc3\xa9\x01\x7f", colors::kBlack, 1);
  Canvas cv4(40, 120);
  cv4.text_vertical(20, 60, "vertical", colors::kBlack, 2);
  EXPECT_GT(count_differing(cv4.image(), colors::kWhite), 100);
}

TEST(RenderCanvas, LinesAndPolygonsCoverExpectedPixels) {
  Canvas cv(100, 100);
  cv.line(10, 50.5f, 90, 50.5f, colors::kBlack, 3.0f);
  EXPECT_EQ(cv.image().at(50, 50)[0], 0);
  EXPECT_EQ(cv.image().at(50, 30)[0], 255);
  cv.fill_polygon({{20, 60}, {80, 60}, {80, 90}, {20, 90}}, Color{255, 0, 0, 255});
  EXPECT_EQ(cv.image().at(50, 75)[0], 255);
  EXPECT_EQ(cv.image().at(50, 75)[1], 0);
  EXPECT_EQ(cv.image().at(10, 75)[1], 255);
  // Clipping confines drawing.
  cv.set_clip(0, 0, 30, 30);
  cv.fill_rect(0, 0, 100, 100, Color{0, 0, 255, 255});
  cv.reset_clip();
  EXPECT_EQ(cv.image().at(29, 29)[2], 255);
  EXPECT_EQ(cv.image().at(29, 29)[0], 0);
  EXPECT_EQ(cv.image().at(31, 31)[0], 255);
}

TEST(RenderCanvas, NiceTicksAndLabels) {
  auto t = nice_ticks(0, 1, 5);
  ASSERT_FALSE(t.empty());
  EXPECT_DOUBLE_EQ(t.front(), 0);
  EXPECT_DOUBLE_EQ(t.back(), 1);
  EXPECT_EQ(format_tick(0.30000000000000004, 0.1), "0.3");
  EXPECT_EQ(format_tick(-0.0000001, 0.1), "0");
  EXPECT_EQ(format_tick(250, 50), "250");
  EXPECT_EQ(format_tick(75, 25), "75");
  EXPECT_EQ(format_tick(1.5, 0.5), "1.5");
  EXPECT_EQ(format_tick(0.25, 0.25), "0.25");
  auto big = nice_ticks(0, 1000, 5);
  EXPECT_LE(big.size(), 8u);
  EXPECT_FALSE(nice_ticks(3, 3).empty());  // degenerate range still gets ticks
}

TEST(RenderFigures, HeatmapMosaicExample) {
  MosaicSpec spec;
  spec.title = "Cross-attention to \"cat\" (example)";
  spec.col_title = "denoising step";
  spec.row_title = "layer";
  spec.colorbar_label = "attention";
  const int rows = 5, cols = 6, gw = 13, gh = 8;
  for (int r = 0; r < rows; ++r) spec.row_labels.push_back("block " + std::to_string(r * 6));
  for (int c = 0; c < cols; ++c) spec.col_labels.push_back("t=" + std::to_string(999 - c * 166));
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      MosaicTile t;
      t.width = gw, t.height = gh;
      for (int y = 0; y < gh; ++y)
        for (int x = 0; x < gw; ++x) {
          double dx = x - 4 - c * 0.8, dy = y - 3.5;
          t.values.push_back(float(std::exp(-(dx * dx + dy * dy) / (2 + r)) * (0.2 + 0.15 * c)));
        }
      if (r == 2 && c == 5) t.values.clear();  // missing cell
      spec.tiles.push_back(std::move(t));
    }
  Image img = draw_heatmap_mosaic(spec);
  EXPECT_GT(img.width, cols * 96);
  EXPECT_GT(img.height, rows * 59);
  save_png(figure_path("mosaic.png"), img);
  spec.tiles.pop_back();
  EXPECT_THROW(draw_heatmap_mosaic(spec), Error);
}

TEST(RenderFigures, LinePlotExample) {
  LinePlotSpec spec;
  spec.title = "Attention entropy per layer (example)";
  spec.x_label = "layer";
  spec.y_label = "entropy (nats)";
  const char* names[] = {"cond", "uncond", "cfg delta"};
  for (int k = 0; k < 3; ++k) {
    Series s;
    s.name = names[k];
    for (int i = 0; i < 30; ++i) {
      double y = 2.0 + k * 0.6 + std::sin(i * 0.25 + k) * (0.8 - 0.2 * k);
      s.y.push_back(y);
      if (k < 2) s.lo.push_back(y - 0.25 - 0.01 * i), s.hi.push_back(y + 0.25 + 0.01 * i);
    }
    if (k == 2) s.y[12] = NAN;  // gap in the curve
    spec.series.push_back(std::move(s));
  }
  spec.shaded.push_back({4, 9, Color{230, 159, 0, 40}, "early"});
  spec.shaded.push_back({20, 26, Color{0, 114, 178, 35}, "late blocks"});
  Image img = draw_line_plot(spec);
  EXPECT_EQ(img.width, 900);
  EXPECT_EQ(img.height, 520);
  save_png(figure_path("line_plot.png"), img);
  // The first series colour must appear (a line was drawn).
  Color c0 = colors::series(0);
  bool found = false;
  for (int y = 0; y < img.height && !found; ++y)
    for (int x = 0; x < img.width && !found; ++x) {
      const uint8_t* p = img.at(x, y);
      found = p[0] == c0.r && p[1] == c0.g && p[2] == c0.b;
    }
  EXPECT_TRUE(found);
  spec.series[0].lo.pop_back();
  EXPECT_THROW(draw_line_plot(spec), Error);
  LinePlotSpec tiny;
  tiny.width = 60, tiny.height = 40;
  Series one;
  one.name = "a", one.y = {1, 2};
  tiny.series.push_back(one);
  EXPECT_THROW(draw_line_plot(tiny), Error);
}

// ---- video ---------------------------------------------------------------------------------------

namespace {
Image video_frame(int w, int h, int i) {
  Image f(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = f.at(x, y);
      // Left half red, right half blue, a moving green bar: easy to check after lossy coding.
      bool left = x < w / 2;
      p[0] = left ? 220 : 20, p[1] = 30, p[2] = left ? 20 : 220;
      if (std::abs(y - (i * 3) % h) < 2) p[1] = 230;
    }
  return f;
}
}  // namespace

TEST(RenderVideo, WritesH264Yuv420pThatDecodesBack) {
  if (!have_tool("ffprobe") || !have_tool("ffmpeg")) GTEST_SKIP() << "ffprobe/ffmpeg CLI not installed";
  const std::string path = temp_dir() + "/synthetic.mp4";
  std::vector<Image> frames;
  for (int i = 0; i < 16; ++i) frames.push_back(video_frame(64, 64, i));
  write_mp4(path, frames, 8);
  ASSERT_TRUE(fs::exists(path));
  std::string json = run_capture("ffprobe -v error -show_entries stream=codec_name,pix_fmt,width,height,nb_frames -of json '" +
                                 path + "'");
  EXPECT_NE(json.find("\"codec_name\": \"h264\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"pix_fmt\": \"yuv420p\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"width\": 64"), std::string::npos) << json;
  EXPECT_NE(json.find("\"height\": 64"), std::string::npos) << json;
  EXPECT_NE(json.find("\"nb_frames\": \"16\""), std::string::npos) << json;

  const std::string png = temp_dir() + "/first_frame.png";
  ASSERT_EQ(std::system(("ffmpeg -v error -y -i '" + path + "' -frames:v 1 '" + png + "'").c_str()), 0);
  Image back = load_image(png);
  ASSERT_EQ(back.width, 64);
  const Image& ref = frames[0];
  for (auto [x, y] : {std::pair{10, 30}, std::pair{50, 30}, std::pair{20, 50}, std::pair{45, 12}})
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(back.at(x, y)[k], ref.at(x, y)[k], 20) << x << "," << y << " ch " << k;
}

TEST(RenderVideo, OddSizesArePaddedAndErrorsAreReported) {
  if (!have_tool("ffprobe")) GTEST_SKIP() << "ffprobe not installed";
  const std::string path = temp_dir() + "/odd.mp4";
  VideoWriter w;
  w.open(path, 33, 17, 12.5);
  EXPECT_EQ(w.encoded_width(), 34);
  EXPECT_EQ(w.encoded_height(), 18);
  EXPECT_FALSE(w.encoder_name().empty());
  Image rgba(33, 17, 4, 200);
  for (int i = 0; i < 3; ++i) w.write(rgba);
  EXPECT_THROW(w.write(Image(32, 17, 3)), Error);  // size mismatch
  EXPECT_EQ(w.frames_written(), 3);
  w.close();
  w.close();  // idempotent
  std::string json = run_capture("ffprobe -v error -show_entries stream=width,height,nb_frames -of json '" + path + "'");
  EXPECT_NE(json.find("\"width\": 34"), std::string::npos) << json;
  EXPECT_NE(json.find("\"nb_frames\": \"3\""), std::string::npos) << json;

  EXPECT_THROW(w.write(rgba), Error);  // closed
  VideoWriter bad;
  EXPECT_THROW(bad.open(temp_dir() + "/no/such/dir/x.mp4", 64, 64, 10), Error);
  EXPECT_FALSE(bad.is_open());
  EXPECT_THROW(bad.open(temp_dir() + "/x.mp4", 0, 64, 10), Error);
  EXPECT_THROW(write_mp4(temp_dir() + "/none.mp4", {}, 10), Error);
}

TEST(RenderFigures, OverlayMosaicAndColormapStrips) {
  // Heatmaps over video frames, bilinear, inferno; plus a strip per colormap for eyeballing.
  MosaicSpec spec;
  spec.title = "Overlay on frames";
  spec.cmap = Colormap::Inferno;
  spec.upsample = Upsample::Bilinear;
  spec.tile_px = 128;
  spec.row_labels = {"blocks.0.cross_attn", "blocks.29.cross_attn"};
  spec.col_labels = {"step 1", "step 25", "step 50 (final)"};
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) {
      MosaicTile t;
      t.width = 8, t.height = 6;
      for (int i = 0; i < 48; ++i) t.values.push_back(float((i * (r + 1) + c * 7) % 11));
      t.background = gradient_image(160, 120);
      spec.tiles.push_back(std::move(t));
    }
  Image img = draw_heatmap_mosaic(spec);
  save_png(figure_path("mosaic_overlay.png"), img);
  EXPECT_GT(img.width, 3 * 128);

  Canvas cv(560, 150);
  int y = 10;
  for (Colormap c : {Colormap::Viridis, Colormap::Inferno, Colormap::Turbo}) {
    for (int x = 0; x < 400; ++x) cv.fill_rect(10 + x, y, 1, 30, colormap_color(c, x / 399.0f));
    cv.text(420, y + 15, colormap_name(c), colors::kText, 2, Align::Left, VAlign::Middle);
    y += 45;
  }
  save_png(figure_path("colormaps.png"), cv.image());
  EXPECT_GT(count_differing(cv.image(), colors::kWhite), 3 * 400 * 30 - 100);
}

TEST(RenderFigures, LinePlotReversedAxisAndFontScales) {
  // Diffusion timesteps run 1000 -> 0: x_min > x_max flips the axis.
  for (int scale : {1, 3}) {
    LinePlotSpec spec;
    spec.title = "Mean |attention| vs timestep";
    spec.x_label = "timestep";
    spec.y_label = "mean";
    spec.font_scale = scale;
    spec.width = 300 * (scale + 1), spec.height = 180 * (scale + 1);
    spec.x_min = 1000, spec.x_max = 0;
    Series a, b;
    a.name = "layer 0", b.name = "layer 29 (last)";
    for (int t = 1000; t >= 0; t -= 50) {
      a.x.push_back(t), a.y.push_back(1e-3 * std::exp(-t / 400.0));
      b.x.push_back(t), b.y.push_back(1e-3 * (0.2 + t / 2000.0));
    }
    spec.series = {a, b};
    spec.shaded.push_back({1000, 800, Color{120, 120, 120, 30}, "high noise"});
    Image img = draw_line_plot(spec);
    save_png(figure_path("line_plot_reversed_s" + std::to_string(scale) + ".png"), img);
    EXPECT_EQ(img.width, spec.width);
  }
}
