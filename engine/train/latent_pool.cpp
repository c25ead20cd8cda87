#include "engine/train/latent_pool.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/train/flow_matching.h"
#include "engine/train/train_loop.h"

namespace focalscope::train {

namespace {
constexpr const char* kMagic = "FOCALSCOPE-POOL-2";

template <typename T>
void put(std::ofstream& o, const T& v) { o.write(reinterpret_cast<const char*>(&v), sizeof v); }
template <typename T>
bool get(std::ifstream& i, T& v) { return static_cast<bool>(i.read(reinterpret_cast<char*>(&v), sizeof v)); }

void put_tensor(std::ofstream& o, const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  o.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
}
bool get_tensor(std::ifstream& i, at::Tensor& t) {
  return static_cast<bool>(i.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size())));
}
}  // namespace

std::string file_fingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot read");
  uint64_t h = 1469598103934665603ULL;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    for (std::streamsize k = 0; k < in.gcount(); ++k) h = (h ^ static_cast<unsigned char>(buf[k])) * 1099511628211ULL;
  }
  char s[17];
  std::snprintf(s, sizeof s, "%016llx", static_cast<unsigned long long>(h));
  return s;
}

at::Tensor latent_change_map(const at::Tensor& videos, int ts, int ss) {
  const int64_t B = videos.size(0), T = videos.size(2);
  at::Tensor d = (videos - videos.narrow(2, 0, 1)).abs().mean(1);  // [B, T, H, W]
  std::vector<at::Tensor> frames{at::zeros_like(d.narrow(1, 0, 1))};
  for (int64_t f = 1; 1 + (f - 1) * ts < T; ++f) {
    const int64_t first = 1 + (f - 1) * ts, n = std::min<int64_t>(ts, T - first);
    frames.push_back(std::get<0>(d.narrow(1, first, n).max(1, true)));
  }
  at::Tensor m = at::cat(frames, 1);  // [B, F', H, W]
  return at::avg_pool2d(m, {ss, ss}).view({B, m.size(1), m.size(2) / ss, m.size(3) / ss});
}

at::Tensor reference_latent(const WanVAE& vae, const at::Tensor& refs, int frames) {
  at::Tensor r = refs.to(vae.device(), at::kFloat);
  at::Tensor v = at::cat({r.unsqueeze(2), at::zeros({r.size(0), 3, frames - 1, r.size(2), r.size(3)}, r.options())}, 2);
  return vae.encode(v);
}

LatentPool::LatentPool(std::string path, WorldSpec world, std::string recipe)
    : path_(std::move(path)), world_(world), recipe_(std::move(recipe)) {}

std::string LatentPool::header() const {
  return std::string(kMagic) + " " + world_.to_json().dump() + " " + recipe_;
}

void LatentPool::open_existing(bool discard_other_recipe) {
  records_.clear();
  if (!std::filesystem::exists(path_)) return;
  std::ifstream in(path_, std::ios::binary);
  if (!in) fail(path_, "cannot read the latent pool");
  std::string head;
  std::getline(in, head);
  if (head != header()) {
    if (discard_other_recipe) {
      in.close();
      std::filesystem::remove(path_);
      return;
    }
    fail(path_, "was encoded for another world, VAE, seed or curriculum (header '" + head + "', expected '" + header() +
                    "'); delete it to re-encode");
  }
  std::streamoff good_end = in.tellg();
  while (true) {
    PoolRecord r;
    uint32_t plen = 0;
    int32_t mo = 0;
    int64_t shape[4];
    if (!get(in, r.world_seed) || !get(in, mo) || !get(in, plen) || plen > 4096) break;
    r.max_objects = mo;
    r.prompt.resize(plen);
    if (!in.read(r.prompt.data(), plen)) break;
    bool ok = true;
    for (auto& d : shape) ok = ok && get(in, d) && d > 0 && d <= 4096;
    if (!ok) break;
    r.x0 = at::empty({shape[0], shape[1], shape[2], shape[3]}, at::kHalf);
    r.y = at::empty_like(r.x0);
    r.ref = at::empty({3, world_.height, world_.width}, at::kByte);
    r.change = at::empty({shape[1], shape[2], shape[3]}, at::kHalf);
    if (!get_tensor(in, r.x0) || !get_tensor(in, r.y) || !get_tensor(in, r.ref) || !get_tensor(in, r.change)) break;
    records_.push_back(std::move(r));
    good_end = in.tellg();
  }
  // A run killed mid-append leaves a partial record: cut it (it is re-encoded identically) so that later
  // appends start on a record boundary.
  in.close();
  if (static_cast<std::streamoff>(std::filesystem::file_size(path_)) != good_end)
    std::filesystem::resize_file(path_, static_cast<uintmax_t>(good_end));
}

void LatentPool::append(const PoolRecord& r) {
  const bool fresh = !std::filesystem::exists(path_);
  std::ofstream out(path_, std::ios::binary | std::ios::app);
  if (!out) fail(path_, "cannot write the latent pool");
  if (fresh) out << header() << "\n";
  put(out, r.world_seed);
  put(out, static_cast<int32_t>(r.max_objects));
  put(out, static_cast<uint32_t>(r.prompt.size()));
  out.write(r.prompt.data(), static_cast<std::streamsize>(r.prompt.size()));
  for (int k = 0; k < 4; ++k) put(out, static_cast<int64_t>(r.x0.size(k)));
  put_tensor(out, r.x0);
  put_tensor(out, r.y);
  put_tensor(out, r.ref);
  put_tensor(out, r.change);
  if (!out) fail(path_, "write failed (disk full?)");
}

