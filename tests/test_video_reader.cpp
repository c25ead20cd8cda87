// render/video_reader + render/mask_io: reading source videos, frame directories and edit masks, including the
// broken and hostile inputs a user can hand `focalscope edit` (each must give one Error line naming the path).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "render/image.h"
#include "render/mask_io.h"
#include "render/video_reader.h"
#ifdef FOCALSCOPE_WITH_VIDEO
#include "render/video_writer.h"
#endif

using namespace focalscope;
using namespace focalscope::render;
namespace fs = std::filesystem;

namespace {

fs::path scratch_path() {
  return fs::temp_directory_path() / ("focalscope_test_video_reader_" + std::to_string(::getpid()));
}

std::string temp_dir() {
  static const std::string dir = [] {
    fs::remove_all(scratch_path());
    fs::create_directories(scratch_path());
    return scratch_path().string();
  }();
  return dir;
}

// Removes the scratch directory when the test binary exits (recomputes the path: temp_dir()'s static may
// already be destroyed by then).
const struct TempCleanup {
  ~TempCleanup() {
    std::error_code ec;
    fs::remove_all(scratch_path(), ec);
  }
} temp_cleanup;

std::string fresh_dir(const std::string& name) {
  const std::string d = temp_dir() + "/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The Error's message, or "" when nothing (or something other than Error) was thrown.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (...) {
    return "<not a focalscope::Error>";
  }
  return "";
}

#define EXPECT_ONE_LINE_ERROR_NAMING(msg, path)                         \
  do {                                                                  \
    const std::string m_ = (msg);                                       \
    EXPECT_NE(m_.find(path), std::string::npos) << "message: " << m_;   \
    EXPECT_EQ(m_.find('\n'), std::string::npos) << "message: " << m_;  \
  } while (0)

// A bright 16x16 square moving 3 px per frame over 8x8 blocks of random gray that change every frame: each frame
// is distinct (so a misplaced frame is caught) and costs ~1 KB, so cutting the file in half cuts the video
// stream, not just its header.
Image square_frame(int i, int size = 64) {
  Image f(size, size, 3, 0);
  uint32_t s = 2654435761u * static_cast<uint32_t>(i + 1);
  for (int by = 0; by < size; by += 8)
    for (int bx = 0; bx < size; bx += 8) {
      s = s * 1664525u + 1013904223u;
      const uint8_t level = static_cast<uint8_t>(20 + (s >> 24) % 90);  // dark: background of the mask test
      for (int y = by; y < by + 8; ++y) std::fill_n(f.at(bx, y), 24, level);
    }
  for (int y = 8; y < 24; ++y)
    for (int x = 4 + 3 * i; x < 20 + 3 * i && x < size; ++x) {
      uint8_t* p = f.at(x, y);
      p[0] = 250, p[1] = 230, p[2] = 60;
    }
  return f;
}

std::vector<Image> square_frames(int n) {
  std::vector<Image> v;
  for (int i = 0; i < n; ++i) v.push_back(square_frame(i));
  return v;
}

// 13-frame 64x64 H.264 MP4 shared by the file tests (written once).
const std::string& square_mp4() {
  static const std::string path = [] {
    const std::string p = temp_dir() + "/square.mp4";
#ifdef FOCALSCOPE_WITH_VIDEO
    // Default (medium) preset on purpose: it uses B-frames, so display order differs from file order.
    write_mp4(p, square_frames(13), 12.0);
#endif
    return p;
  }();
  return path;
}

#ifdef FOCALSCOPE_WITH_VIDEO
#define REQUIRE_VIDEO() (void)0
#else
#define REQUIRE_VIDEO() GTEST_SKIP() << "built without FFmpeg (FOCALSCOPE_VIDEO=OFF)"
#endif

// Mean absolute difference per channel value: ~2 after H.264 at CRF 18, ~25 between two different frames.
double mean_abs_diff(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) return 1e9;
  double sum = 0;
  for (size_t k = 0; k < a.pixels.size(); ++k) sum += std::abs(int(a.pixels[k]) - int(b.pixels[k]));
  return sum / static_cast<double>(a.pixels.size());
}

void expect_close_to(const Image& got, const Image& want, const std::string& what) {
  ASSERT_EQ(got.width, want.width) << what;
  ASSERT_EQ(got.height, want.height) << what;
  ASSERT_EQ(got.channels, 3) << what;
  EXPECT_LT(mean_abs_diff(got, want), 6.0) << what;
}

}  // namespace

