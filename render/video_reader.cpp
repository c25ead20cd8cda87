#include "render/video_reader.h"

#include <stb_image.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "engine/core/error.h"

#ifdef FOCALSCOPE_WITH_VIDEO
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}
#include <chrono>
#endif

namespace focalscope::render {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void raise(const std::string& where, const std::string& what) { throw Error(where + ": " + what); }

std::string size_str(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

// Every returned frame passes through here, so size and memory limits hold for files and directories alike,
// and are checked BEFORE the frame's pixels are allocated.
struct FrameBudget {
  const std::string& path;
  const VideoReadLimits& lim;
  int64_t used = 0;

  void admit(int w, int h, int index) {
    if (w <= 0 || h <= 0) raise(path, "frame " + std::to_string(index) + " has invalid size " + size_str(w, h));
    const int64_t pixels = int64_t(w) * h;
    if (pixels > lim.max_pixels)
      raise(path, "frames are " + size_str(w, h) + " (" + std::to_string(pixels) + " pixels), over the limit of " +
                      std::to_string(lim.max_pixels) + " pixels");
    const int64_t bytes = pixels * 3;
    if (used + bytes > lim.max_total_bytes)
      raise(path, std::to_string(index + 1) + " frames of " + size_str(w, h) + " would exceed the memory limit of " +
                      std::to_string(lim.max_total_bytes >> 20) + " MiB; read fewer frames (want_frames)");
    used += bytes;
  }
};

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// Natural order: digit runs compare by value, so frame_2 < frame_10 and frame_002 == frame_2 by number;
// names equal under that rule fall back to plain byte order so the order is total (and deterministic).
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      while (i < a.size() && a[i] == '0') ++i;
      while (j < b.size() && b[j] == '0') ++j;
      size_t ie = i, je = j;
      while (ie < a.size() && is_digit(a[ie])) ++ie;
      while (je < b.size() && is_digit(b[je])) ++je;
      // Numbers of any length: more significant digits = larger; same length compares digit by digit.
      if (ie - i != je - j) return ie - i < je - j;
      if (int c = a.compare(i, ie - i, b, j, je - j); c != 0) return c < 0;
      i = ie, j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i, ++j;
    }
  }
  if ((i == a.size()) != (j == b.size())) return i == a.size();
  return a < b;
}

bool has_frame_extension(const std::string& name) {
  std::string ext = fs::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

std::vector<Image> read_frame_directory(const std::string& dir, const VideoReadLimits& lim, int cap) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // Hidden files are skipped: macOS copies leave "._frame_001.png" resource forks that are not images.
    if (name.empty() || name[0] == '.' || !has_frame_extension(name)) continue;
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) names.push_back(name);
  }
  if (ec) raise(dir, "cannot list the directory (" + ec.message() + ")");
  if (names.empty()) raise(dir, "directory holds no PNG/JPEG frames (*.png, *.jpg, *.jpeg)");
  std::sort(names.begin(), names.end(), natural_less);

  FrameBudget budget{dir, lim};
  std::vector<Image> frames;
  int width = 0, height = 0;
  const size_t n = std::min(names.size(), static_cast<size_t>(cap));
  for (size_t i = 0; i < n; ++i) {
    const std::string file = (fs::path(dir) / names[i]).string();
    // Header first: a hostile PNG can declare a huge size, and stb would try to allocate it.
    int w = 0, h = 0, comp = 0;
    if (!stbi_info(file.c_str(), &w, &h, &comp)) {
      const char* why = stbi_failure_reason();
      raise(file, std::string("cannot read image header (") + (why ? why : "unknown reason") + ")");
    }
    if (i == 0) {
      width = w, height = h;
    } else if (w != width || h != height) {
      raise(dir, names[i] + " is " + size_str(w, h) + " but the first frame " + names[0] + " is " +
                     size_str(width, height) + "; all frames must be the same size");
    }
    budget.admit(w, h, static_cast<int>(i));
    Image img = load_image(file, 3);
    if (img.width != width || img.height != height)  // header and pixels disagree: damaged file
      raise(file, "decoded size " + size_str(img.width, img.height) + " differs from its header " + size_str(w, h));
    frames.push_back(std::move(img));
  }
  return frames;
}

