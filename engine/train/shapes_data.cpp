#include "engine/train/shapes_data.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <cmath>

#include "engine/core/error.h"
#include "engine/shapes/shapes_prompts.h"
#include "engine/train/train_options.h"

namespace focalscope::train {

WorldSpec shapes_world_of_model(const nlohmann::json& manifest, int clip_image_size, const std::string& where) {
  WorldSpec world;
  if (manifest.contains("training") && manifest["training"].contains("world")) {
    const auto& w = manifest["training"]["world"];
    world = {w.value("width", 64), w.value("height", 64), w.value("frames", 13), w.value("fps", 8)};
  }
  if (clip_image_size != world.width || world.width != world.height)
    fail(where, "not a Shapes-world model (its CLIP image size differs from the world's " + std::to_string(world.width) + " px)");
  return world;
}

shapes::ShapesCase sample_case_robust(uint64_t seed, const WorldSpec& world, std::optional<shapes::Dimension> dim,
                                      int max_objects) {
  for (uint64_t attempt = 0;; ++attempt) {
    const uint64_t s = attempt == 0 ? seed : stream_seed(seed, 0xBAD5EED, attempt) % shapes::kTrainSeedLimit;
    try {
      return shapes::sample_case(s, world.config(), dim, max_objects);
    } catch (const Error&) {
      if (attempt >= 64) throw;
    }
  }
}

at::Tensor frame_to_tensor(const shapes::RgbFrame& f) {
  at::Tensor t = at::from_blob(const_cast<uint8_t*>(f.rgb.data()), {f.h, f.w, 3}, at::kByte);
  return t.permute({2, 0, 1}).to(at::kFloat).div(127.5).sub(1.0).contiguous();
}

at::Tensor frames_to_tensor(const std::vector<shapes::RgbFrame>& frames) {
  if (frames.empty()) fail("shapes data", "empty clip");
  std::vector<at::Tensor> ts;
  ts.reserve(frames.size());
  for (const auto& f : frames) ts.push_back(frame_to_tensor(f));
  return at::stack(ts, 1);  // [3, T, H, W]
}

std::vector<shapes::RgbFrame> tensor_to_frames(const at::Tensor& video) {
  if (!video.defined() || video.dim() != 4 || video.size(0) != 3) fail("video", "expected [3, T, H, W]");
  at::Tensor u8 = video.detach().to(at::kCPU, at::kFloat).add(1.0).mul(127.5).round().clamp(0, 255).to(at::kByte)
                      .permute({1, 2, 3, 0}).contiguous();  // [T, H, W, 3]
  const int T = static_cast<int>(u8.size(0)), H = static_cast<int>(u8.size(1)), W = static_cast<int>(u8.size(2));
  std::vector<shapes::RgbFrame> out;
  for (int t = 0; t < T; ++t) {
    shapes::RgbFrame f(W, H);
    std::memcpy(f.rgb.data(), u8[t].data_ptr<uint8_t>(), f.rgb.size());
    out.push_back(std::move(f));
  }
  return out;
}

at::Tensor object_patch_coverage(const shapes::RgbFrame& frame, const nlohmann::json& ann, int frame_index, int grid) {
  const auto& states = ann.at("states").at(frame_index);
  const int n = static_cast<int>(states.size());
  const double sx = double(frame.w) / ann.at("width").get<double>(), sy = double(frame.h) / ann.at("height").get<double>();
  struct O { double x, y; int r, g, b; };
  std::vector<O> objs;
  for (const auto& s : states) {
    const auto& c = s.at("color");
    objs.push_back({s.at("x").get<double>() * sx, s.at("y").get<double>() * sy, c.at(0).get<int>(), c.at(1).get<int>(), c.at(2).get<int>()});
  }
  at::Tensor cov = at::zeros({n, grid, grid}, at::kFloat);
  auto acc = cov.accessor<float, 3>();
  const double pw = double(frame.w) / grid, ph = double(frame.h) / grid;
  constexpr int kTol = 40;  // named colours are >= 85 apart, backgrounds >= 80 from every named colour
  for (int y = 0; y < frame.h; ++y)
    for (int x = 0; x < frame.w; ++x) {
      const uint8_t* p = frame.at(x, y);
      int best = -1;
      double best_d = 1e30;
      for (int i = 0; i < n; ++i) {
        const O& o = objs[i];
        if (std::abs(p[0] - o.r) > kTol || std::abs(p[1] - o.g) > kTol || std::abs(p[2] - o.b) > kTol) continue;
        const double d = std::hypot(x + 0.5 - o.x, y + 0.5 - o.y);
        if (d < best_d) best_d = d, best = i;
      }
      if (best < 0) continue;
      const int gy = std::min(grid - 1, static_cast<int>(y / ph)), gx = std::min(grid - 1, static_cast<int>(x / pw));
      acc[best][gy][gx] += 1.0f;
    }
  return cov / (pw * ph);
}

std::vector<PhraseRef> object_phrases(const std::vector<std::string>& words, const nlohmann::json& ann) {
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::vector<PhraseRef> out;
  const auto& objects = ann.at("objects");
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string c = lower(words[i]), w = lower(words[i + 1]);
    for (size_t k = 0; k < objects.size(); ++k) {
      if (objects[k].at("color").get<std::string>() != c) continue;
      const auto& syn = shapes::shape_synonyms(objects[k].at("shape").get<std::string>());
      if (std::find(syn.begin(), syn.end(), w) == syn.end()) continue;
      out.push_back({static_cast<int64_t>(i), static_cast<int64_t>(i + 1), static_cast<int>(k)});
      break;  // (colour, shape) pairs are unique within a case
    }
  }
  return out;
}

}  // namespace focalscope::train
