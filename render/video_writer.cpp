#include "render/video_writer.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/core/error.h"

namespace focalscope::render {
namespace {

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

// x264 logs its banner at INFO; keep stderr quiet unless the host app already chose a level.
void quiet_ffmpeg_logs() {
  if (av_log_get_level() == AV_LOG_INFO) av_log_set_level(AV_LOG_WARNING);
}

bool supports_yuv420p(const AVCodec* c) {
  if (!c->pix_fmts) return true;  // unknown: let avcodec_open2 decide
  for (const AVPixelFormat* p = c->pix_fmts; *p != AV_PIX_FMT_NONE; ++p)
    if (*p == AV_PIX_FMT_YUV420P) return true;
  return false;
}

// libx264 first (best quality per bit, CRF), then every other H.264 encoder FFmpeg knows about.
std::vector<const AVCodec*> h264_candidates() {
  std::vector<const AVCodec*> out;
  if (const AVCodec* x = avcodec_find_encoder_by_name("libx264")) out.push_back(x);
  void* it = nullptr;
  while (const AVCodec* c = av_codec_iterate(&it)) {
    if (!av_codec_is_encoder(c) || c->id != AV_CODEC_ID_H264) continue;
    if (std::find(out.begin(), out.end(), c) != out.end() || !supports_yuv420p(c)) continue;
    out.push_back(c);
  }
  return out;
}

}  // namespace

struct VideoWriter::Impl {
  std::string path;
  AVFormatContext* fmt = nullptr;
  AVCodecContext* enc = nullptr;
  AVStream* stream = nullptr;
  SwsContext* sws = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* pkt = nullptr;
  int width = 0, height = 0, enc_w = 0, enc_h = 0;
  int64_t next_pts = 0;
  std::string encoder;
  bool header_written = false;
  bool file_created = false;
  std::vector<uint8_t> rgb;  // padded RGB24 staging buffer (enc_w x enc_h)

  ~Impl() { release(); }

  [[noreturn]] void raise(const std::string& what) const { throw Error(path + ": " + what); }

  void release() {
    sws_freeContext(sws), sws = nullptr;
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&enc);
    if (fmt) {
      if (fmt->pb && !(fmt->oformat->flags & AVFMT_NOFILE)) avio_closep(&fmt->pb);
      avformat_free_context(fmt), fmt = nullptr;
    }
    stream = nullptr;
  }

  // Sends one frame (nullptr = flush) and writes every packet the encoder hands back.
  void encode(AVFrame* f) {
    int rc = avcodec_send_frame(enc, f);
    if (rc < 0) raise("encoder " + encoder + " rejected a frame (" + av_error(rc) + ")");
    for (;;) {
      rc = avcodec_receive_packet(enc, pkt);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) raise("encoding failed (" + av_error(rc) + ")");
      av_packet_rescale_ts(pkt, enc->time_base, stream->time_base);
      pkt->stream_index = stream->index;
      rc = av_interleaved_write_frame(fmt, pkt);  // takes ownership of the packet's data
      if (rc < 0) raise("cannot write packet (" + av_error(rc) + ")");
    }
  }

  // Tries to open enc for codec c; returns an error string (empty on success).
  std::string try_encoder(const AVCodec* c, AVRational fr, const VideoOptions& opts) {
    avcodec_free_context(&enc);
    enc = avcodec_alloc_context3(c);
    if (!enc) return "out of memory";
    enc->width = enc_w, enc->height = enc_h;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = av_inv_q(fr);
    enc->framerate = fr;
    enc->gop_size = std::max(1, int(std::lround(av_q2d(fr) * 2)));  // keyframe every ~2 s: seekable in the GUI
    // Tag what swscale produces (BT.709, limited range) so players convert back correctly.
    enc->color_range = AVCOL_RANGE_MPEG;
    enc->colorspace = AVCOL_SPC_BT709;
    enc->color_primaries = AVCOL_PRI_BT709;
    enc->color_trc = AVCOL_TRC_BT709;
    if (fmt->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (std::string(c->name) == "libx264") {
      av_opt_set(enc->priv_data, "preset", opts.preset.c_str(), 0);
      av_opt_set_int(enc->priv_data, "crf", opts.crf, 0);
    } else {
      enc->bit_rate = opts.bit_rate;
    }
    int rc = avcodec_open2(enc, c, nullptr);
    if (rc < 0) {
      avcodec_free_context(&enc);
      return av_error(rc);
    }
    return {};
  }
};

