#include "app/cli/edit_inputs.h"

#include <cstdio>
#include <cstring>

#include "app/cli/media.h"
#include "engine/core/error.h"
#include "render/mask_io.h"
#include "render/video_reader.h"

namespace focalscope::cli {

void load_edit_inputs(const std::string& video_path, const std::string& mask_path, int frames, EditRequest& req) {
  render::VideoReadLimits lim;
  lim.want_frames = frames;
  render::VideoInfo info;
  const auto src = render::read_video(video_path, lim, &info);
  if (!info.warning.empty()) std::fprintf(stderr, "warning: %s\n", info.warning.c_str());
  if (static_cast<int>(src.size()) < frames)
    fail(video_path, "has " + std::to_string(src.size()) + " frames; the model makes " + std::to_string(frames) +
                         " (a shorter source cannot be edited; pass --frames to make fewer)");
  std::vector<at::Tensor> fr;
  for (const auto& im : src) fr.push_back(image_to_tensor(im));
  req.source_video = at::stack(fr, 1);  // [3, F, H, W]
  req.source_name = video_path;

  render::VideoReadLimits mlim;
  mlim.want_frames = frames;
  const render::Mask m = render::read_mask(mask_path, mlim);
  const int W = src.front().width, H = src.front().height;
  if (m.width != W || m.height != H)
    fail(mask_path, "is " + std::to_string(m.width) + "x" + std::to_string(m.height) + " but the video " + video_path + " is " +
                        std::to_string(W) + "x" + std::to_string(H));
  at::Tensor t = at::empty({m.frames, m.height, m.width}, at::kByte);
  std::memcpy(t.data_ptr<uint8_t>(), m.data.data(), m.data.size());
  req.mask = t.to(at::kFloat);
  req.mask_name = mask_path;
}

StaticMask union_mask(const at::Tensor& mask) {
  const at::Tensor u = std::get<0>((mask != 0).to(at::kByte).max(0)).contiguous();
  StaticMask s;
  s.height = static_cast<int>(u.size(0));
  s.width = static_cast<int>(u.size(1));
  s.data.assign(u.data_ptr<uint8_t>(), u.data_ptr<uint8_t>() + u.numel());
  return s;
}

}  // namespace focalscope::cli
