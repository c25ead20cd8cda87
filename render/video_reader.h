// Reading source videos (for `focalscope edit`): a video file through the FFmpeg libraries, or a directory of
// PNG/JPEG frames. Inputs are user-supplied and may be hostile or broken, so every read is bounded (frame count,
// frame size, total bytes, probe size/time) and every failure is one Error("<path>: <problem>") line.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "render/image.h"

namespace focalscope::render {

struct VideoReadLimits {
  int max_frames = 4096;                    // never return more frames than this (reading stops there)
  int want_frames = -1;                     // stop after this many frames (-1: all, up to max_frames)
  int64_t max_pixels = 8192LL * 8192;       // a frame larger than this (width*height) is refused
  int64_t max_total_bytes = 4LL << 30;      // the returned RGB frames may not need more than this
};

struct VideoInfo {
  int width = 0, height = 0;
  double fps = 0;        // frame rate the container declares; 0 when unknown (always 0 for a directory)
  int frames_read = 0;
  // Non-empty when the file is damaged after its first frames (e.g. cut off): the frames returned are the
  // intact, contiguous ones before the damage, and this one line (naming the file) says what happened.
  // Cuts are detected from demuxer/decoder errors and, for indexed containers (MP4/MOV), from the index; a
  // container without an index (MPEG-TS, MKV cut before its cues) that is cut cleanly just reads as shorter.
  std::string warning;
};

// Returns RGB (3-channel) frames, all the same size, in display order.
//  - A file: any container/codec this FFmpeg build decodes (one video stream; audio ignored). Frame sizes are
//    as encoded, e.g. VideoWriter's padded even size.
//  - A directory: its *.png / *.jpg / *.jpeg files (other and hidden files ignored) in natural name order
//    (frame_2 before frame_10); all must be the same size.
// Throws Error("<path>: ...") for a missing path, a file that is not a video, one with no decodable frame,
// an empty directory, mixed frame sizes, frames over max_pixels, or more than max_total_bytes of frames.
// A file damaged after some intact frames returns those frames and sets info->warning instead.
std::vector<Image> read_video(const std::string& path, const VideoReadLimits& lim = {}, VideoInfo* info = nullptr);

}  // namespace focalscope::render