void LatentPool::ensure(int64_t n, const WanVAE& vae, const std::function<uint64_t(int64_t)>& seed_of,
                        const std::function<int(int64_t)>& max_objects_of, int chunk,
                        const std::function<bool(int64_t, int64_t)>& on_chunk) {
  while (size() < n) {
    const int64_t first = size(), count = std::min<int64_t>(std::max(1, chunk), n - first);
    std::vector<PoolRecord> fresh(static_cast<size_t>(count));
    std::vector<std::vector<shapes::RgbFrame>> rendered(static_cast<size_t>(count));
    // Sampling and rendering a case is pure C++ and a function of its seed alone, so the chunk's clips render on
    // ATen's intra-op threads (--threads; a GPU encodes a large chunk faster than one thread renders it); the tensor
    // work below stays on this thread. parallel_for rethrows a worker's exception here.
    auto render = [&](int64_t k) {
      PoolRecord& r = fresh[static_cast<size_t>(k)];
      r.world_seed = seed_of(first + k);
      r.max_objects = max_objects_of(first + k);
      const auto c = sample_case_robust(r.world_seed, world_, std::nullopt, r.max_objects);
      r.prompt = c.prompt;
      rendered[static_cast<size_t>(k)] = shapes::render_case(c, world_.config());
    };
    at::parallel_for(0, count, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) render(k);
    });
    std::vector<at::Tensor> videos, refs;
    for (int64_t k = 0; k < count; ++k) {
      const auto& frames = rendered[static_cast<size_t>(k)];
      fresh[static_cast<size_t>(k)].ref =
          at::from_blob(const_cast<uint8_t*>(frames[0].rgb.data()), {world_.height, world_.width, 3}, at::kByte)
              .permute({2, 0, 1}).contiguous();
      videos.push_back(frames_to_tensor(frames));
      refs.push_back(frame_to_tensor(frames[0]));
    }
    at::Tensor clips = at::stack(videos, 0);
    at::Tensor x0 = vae.encode(clips).to(at::kCPU, at::kHalf);
    at::Tensor change = latent_change_map(clips, vae.cfg.temporal_stride(), vae.cfg.spatial_stride()).to(at::kHalf);
    at::Tensor y = reference_latent(vae, at::stack(refs, 0), world_.frames).to(at::kCPU, at::kHalf);
    for (int64_t k = 0; k < count; ++k) {
      fresh[k].x0 = x0[k].clone();
      fresh[k].y = y[k].clone();
      fresh[k].change = change[k].clone();
      append(fresh[k]);
      records_.push_back(std::move(fresh[k]));
    }
    if (on_chunk && !on_chunk(size(), n)) return;
  }
}

PoolBatch draw_pool_batch(const LatentPool& pool, int64_t n, int batch, shapes::SplitMix64& rng, double text_dropout,
                          double shift, double uniform_share) {
  PoolBatch b;
  for (int i = 0; i < batch; ++i) {
    const PoolRecord& r = pool.at(rng.range(0, static_cast<int>(n) - 1));
    b.x0s.push_back(r.x0);
    b.ys.push_back(r.y);
    b.refs.push_back(r.ref);
    b.changes.push_back(r.change);
    b.prompts.push_back(rng.chance(text_dropout) ? std::string() : r.prompt);
    b.sigmas.push_back(draw_sigma(rng, shift, uniform_share));
  }
  return b;
}

int64_t PoolSchedule::target(int64_t step) const {
  const int64_t grown = initial + static_cast<int64_t>(std::floor(double(step) * rate));
  const int64_t n = std::min(max, grown);
  return std::max<int64_t>(1, n - n % std::max(1, chunk));
}

uint64_t PoolSchedule::seed_of(int64_t record) const { return world_seed(seed, kStreamDitPool, static_cast<uint64_t>(record)); }

int PoolSchedule::objects_of(int64_t record) const { return record < single_until ? 1 : record < double_until ? 2 : 3; }

std::string PoolSchedule::recipe(const std::string& vae_fingerprint) const {
  return "vae=" + vae_fingerprint + " seed=" + std::to_string(seed) + " curriculum=" + std::to_string(single_until) + "/" +
         std::to_string(double_until);
}

bool prefill_pool(LatentPool& pool, int64_t need, const WanVAE& vae, const std::function<uint64_t(int64_t)>& seed_of,
                  const std::function<int(int64_t)>& max_objects_of, int chunk, bool on_gpu, bool quiet,
                  const std::string& tag) {
  StopSignalScope signals;
  const int64_t had = pool.size();
  const auto t0 = std::chrono::steady_clock::now();
  const bool show = !quiet && need - had > 4 * std::max(1, chunk);
  at::NoGradGuard ng;
  pool.ensure(need, vae, seed_of, max_objects_of, on_gpu ? std::max(64, chunk) : chunk, [&](int64_t have, int64_t want) {
    if (show) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double eta = el / double(std::max<int64_t>(1, have - had)) * double(want - have);
      std::fprintf(stderr, "\r[%s] encoding the latent pool: %lld / %lld clips | %s elapsed | ETA %s   ", tag.c_str(),
                   static_cast<long long>(have), static_cast<long long>(want), format_duration(el).c_str(),
                   format_duration(eta).c_str());
      std::fflush(stderr);
    }
    return !stop_requested();
  });
  if (show) std::fprintf(stderr, "\n");
  return pool.size() >= need;
}

}  // namespace focalscope::train