#ifdef FOCALSCOPE_WITH_VIDEO

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

// Damaged input makes FFmpeg log its own lines ("moov atom not found", "Invalid NAL unit size") on top of the
// one-line Error/warning we report, so reading runs silent unless the host chose a level itself
// (INFO is FFmpeg's default; WARNING is what VideoWriter sets). Silent, not FATAL: some decoders log
// ordinary bad input at FATAL (mjpeg: "No JPEG data found in image").
struct QuietLogs {
  int saved = av_log_get_level();
  QuietLogs() {
    if (saved == AV_LOG_INFO || saved == AV_LOG_WARNING) av_log_set_level(AV_LOG_QUIET);
  }
  ~QuietLogs() { av_log_set_level(saved); }
};

// avformat_open_input/find_stream_info on garbage can spend a long time probing; the interrupt callback
// turns that into an error after a fixed wall-clock budget.
struct Deadline {
  std::chrono::steady_clock::time_point until = std::chrono::steady_clock::time_point::max();
  static int expired(void* self) {
    return std::chrono::steady_clock::now() > static_cast<Deadline*>(self)->until ? 1 : 0;
  }
};
constexpr int kProbeSeconds = 30;
constexpr int64_t kProbeBytes = 16 << 20;  // FFmpeg's default is 5 MB; a little more finds streams in odd files
// Demuxers that would read OTHER files named inside the input (playlists) or render text as video.
constexpr const char* kRefusedFormats[] = {"hls", "dash", "concat", "tty"};
// Bounds on work per returned frame: a crafted index can declare billions of tiny samples that never decode.
constexpr int kMaxPacketsPerFrame = 1024;
constexpr int kMaxBadPacketsBeforeFirstFrame = 64;

struct FFmpegDecoder {
  const std::string& path;
  FrameBudget budget;
  Deadline deadline;
  AVFormatContext* fmt = nullptr;
  AVCodecContext* dec = nullptr;
  AVPacket* pkt = nullptr;
  AVFrame* frame = nullptr;
  SwsContext* sws = nullptr;
  uint8_t* rgb[4] = {nullptr};  // aligned RGB24 staging buffer for swscale
  int rgb_stride[4] = {0};
  AVStream* stream = nullptr;

  int width = 0, height = 0;
  std::vector<Image> frames;
  std::vector<int64_t> pts;  // per returned frame, for finding gaps after damage
  std::string damage;        // first problem that ended reading early (empty: read to the end or to the cap)

  FFmpegDecoder(const std::string& p, const VideoReadLimits& lim) : path(p), budget{p, lim} {}
  ~FFmpegDecoder() {
    av_freep(&rgb[0]);
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
  }