VideoWriter::VideoWriter() = default;
VideoWriter::VideoWriter(VideoWriter&&) noexcept = default;
VideoWriter& VideoWriter::operator=(VideoWriter&& o) noexcept {
  if (this != &o) {
    try {
      close();
    } catch (...) {
    }
    impl_ = std::move(o.impl_);
  }
  return *this;
}
VideoWriter::~VideoWriter() {
  try {
    close();
  } catch (...) {  // destructor must not throw; call close() yourself to see errors
  }
}

bool VideoWriter::is_open() const { return impl_ != nullptr; }
int VideoWriter::frames_written() const { return impl_ ? int(impl_->next_pts) : 0; }
int VideoWriter::encoded_width() const { return impl_ ? impl_->enc_w : 0; }
int VideoWriter::encoded_height() const { return impl_ ? impl_->enc_h : 0; }
const std::string& VideoWriter::encoder_name() const {
  static const std::string none;
  return impl_ ? impl_->encoder : none;
}

void VideoWriter::open(const std::string& path, int width, int height, double fps, const VideoOptions& opts) {
  if (impl_) throw Error(path + ": VideoWriter is already open on " + impl_->path);
  if (width <= 0 || height <= 0)
    throw Error(path + ": invalid video size " + std::to_string(width) + "x" + std::to_string(height));
  if (!(fps > 0) || !std::isfinite(fps) || fps > 1000) throw Error(path + ": invalid fps " + std::to_string(fps));
  quiet_ffmpeg_logs();

  auto im = std::make_unique<Impl>();
  im->path = path;
  im->width = width, im->height = height;
  im->enc_w = width + (width & 1), im->enc_h = height + (height & 1);  // pad odd sizes (see header)

  avformat_alloc_output_context2(&im->fmt, nullptr, nullptr, path.c_str());
  if (!im->fmt) avformat_alloc_output_context2(&im->fmt, nullptr, "mp4", path.c_str());  // unknown extension
  if (!im->fmt) im->raise("cannot create an output container");

  const AVRational fr = av_d2q(fps, 100000);
  std::string tried;
  for (const AVCodec* c : h264_candidates()) {
    std::string err = im->try_encoder(c, fr, opts);
    if (err.empty()) {
      im->encoder = c->name;
      break;
    }
    tried += std::string(tried.empty() ? "" : "; ") + c->name + ": " + err;
  }
  if (!im->enc)
    im->raise(tried.empty() ? "no H.264 encoder in this FFmpeg build (install libx264)"
                            : "no H.264 encoder could be opened (" + tried + ")");

  im->stream = avformat_new_stream(im->fmt, nullptr);
  if (!im->stream) im->raise("cannot add a video stream");
  im->stream->time_base = im->enc->time_base;
  im->stream->avg_frame_rate = fr;
  int rc = avcodec_parameters_from_context(im->stream->codecpar, im->enc);
  if (rc < 0) im->raise("cannot copy encoder parameters (" + av_error(rc) + ")");

  if (!(im->fmt->oformat->flags & AVFMT_NOFILE)) {
    rc = avio_open(&im->fmt->pb, path.c_str(), AVIO_FLAG_WRITE);
    if (rc < 0) im->raise("cannot open for writing (" + av_error(rc) + ")");
    im->file_created = true;
  }
  AVDictionary* mux_opts = nullptr;
  av_dict_set(&mux_opts, "movflags", "+faststart", 0);  // moov up front: plays while downloading
  rc = avformat_write_header(im->fmt, &mux_opts);
  av_dict_free(&mux_opts);
  if (rc < 0) {
    im->release();
    std::error_code ec;
    std::filesystem::remove(path, ec);
    im->raise("cannot write container header (" + av_error(rc) + ")");
  }
  im->header_written = true;

  im->frame = av_frame_alloc();
  im->pkt = av_packet_alloc();
  if (!im->frame || !im->pkt) im->raise("out of memory");
  im->frame->format = AV_PIX_FMT_YUV420P;
  im->frame->width = im->enc_w, im->frame->height = im->enc_h;
  rc = av_frame_get_buffer(im->frame, 0);
  if (rc < 0) im->raise("cannot allocate a frame (" + av_error(rc) + ")");

  im->sws = sws_getContext(im->enc_w, im->enc_h, AV_PIX_FMT_RGB24, im->enc_w, im->enc_h, AV_PIX_FMT_YUV420P,
                           SWS_BILINEAR | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
  if (!im->sws) im->raise("cannot create the RGB->YUV converter");
  // Full-range RGB in, BT.709 limited-range YUV out (matches the colour tags set on the encoder).
  const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
  sws_setColorspaceDetails(im->sws, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);
  im->rgb.resize(static_cast<size_t>(im->enc_w) * im->enc_h * 3);
  impl_ = std::move(im);
}

void VideoWriter::write(const Image& frame) {
  if (!impl_) throw Error("VideoWriter::write: writer is not open");
  Impl& im = *impl_;
  check_image(frame, im.path + " frame " + std::to_string(im.next_pts));
  if (frame.width != im.width || frame.height != im.height)
    im.raise("frame " + std::to_string(im.next_pts) + " is " + std::to_string(frame.width) + "x" +
             std::to_string(frame.height) + ", expected " + std::to_string(im.width) + "x" + std::to_string(im.height));
  Image converted;
  const Image* src = &frame;
  if (frame.channels != 3) converted = convert_channels(frame, 3), src = &converted;
  // Copy into the even-sized staging buffer, repeating the last column/row into the padding.
  for (int y = 0; y < im.enc_h; ++y) {
    const uint8_t* row = src->at(0, std::min(y, im.height - 1));
    uint8_t* dst = im.rgb.data() + static_cast<size_t>(y) * im.enc_w * 3;
    std::copy_n(row, static_cast<size_t>(im.width) * 3, dst);
    if (im.enc_w > im.width) std::copy_n(row + (im.width - 1) * 3, 3, dst + im.width * 3);
  }
  int rc = av_frame_make_writable(im.frame);
  if (rc < 0) im.raise("frame buffer not writable (" + av_error(rc) + ")");
  const uint8_t* src_planes[1] = {im.rgb.data()};
  const int src_stride[1] = {im.enc_w * 3};
  sws_scale(im.sws, src_planes, src_stride, 0, im.enc_h, im.frame->data, im.frame->linesize);
  im.frame->pts = im.next_pts;
  im.encode(im.frame);
  ++im.next_pts;
}

void VideoWriter::close() {
  if (!impl_) return;
  std::unique_ptr<Impl> im = std::move(impl_);  // closed from here on, even if flushing throws
  if (im->header_written && im->enc) {
    im->encode(nullptr);
    int rc = av_write_trailer(im->fmt);
    if (rc < 0) im->raise("cannot finalise the file (" + av_error(rc) + ")");
  }
  im->release();
}

void write_mp4(const std::string& path, const std::vector<Image>& frames, double fps, const VideoOptions& opts) {
  if (frames.empty()) throw Error(path + ": no frames to write");
  check_image(frames[0], path + " frame 0");
  VideoWriter w;
  w.open(path, frames[0].width, frames[0].height, fps, opts);
  for (const Image& f : frames) w.write(f);
  w.close();
}

}  // namespace focalscope::render