TEST(VideoReader, ReadsBackAnMp4) {
  REQUIRE_VIDEO();
  VideoInfo info;
  const std::vector<Image> frames = read_video(square_mp4(), {}, &info);
  ASSERT_EQ(frames.size(), 13u);
  EXPECT_EQ(info.frames_read, 13);
  EXPECT_EQ(info.width, 64);
  EXPECT_EQ(info.height, 64);
  EXPECT_NEAR(info.fps, 12.0, 1e-6);
  EXPECT_TRUE(info.warning.empty()) << info.warning;
  // Every frame in display order: frame i's square starts at x = 4 + 3i.
  for (int i = 0; i < 13; ++i) {
    expect_close_to(frames[i], square_frame(i), "frame " + std::to_string(i));
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(frames[i].at(12 + 3 * i, 16)[k], square_frame(i).at(12 + 3 * i, 16)[k], 12);
  }
}

TEST(VideoReader, WantFramesAndMaxFramesStopEarly) {
  REQUIRE_VIDEO();
  VideoReadLimits lim;
  lim.want_frames = 5;
  VideoInfo info;
  std::vector<Image> frames = read_video(square_mp4(), lim, &info);
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(info.frames_read, 5);
  EXPECT_TRUE(info.warning.empty()) << info.warning;  // stopping early on request is not damage
  for (int i = 0; i < 5; ++i) expect_close_to(frames[i], square_frame(i), "frame " + std::to_string(i));

  lim = {};
  lim.max_frames = 3;
  EXPECT_EQ(read_video(square_mp4(), lim).size(), 3u);
  lim.want_frames = 100;  // more than exist: all of them, no warning
  lim.max_frames = 4096;
  frames = read_video(square_mp4(), lim, &info);
  EXPECT_EQ(frames.size(), 13u);
  EXPECT_TRUE(info.warning.empty()) << info.warning;
}

TEST(VideoReader, LimitsRefuseLargeFramesAndMemory) {
  REQUIRE_VIDEO();
  VideoReadLimits lim;
  lim.max_pixels = 32 * 32;
  std::string msg = error_of([&] { read_video(square_mp4(), lim); });
  EXPECT_ONE_LINE_ERROR_NAMING(msg, square_mp4());
  EXPECT_NE(msg.find("64x64"), std::string::npos) << msg;

  lim = {};
  lim.max_total_bytes = 64 * 64 * 3 * 4;  // room for 4 frames only
  msg = error_of([&] { read_video(square_mp4(), lim); });
  EXPECT_ONE_LINE_ERROR_NAMING(msg, square_mp4());
  EXPECT_NE(msg.find("memory limit"), std::string::npos) << msg;
  lim.want_frames = 4;  // asking for what fits works
  EXPECT_EQ(read_video(square_mp4(), lim).size(), 4u);

  lim = {};
  lim.want_frames = 0;
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(square_mp4(), lim); }), square_mp4());
}

TEST(VideoReader, DirectoryOfFramesInNaturalOrder) {
  const std::string dir = fresh_dir("frames");
  // Written out of order, with names where plain string order would be wrong (10 < 2, 09 < 9).
  const std::vector<std::pair<std::string, int>> files = {
      {"frame_10.png", 10}, {"frame_2.png", 2}, {"frame_1.png", 1}, {"frame_09.jpg", 9}, {"frame_11.PNG", 11}};
  for (auto& [name, v] : files) {
    Image img(24, 16, 3, static_cast<uint8_t>(v * 20));
    if (name.find(".jpg") != std::string::npos) {
      save_png(dir + "/tmp.png", img);  // stb writes no JPEG here; a PNG named .jpg is still decoded by content
      fs::rename(dir + "/tmp.png", dir + "/" + name);
    } else {
      save_png(dir + "/" + name, img);
    }
  }
  write_bytes(dir + "/notes.txt", "not a frame");
  write_bytes(dir + "/._frame_0.png", "macOS resource fork, not a PNG");
  fs::create_directories(dir + "/frame_5.png");  // a directory with an image name is not a frame

  VideoInfo info;
  std::vector<Image> frames = read_video(dir, {}, &info);
  ASSERT_EQ(frames.size(), 5u);
  const int order[] = {1, 2, 9, 10, 11};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(frames[i].width, 24);
    EXPECT_EQ(frames[i].height, 16);
    EXPECT_EQ(frames[i].channels, 3);
    EXPECT_EQ(frames[i].pixels[0], order[i] * 20) << "frame " << i;
  }
  EXPECT_EQ(info.width, 24);
  EXPECT_EQ(info.height, 16);
  EXPECT_EQ(info.fps, 0);  // a directory has no timing
  EXPECT_EQ(info.frames_read, 5);

  VideoReadLimits lim;
  lim.want_frames = 2;
  frames = read_video(dir, lim);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1].pixels[0], 2 * 20);
}