  void open(const VideoReadLimits& lim, double& fps) {
    fmt = avformat_alloc_context();
    if (!fmt) raise(path, "out of memory");
    deadline.until = std::chrono::steady_clock::now() + std::chrono::seconds(kProbeSeconds);
    fmt->interrupt_callback = {&Deadline::expired, &deadline};
    fmt->probesize = kProbeBytes;
    fmt->max_analyze_duration = 10 * int64_t(AV_TIME_BASE);
    // "file:" so names like "http://x" or "concat:a|b" stay file names; the whitelist keeps every nested
    // open (e.g. a demuxer following a reference) on local files: no network access from a video.
    AVDictionary* opts = nullptr;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    int rc = avformat_open_input(&fmt, ("file:" + path).c_str(), nullptr, &opts);  // frees fmt on failure
    av_dict_free(&opts);
    if (rc == AVERROR_EXIT) raise(path, "gave up probing the file after " + std::to_string(kProbeSeconds) + " s");
    if (rc < 0) raise(path, "not a readable video (" + av_error(rc) + ")");
    const std::string format = fmt->iformat->name;
    for (const char* refused : kRefusedFormats)
      if (format == refused) raise(path, "is a '" + format + "' file (a playlist or text), not a video");
    // Probing decodes a few frames with decoders of its own: give them the same frame-size cap.
    std::vector<AVDictionary*> probe_opts(fmt->nb_streams, nullptr);
    for (AVDictionary*& o : probe_opts) av_dict_set_int(&o, "max_pixels", lim.max_pixels, 0);
    rc = avformat_find_stream_info(fmt, probe_opts.data());
    for (AVDictionary*& o : probe_opts) av_dict_free(&o);
    if (rc == AVERROR_EXIT) raise(path, "gave up probing the file after " + std::to_string(kProbeSeconds) + " s");
    if (rc < 0) raise(path, "cannot read stream information (" + av_error(rc) + ")");
    deadline.until = std::chrono::steady_clock::time_point::max();  // decoding is bounded per frame instead

    const int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (si < 0) raise(path, "has no video stream (container: " + format + ")");
    stream = fmt->streams[si];
    if (stream->disposition & AV_DISPOSITION_ATTACHED_PIC) raise(path, "has no video stream, only a cover picture");
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
      if (static_cast<int>(i) != si) fmt->streams[i]->discard = AVDISCARD_ALL;  // demuxer skips audio etc.

    const AVCodecParameters* par = stream->codecpar;
    if (int64_t(par->width) * par->height > lim.max_pixels)
      raise(path, "declares " + size_str(par->width, par->height) + " frames, over the limit of " +
                      std::to_string(lim.max_pixels) + " pixels");
    const AVCodec* codec = avcodec_find_decoder(par->codec_id);
    if (!codec) raise(path, std::string("no decoder for its video codec '") + avcodec_get_name(par->codec_id) + "'");
    dec = avcodec_alloc_context3(codec);
    if (!dec) raise(path, "out of memory");
    rc = avcodec_parameters_to_context(dec, par);
    if (rc < 0) raise(path, "bad codec parameters (" + av_error(rc) + ")");
    dec->max_pixels = lim.max_pixels;  // the decoder itself refuses to allocate larger frames
    rc = avcodec_open2(dec, codec, nullptr);
    if (rc < 0) raise(path, std::string("cannot open the ") + codec->name + " decoder (" + av_error(rc) + ")");
    pkt = av_packet_alloc();
    frame = av_frame_alloc();
    if (!pkt || !frame) raise(path, "out of memory");

    AVRational r = stream->avg_frame_rate;
    if (r.num <= 0 || r.den <= 0) r = stream->r_frame_rate;
    fps = r.num > 0 && r.den > 0 ? av_q2d(r) : 0;
    if (!std::isfinite(fps) || fps > 1000) fps = 0;  // nonsense from a broken header: report unknown
  }

  // Converts the decoded frame to RGB and appends it.
  void take_frame() {
    const int index = static_cast<int>(frames.size());
    if (index == 0) {
      width = frame->width, height = frame->height;
    } else if (frame->width != width || frame->height != height) {
      raise(path, "frame " + std::to_string(index) + " changes size from " + size_str(width, height) + " to " +
                      size_str(frame->width, frame->height) + "; videos that change size are not supported");
    }
    budget.admit(width, height, index);
    const auto src_fmt = static_cast<AVPixelFormat>(frame->format);
    sws = sws_getCachedContext(sws, width, height, src_fmt, width, height, AV_PIX_FMT_RGB24,
                               SWS_BILINEAR | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
    if (!sws) raise(path, std::string("cannot convert pixel format ") + av_get_pix_fmt_name(src_fmt) + " to RGB");
    // YUV -> RGB with the matrix and range the stream is tagged with (BT.601 when untagged, as players do).
    // Not for RGB/gray sources: a "limited range" there would stretch gray masks.
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(src_fmt);
    if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
      const int cs = frame->colorspace == AVCOL_SPC_BT709                                           ? SWS_CS_ITU709
                     : frame->colorspace == AVCOL_SPC_BT2020_NCL || frame->colorspace == AVCOL_SPC_BT2020_CL ? SWS_CS_BT2020
                                                                                                   : SWS_CS_DEFAULT;
      const bool full = frame->color_range == AVCOL_RANGE_JPEG || src_fmt == AV_PIX_FMT_YUVJ420P ||
                        src_fmt == AV_PIX_FMT_YUVJ422P || src_fmt == AV_PIX_FMT_YUVJ444P ||
                        src_fmt == AV_PIX_FMT_YUVJ440P || src_fmt == AV_PIX_FMT_YUVJ411P;
      sws_setColorspaceDetails(sws, sws_getCoefficients(cs), full ? 1 : 0, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                               1 << 16, 1 << 16);
    }
    if (!rgb[0] && av_image_alloc(rgb, rgb_stride, width, height, AV_PIX_FMT_RGB24, 64) < 0)
      raise(path, "out of memory for a " + size_str(width, height) + " frame");
    sws_scale(sws, frame->data, frame->linesize, 0, height, rgb, rgb_stride);
    Image img(width, height, 3);
    for (int y = 0; y < height; ++y)
      std::copy_n(rgb[0] + static_cast<size_t>(y) * rgb_stride[0], img.stride(), img.at(0, y));
    frames.push_back(std::move(img));
    pts.push_back(frame->best_effort_timestamp);
  }

