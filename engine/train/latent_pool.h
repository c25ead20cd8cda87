// The DiT stage's training clips, encoded once by the frozen VAE and kept: x0 (the clip's normalised latent),
// the reference-conditioning latent VAE([ref, zeros...]) and the reference frame itself (for the CLIP tokens).
// Encoding a clip costs about three DiT training samples on a CPU, so clips are reused across epochs while the
// pool keeps growing with fresh ones (and, record by record, from one object to several: the curriculum).
//
// Record i is a pure function of (seed, i) and the VAE, so the pool is part of the deterministic state; it is
// persisted append-only in <out>/dit/pool.bin (fp16 latents) so that a resumed run reads instead of re-encoding.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/shapes/shapes_rng.h"
#include "engine/train/shapes_data.h"
#include "engine/train/train_options.h"
#include "engine/vae/wan_vae.h"

namespace focalscope::train {

struct PoolRecord {
  uint64_t world_seed = 0;
  int max_objects = 3;
  std::string prompt;
  at::Tensor x0;   // [z, F', h, w] float16
  at::Tensor y;    // [z, F', h, w] float16: VAE latent of [reference, zero frames]
  at::Tensor ref;  // [3, H, W] uint8
  // How much each latent cell's pixels change relative to the reference frame: per latent frame f >= 1 the
  // largest |frame - frame 0| (mean over RGB, [-1,1] units) among its 4 pixel frames, averaged over the cell's
  // pixels; 0 for latent frame 0. [F', h, w] float16. (Comparing latents instead would not work: the causal VAE
  // encodes frame 0 alone and later frames in chunks of 4, so even a still video's latent frames differ.)
  at::Tensor change;
};

// The change map of PoolRecord for videos [B, 3, T, H, W]: [B, F', H/stride, W/stride].
at::Tensor latent_change_map(const at::Tensor& videos, int temporal_stride, int spatial_stride);

class LatentPool;

// One training batch drawn from the first `n` records of a pool: per sample a record, the prompt (dropped to "" with
// probability text_dropout) and a flow-matching sigma, drawn from `rng` in that order (the DiT stage and plant-weak
// share it, so both stay reproducible from their step seeds).
struct PoolBatch {
  std::vector<at::Tensor> x0s, ys, refs, changes;
  std::vector<std::string> prompts;
  std::vector<double> sigmas;
};
PoolBatch draw_pool_batch(const LatentPool& pool, int64_t n, int batch, shapes::SplitMix64& rng, double text_dropout,
                          double shift, double uniform_share);

class LatentPool {
 public:
  // `recipe` identifies everything records depend on besides their index (VAE weights, seed, curriculum): a pool
  // written for another recipe is refused, never silently reused.
  LatentPool(std::string path, WorldSpec world, std::string recipe);

  // Reads the records already on disk (all of them; the file is append-only). When the file was written for
  // another recipe (world, VAE, seed, curriculum): Error, or with discard_other_recipe the stale file is removed.
  void open_existing(bool discard_other_recipe = false);
  // Makes sure records [0, n) exist: encodes the missing ones (in chunks, appended to the file).
  // seed_of(i) and max_objects_of(i) define record i. on_chunk(size, n), when given, is called after every chunk
  // (a resumed run re-encodes thousands of clips before its first step: the caller shows progress) and stops the
  // encoding by returning false; the records written so far stay valid.
  void ensure(int64_t n, const WanVAE& vae, const std::function<uint64_t(int64_t)>& seed_of,
              const std::function<int(int64_t)>& max_objects_of, int chunk,
              const std::function<bool(int64_t, int64_t)>& on_chunk = {});
  int64_t size() const { return static_cast<int64_t>(records_.size()); }
  const PoolRecord& at(int64_t i) const { return records_.at(static_cast<size_t>(i)); }

 private:
  void append(const PoolRecord& r);
  std::string header() const;
  std::string path_;
  WorldSpec world_;
  std::string recipe_;
  std::vector<PoolRecord> records_;
};

// The latent pool of the DiT stages ("dit" and "mmdit" use it record for record, so the two architectures train on the
// same clips): `initial` clips at step 0, growing by `rate` clips per step up to `max`, in whole chunks; record i is the
// world seed world_seed(seed, kStreamDitPool, i) with one object (plus the partner interactions need) below
// single_until, at most two below double_until, then up to three. recipe() names all of it with the VAE's bytes.
struct PoolSchedule {
  int64_t initial = 256;
  double rate = 0.5;
  int64_t max = 40000;
  int chunk = 8;
  int64_t single_until = 800, double_until = 2000;
  uint64_t seed = 1;

  int64_t target(int64_t step) const;  // records step `step` draws from
  uint64_t seed_of(int64_t record) const;
  int objects_of(int64_t record) const;
  std::string recipe(const std::string& vae_fingerprint) const;
};

// Encodes records [pool.size(), need) before a stage's first step (thousands when resuming late: tens of minutes on
// a CPU) with a progress line + ETA when more than a few chunks are missing; SIGINT / SIGTERM stop it cleanly (the
// records written so far are kept and reused by the next --resume). On a GPU the VAE at this size is bound by kernel
// launches, so it encodes 64 clips per call there (8 016 clips took ~20 s on an H200); on a CPU the chunk stays the
// recipe's, so the records match those a step-by-step run encodes bit for bit. Returns false when stopped.
bool prefill_pool(LatentPool& pool, int64_t need, const WanVAE& vae, const std::function<uint64_t(int64_t)>& seed_of,
                  const std::function<int(int64_t)>& max_objects_of, int chunk, bool on_gpu, bool quiet,
                  const std::string& tag);

// A short stable hash of a file's bytes (FNV-1a 64, hex), e.g. of the VAE weights a pool was encoded with.
std::string file_fingerprint(const std::string& path);

// The I2V conditioning latent exactly as engine/pipeline/i2v_pipeline.cpp builds it: VAE.encode of the
// reference followed by frames-1 zero frames. refs [B, 3, H, W] in [-1, 1] -> [B, z, F', h, w].
at::Tensor reference_latent(const WanVAE& vae, const at::Tensor& refs, int frames);

}  // namespace focalscope::train