TEST(VideoReader, BrokenInputsGiveOneLineErrorsNamingThePath) {
  // Missing file.
  const std::string missing = temp_dir() + "/no_such_video.mp4";
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(missing); }), missing);

  // Empty directory, and one with only non-image files.
  const std::string empty = fresh_dir("empty_dir");
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(empty); }), empty);
  const std::string no_images = fresh_dir("no_images");
  write_bytes(no_images + "/readme.txt", "hello");
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(no_images); }), no_images);

  // Mixed frame sizes: the message names the directory and the odd frame.
  const std::string mixed = fresh_dir("mixed");
  save_png(mixed + "/f1.png", Image(32, 32, 3, 10));
  save_png(mixed + "/f2.png", Image(32, 32, 3, 10));
  save_png(mixed + "/f3.png", Image(16, 32, 3, 10));
  std::string msg = error_of([&] { read_video(mixed); });
  EXPECT_ONE_LINE_ERROR_NAMING(msg, mixed);
  EXPECT_NE(msg.find("f3.png"), std::string::npos) << msg;

  // A corrupt PNG among good frames.
  const std::string corrupt = fresh_dir("corrupt_png");
  save_png(corrupt + "/a1.png", Image(8, 8, 3, 10));
  write_bytes(corrupt + "/a2.png", read_bytes(corrupt + "/a1.png").substr(0, 20));
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(corrupt); }), corrupt);

  // A PNG whose header claims 16000 x 16000 (1 GB of RGBA): refused from the header, nothing allocated.
  const std::string huge = fresh_dir("huge_png");
  save_png(huge + "/a1.png", Image(8, 8, 3, 10));
  std::string png = read_bytes(huge + "/a1.png");
  ASSERT_EQ(png.substr(12, 4), "IHDR");
  for (int k : {16, 20}) png[k] = 0, png[k + 1] = 0, png[k + 2] = 0x3E, png[k + 3] = char(0x80);  // 16000
  write_bytes(huge + "/a1.png", png);
  msg = error_of([&] { read_video(huge); });
  EXPECT_ONE_LINE_ERROR_NAMING(msg, huge);
  EXPECT_NE(msg.find("16000x16000"), std::string::npos) << msg;

  // Devices and pipes never reach a decoder (/dev/zero would never end).
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video("/dev/zero"); }), "/dev/zero");
  const std::string fifo = temp_dir() + "/pipe.png";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(fifo); }), fifo);
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_mask(fifo); }), fifo);

  // Zero-byte file.
  const std::string zero = temp_dir() + "/zero.mp4";
  write_bytes(zero, "");
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(zero); }), zero);
}

TEST(VideoReader, NonVideoFilesAreRefused) {
  REQUIRE_VIDEO();
  // A text file renamed .mp4.
  const std::string text = temp_dir() + "/notes.mp4";
  std::string lines;
  for (int i = 0; i < 200; ++i) lines += "line " + std::to_string(i) + ": this is not a video at all\n";
  write_bytes(text, lines);
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(text); }), text);
  // The same text as .txt: FFmpeg's "tty" demuxer would render it as a video of text; refused too.
  const std::string txt = temp_dir() + "/notes.txt";
  write_bytes(txt, lines);
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(txt); }), txt);

  // Pseudo-random bytes (fixed seed).
  std::string noise(200000, '\0');
  uint32_t s = 12345;
  for (char& c : noise) s = s * 1664525u + 1013904223u, c = static_cast<char>(s >> 24);
  const std::string garbage = temp_dir() + "/noise.mp4";
  write_bytes(garbage, noise);
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(garbage); }), garbage);

  // An HLS playlist pointing elsewhere: would make FFmpeg open other files; refused.
  const std::string playlist = temp_dir() + "/list.m3u8";
  write_bytes(playlist, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n" + square_mp4() + "\n#EXT-X-ENDLIST\n");
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(playlist); }), playlist);
}