  // Drains decoded frames; returns false once reading should stop (cap reached or damage found).
  bool drain(int cap) {
    for (;;) {
      int rc = avcodec_receive_frame(dec, frame);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return true;
      if (rc < 0) {
        damage = "decoding failed (" + av_error(rc) + ")";
        return false;
      }
      const bool corrupt = frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT);
      if (corrupt && !frames.empty()) {
        av_frame_unref(frame);
        damage = "the decoder marked a frame corrupt";
        return false;
      }
      if (!corrupt) take_frame();  // concealed frames before the first good one (stream starts mid-GOP) are skipped
      av_frame_unref(frame);
      if (static_cast<int>(frames.size()) >= cap) return false;
    }
  }

  // Index-based containers (MP4/MOV, MKV with cues) record where each sample lies. An entry past the end of
  // the file means it was cut off, even when the cut falls exactly between two packets and reading simply
  // ends. (The frame count a header declares is no test: edit lists legitimately show fewer frames.)
  bool index_points_past_end() {
    const int64_t size = fmt->pb ? avio_size(fmt->pb) : -1;
    if (size <= 0) return false;
    const int n = avformat_index_get_entries_count(stream);
    for (int i = 0; i < n; ++i) {
      const AVIndexEntry* e = avformat_index_get_entry(stream, i);
      if (e && e->pos + e->size > size) return true;
    }
    return false;
  }

  void decode(int cap) {
    int bad_packets = 0, packets_since_frame = 0;
    bool more = true;
    while (more) {
      int rc = av_read_frame(fmt, pkt);
      if (rc == AVERROR_EOF) break;
      if (rc < 0) {
        damage = "read error (" + av_error(rc) + ")";
        break;
      }
      if (pkt->stream_index != stream->index) {
        av_packet_unref(pkt);
        continue;
      }
      // The demuxer got fewer bytes than the index promised: the file is cut off here.
      if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
        av_packet_unref(pkt);
        damage = "file is cut off or corrupt";
        break;
      }
      const size_t before = frames.size();
      rc = avcodec_send_packet(dec, pkt);
      av_packet_unref(pkt);
      if (rc < 0 && rc != AVERROR(EAGAIN)) {
        // Tolerated only before the first frame (streams cut mid-GOP start with undecodable packets).
        if (!frames.empty() || ++bad_packets > kMaxBadPacketsBeforeFirstFrame) {
          damage = "undecodable video data (" + av_error(rc) + ")";
          break;
        }
        continue;
      }
      more = drain(cap);
      packets_since_frame = frames.size() > before ? 0 : packets_since_frame + 1;
      if (more && packets_since_frame > kMaxPacketsPerFrame) {
        damage = std::to_string(kMaxPacketsPerFrame) + " packets in a row decoded to no frame";
        more = false;
      }
    }
    const bool capped = static_cast<int>(frames.size()) >= cap;
    if (!capped && damage.empty()) {
      // End of input: flush the frames the decoder still holds (B-frame reordering, frame threads).
      if (avcodec_send_packet(dec, nullptr) >= 0) drain(cap);
      if (damage.empty() && static_cast<int>(frames.size()) < cap && index_points_past_end())
        damage = "file is cut off (its index lists video data past the end of the file)";
    } else if (!capped) {
      // Damage: the frames already decoded from intact packets are still good; collect them.
      if (avcodec_send_packet(dec, nullptr) >= 0) {
        std::string first = damage;
        drain(cap);
        damage = first;
      }
    }
  }

  // After damage, keep only the contiguous prefix: with B-frames, packets before the cut can include a
  // P-frame whose preceding B-frames (later in the file) were lost, which would leave a silent jump in time.
  void trim_to_contiguous(double fps) {
    if (frames.size() < 2 || std::find(pts.begin(), pts.end(), AV_NOPTS_VALUE) != pts.end()) return;
    double step = 0;
    if (fps > 0) step = 1.0 / (fps * av_q2d(stream->time_base));
    if (!(step > 0)) {
      std::vector<int64_t> d;
      for (size_t i = 1; i < pts.size(); ++i) d.push_back(pts[i] - pts[i - 1]);
      std::nth_element(d.begin(), d.begin() + d.size() / 2, d.end());
      step = static_cast<double>(d[d.size() / 2]);
    }
    if (!(step > 0)) return;
    for (size_t i = 1; i < pts.size(); ++i)
      if (static_cast<double>(pts[i] - pts[i - 1]) > 1.5 * step) {
        frames.resize(i);
        return;
      }
  }
};

