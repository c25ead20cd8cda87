// H.264 (yuv420p) video export through the FFmpeg libraries.
//
// Frame size: yuv420p subsamples chroma 2x2, so H.264 needs even dimensions. Odd widths/heights
// are PADDED up by one pixel by repeating the last column/row (no black seam, nothing cropped);
// encoded_width()/encoded_height() report the padded size.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "render/image.h"

namespace focalscope::render {

struct VideoOptions {
  int crf = 18;                     // libx264 quality: 18 is visually lossless for heatmaps
  std::string preset = "medium";    // libx264 speed/size trade-off
  int64_t bit_rate = 4'000'000;     // used only by encoders without CRF (non-libx264 fallbacks)
};

class VideoWriter {
 public:
  VideoWriter();
  ~VideoWriter();  // closes (flushes) if still open; never throws
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;
  VideoWriter(VideoWriter&&) noexcept;
  VideoWriter& operator=(VideoWriter&&) noexcept;

  // Creates the file (container from the extension, MP4 if unknown) and an H.264 encoder:
  // libx264 if available, else any other H.264 encoder that opens; else throws Error.
  // width/height are the size of the frames you will write; fps > 0 (fractional allowed, e.g. 23.976).
  void open(const std::string& path, int width, int height, double fps, const VideoOptions& opts = {});
  // Appends one frame: 1, 3 or 4 channels (alpha ignored), exactly width x height as opened.
  void write(const Image& frame);
  // Flushes the encoder and finalises the file. Safe to call twice.
  void close();

  bool is_open() const;
  int frames_written() const;
  int encoded_width() const;
  int encoded_height() const;
  const std::string& encoder_name() const;  // e.g. "libx264"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience: writes all frames (all the same size) to path. Throws Error if frames is empty.
void write_mp4(const std::string& path, const std::vector<Image>& frames, double fps, const VideoOptions& opts = {});

}  // namespace focalscope::render