TEST(VideoReader, TruncatedMp4YieldsTheIntactFramesBeforeTheCut) {
  REQUIRE_VIDEO();
  const std::string full = read_bytes(square_mp4());
  const std::string half = temp_dir() + "/half.mp4";
  write_bytes(half, full.substr(0, full.size() / 2));
  VideoInfo info;
  std::vector<Image> frames;
  ASSERT_EQ(error_of([&] { frames = read_video(half, {}, &info); }), "");
  ASSERT_GE(frames.size(), 1u);
  EXPECT_LT(frames.size(), 13u);
  EXPECT_EQ(info.frames_read, static_cast<int>(frames.size()));
  EXPECT_ONE_LINE_ERROR_NAMING(info.warning, half);
  // What comes back is the contiguous, undamaged start of the video.
  for (size_t i = 0; i < frames.size(); ++i) expect_close_to(frames[i], square_frame(int(i)), "frame " + std::to_string(i));

  // Cut inside the header (moov): nothing decodable, an error.
  const std::string stub = temp_dir() + "/stub.mp4";
  write_bytes(stub, full.substr(0, 200));
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_video(stub); }), stub);
}

TEST(VideoReader, EveryCutPointGivesAnErrorOrAnIntactPrefix) {
  REQUIRE_VIDEO();
  const std::string full = read_bytes(square_mp4());
  const std::string cut = temp_dir() + "/cut.mp4";
  int with_frames = 0;
  for (int k = 1; k < 24; ++k) {
    const size_t n = full.size() * k / 24;
    write_bytes(cut, full.substr(0, n));
    VideoInfo info;
    std::vector<Image> frames;
    const std::string err = error_of([&] { frames = read_video(cut, {}, &info); });
    if (!err.empty()) {
      EXPECT_ONE_LINE_ERROR_NAMING(err, cut);
      continue;
    }
    ++with_frames;
    EXPECT_ONE_LINE_ERROR_NAMING(info.warning, cut);
    ASSERT_LT(frames.size(), 13u) << "cut at " << n;
    for (size_t i = 0; i < frames.size(); ++i)
      expect_close_to(frames[i], square_frame(int(i)), "cut at " + std::to_string(n) + ", frame " + std::to_string(i));
  }
  EXPECT_GE(with_frames, 6);  // cuts in the second half of the file keep the frames before them
}

TEST(VideoReader, OverwrittenBytesNeverCrash) {
  REQUIRE_VIDEO();
  const std::string full = read_bytes(square_mp4());
  const std::string bad = temp_dir() + "/scribbled.mp4";
  uint32_t s = 777;
  for (int k = 0; k < 40; ++k) {
    std::string bytes = full;
    const size_t at = bytes.size() * k / 40;
    for (size_t j = at; j < std::min(bytes.size(), at + 24); ++j) s = s * 1664525u + 1013904223u, bytes[j] = char(s >> 24);
    write_bytes(bad, bytes);
    std::vector<Image> frames;
    const std::string err = error_of([&] { frames = read_video(bad); });
    // Damage the decoder cannot detect may decode to wrong pixels; what matters is no crash, no hang, and a
    // well-formed result: an Error naming the file, or equal-sized RGB frames.
    if (!err.empty()) {
      EXPECT_ONE_LINE_ERROR_NAMING(err, bad);
    } else {
      ASSERT_FALSE(frames.empty());
      for (const Image& f : frames) EXPECT_EQ(f.pixels.size(), size_t(f.width) * f.height * 3);
    }
  }
}

