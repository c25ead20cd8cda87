#include "app/cli/media.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/limits.h"

namespace focalscope {

at::Tensor image_to_tensor(const render::Image& img) {
  render::Image rgb = img.channels == 3 ? img : render::convert_channels(img, 3);
  at::Tensor t = at::from_blob(const_cast<uint8_t*>(rgb.pixels.data()), {rgb.height, rgb.width, 3}, at::kByte).clone();
  return t.permute({2, 0, 1}).to(at::kFloat).div(127.5).sub(1.0).contiguous();
}

at::Tensor load_image_tensor(const std::string& path) {
  const render::Image img = render::load_image(path, 3);
  // A conditioning image must carry content at the model's resolution: refuse tiny or extremely elongated ones here,
  // naming the file (the pipeline would only say "image").
  const int lo = std::min(img.width, img.height), hi = std::max(img.width, img.height);
  if (lo < limits::kImageMinSide)
    fail(path, "image of " + std::to_string(img.width) + "x" + std::to_string(img.height) + " pixels is too small (each side must be at least " +
                   std::to_string(limits::kImageMinSide) + ")");
  if (hi > limits::kImageMaxAspect * lo)
    fail(path, "image of " + std::to_string(img.width) + "x" + std::to_string(img.height) + " pixels has an extreme aspect ratio (more than " +
                   std::to_string(static_cast<int>(limits::kImageMaxAspect)) + ":1)");
  return image_to_tensor(img);
}

render::Image tensor_to_image(const at::Tensor& chw) {
  if (chw.dim() != 3 || chw.size(0) != 3) fail("image tensor", "expected [3, H, W]");
  at::Tensor u8 = chw.detach().to(at::kCPU, at::kFloat).clamp(-1, 1).add(1).mul(127.5).round().to(at::kByte).permute({1, 2, 0}).contiguous();
  render::Image img(static_cast<int>(chw.size(2)), static_cast<int>(chw.size(1)), 3);
  std::memcpy(img.pixels.data(), u8.data_ptr(), img.pixels.size());
  return img;
}

std::vector<render::Image> video_to_images(const at::Tensor& video) {
  if (video.dim() != 4 || video.size(0) != 3) fail("video tensor", "expected [3, F, H, W]");
  std::vector<render::Image> out;
  for (int64_t f = 0; f < video.size(1); ++f) out.push_back(tensor_to_image(video.select(1, f)));
  return out;
}

void write_frames_png(const std::string& dir, const std::vector<render::Image>& frames) {
  std::filesystem::create_directories(dir);
  for (size_t i = 0; i < frames.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "frame_%03zu.png", i);
    render::save_png((std::filesystem::path(dir) / name).string(), frames[i]);
  }
}

}  // namespace focalscope