std::vector<Image> read_video_file(const std::string& path, const VideoReadLimits& lim, int cap, VideoInfo& info) {
  std::error_code ec;
  const auto bytes = fs::file_size(path, ec);
  if (ec) raise(path, "cannot read the file size (" + ec.message() + ")");
  if (bytes == 0) raise(path, "file is empty (0 bytes)");
  QuietLogs quiet;
  FFmpegDecoder d(path, lim);
  d.open(lim, info.fps);
  d.decode(cap);
  if (d.frames.empty())
    raise(path, d.damage.empty() ? "contains no video frames" : "no decodable video frame (" + d.damage + ")");
  if (!d.damage.empty()) {
    d.trim_to_contiguous(info.fps);
    info.warning = path + ": " + d.damage + "; using the " + std::to_string(d.frames.size()) +
                   " intact frame(s) before the damage";
  }
  return std::move(d.frames);
}

#else

std::vector<Image> read_video_file(const std::string& path, const VideoReadLimits&, int, VideoInfo&) {
  raise(path, "this build reads video files only with FFmpeg (FOCALSCOPE_VIDEO=OFF); pass a directory of PNG frames");
}

#endif

}  // namespace

std::vector<Image> read_video(const std::string& path, const VideoReadLimits& lim, VideoInfo* info) {
  if (path.empty()) raise("read_video", "empty path");
  if (lim.max_frames < 1 || (lim.want_frames != -1 && lim.want_frames < 1) || lim.max_pixels < 1 ||
      lim.max_total_bytes < 1)
    raise(path, "invalid read limits (max_frames " + std::to_string(lim.max_frames) + ", want_frames " +
                    std::to_string(lim.want_frames) + ", max_pixels " + std::to_string(lim.max_pixels) +
                    ", max_total_bytes " + std::to_string(lim.max_total_bytes) + ")");
  const int cap = lim.want_frames > 0 ? std::min(lim.want_frames, lim.max_frames) : lim.max_frames;

  VideoInfo local;
  VideoInfo& out = info ? *info : local;
  out = VideoInfo{};
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) raise(path, "no such file or directory");
  if (ec) raise(path, "cannot access (" + ec.message() + ")");
  // Devices and pipes are refused up front: /dev/zero or a FIFO would never end (or never start).
  if (!fs::is_directory(st) && !fs::is_regular_file(st)) raise(path, "is not a regular file or a directory");
  std::vector<Image> frames = fs::is_directory(st) ? read_frame_directory(path, lim, cap)
                                                   : read_video_file(path, lim, cap, out);
  out.width = frames.front().width, out.height = frames.front().height;
  out.frames_read = static_cast<int>(frames.size());
  return frames;
}

}  // namespace focalscope::render