TEST(Mask, StaticMaskFromRgbGrayAndRgbaImages) {
  const std::string dir = fresh_dir("masks");
  // Left half foreground in each layout.
  Image rgb(8, 4, 3, 0), gray(8, 4, 1, 10), rgba(8, 4, 4, 0), rgba_luma(8, 4, 4, 255);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      std::fill_n(rgb.at(x, y), 3, 255);
      gray.at(x, y)[0] = 200;
      rgba.at(x, y)[3] = 255;  // RGB all black, alpha carries the mask
      rgba_luma.at(x, y)[0] = rgba_luma.at(x, y)[1] = rgba_luma.at(x, y)[2] = 250;
    }
  // RGBA whose RGB varies: luma decides even though alpha is opaque everywhere (right half dark).
  for (int y = 0; y < 4; ++y)
    for (int x = 4; x < 8; ++x) rgba_luma.at(x, y)[0] = rgba_luma.at(x, y)[1] = rgba_luma.at(x, y)[2] = 20;
  save_png(dir + "/rgb.png", rgb);
  save_png(dir + "/gray.png", gray);
  save_png(dir + "/rgba.png", rgba);
  save_png(dir + "/rgba_luma.png", rgba_luma);
  for (const char* name : {"rgb.png", "gray.png", "rgba.png", "rgba_luma.png"}) {
    const Mask m = read_mask(dir + "/" + name);
    ASSERT_EQ(m.width, 8) << name;
    ASSERT_EQ(m.height, 4) << name;
    ASSERT_TRUE(m.is_static()) << name;
    ASSERT_EQ(m.data.size(), 32u) << name;
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 8; ++x) EXPECT_EQ(m.data[y * 8 + x], x < 4 ? 1 : 0) << name << " at " << x << "," << y;
  }
  // Threshold: 127 is background, 128 foreground.
  Image edge(2, 1, 1, 127);
  edge.at(1, 0)[0] = 128;
  save_png(dir + "/edge.png", edge);
  const Mask e = read_mask(dir + "/edge.png");
  EXPECT_EQ(e.data, (std::vector<uint8_t>{0, 1}));

  const std::string missing = dir + "/nope.png";
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_mask(missing); }), missing);
  const std::string bad = dir + "/bad.png";
  write_bytes(bad, "not a png");
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_mask(bad); }), bad);
}

TEST(Mask, PerFrameMaskFromDirectoryAndVideo) {
  const std::string dir = fresh_dir("mask_frames");
  for (int f = 0; f < 3; ++f) {
    Image img(6, 2, 1, 0);
    img.at(f * 2, 0)[0] = 255;  // one foreground pixel per frame, moving right
    save_png(dir + "/m" + std::to_string(f + 1) + ".png", img);
  }
  const Mask m = read_mask(dir);
  ASSERT_EQ(m.frames, 3);
  ASSERT_EQ(m.width, 6);
  ASSERT_EQ(m.height, 2);
  EXPECT_FALSE(m.is_static());
  for (int f = 0; f < 3; ++f)
    for (int i = 0; i < 12; ++i) EXPECT_EQ(m.frame(f)[i], i == f * 2 ? 1 : 0) << "frame " << f << " pixel " << i;

#ifdef FOCALSCOPE_WITH_VIDEO
  // The square video as a mask: the bright square is foreground, the dark background is not.
  const Mask v = read_mask(square_mp4());
  ASSERT_EQ(v.frames, 13);
  ASSERT_EQ(v.width, 64);
  for (int f = 0; f < 13; ++f) {
    EXPECT_EQ(v.frame(f)[16 * 64 + 10 + 3 * f], 1) << "frame " << f;
    EXPECT_EQ(v.frame(f)[50 * 64 + 50], 0) << "frame " << f;
  }
  // A damaged mask video is an error, not a shorter mask.
  const std::string full = read_bytes(square_mp4());
  const std::string half = temp_dir() + "/half_mask.mp4";
  write_bytes(half, full.substr(0, full.size() / 2));
  EXPECT_ONE_LINE_ERROR_NAMING(error_of([&] { read_mask(half); }), half);
#endif
}

TEST(Mask, ResizeNearestKeepsItBinary) {
  Mask m;
  m.width = 2, m.height = 2, m.frames = 2;
  m.data = {1, 0, 0, 1,   // frame 0: diagonal
            0, 0, 1, 1};  // frame 1: bottom row
  const Mask up = resize_nearest(m, 4, 4);
  ASSERT_EQ(up.frames, 2);
  ASSERT_EQ(up.data.size(), 32u);
  const std::vector<uint8_t> f0 = {1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1};
  const std::vector<uint8_t> f1 = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_EQ(std::vector<uint8_t>(up.frame(0), up.frame(0) + 16), f0);
  EXPECT_EQ(std::vector<uint8_t>(up.frame(1), up.frame(1) + 16), f1);
  const Mask down = resize_nearest(up, 2, 2);
  EXPECT_EQ(down.data, m.data);
  const Mask wide = resize_nearest(m, 3, 1);  // non-integer scale: centres map to cols 0,1,1 of row 1
  EXPECT_EQ(wide.data, (std::vector<uint8_t>{0, 1, 1, 1, 1, 1}));

  EXPECT_THROW(resize_nearest(m, 0, 4), Error);
  Mask broken = m;
  broken.data.pop_back();
  EXPECT_THROW(resize_nearest(broken, 4, 4), Error);
}
