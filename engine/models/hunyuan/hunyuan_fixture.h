#pragma once
#include "engine/core/fixture.h"

namespace focalscope {
// Reproduces a `hunyuan_dit_i2v_tiny`-format folder: every call of config.json "calls" (output under the call's
// name), the RoPE tables the calls name (computed from the rope config, not read), and every intermediate the
// folder records for a call as "<call prefix>_<tap>" (the call name without its "_out").
FixtureResult run_hunyuan_dit_fixture(const Fixture& f);
// Reproduces a `hunyuan_sampler_tiny`-format folder: for every case of config.json "cases" the whole I2V loop with
// our DiT from the stored noise (schedule, initial latents, every model input / t / guidance / velocity and the
// latents after every step), plus the RoPE tables the pipeline call names.
FixtureResult run_hunyuan_sampler_fixture(const Fixture& f);
// Reproduces a `hunyuan_vae_tiny`-format folder (hunyuan_vae_fixture.cpp): for every case of config.json "cases"
// (or every '<case>_video' input) the untiled encode (moments / mean / logvar / mode / latent_scaled) and decode of
// our own mode, every per-stage intermediate the folder records, and for tiled cases the encode and decode with
// upstream's tiling enabled (<case>_tiled_*). Config and tiling attributes come from the folder's config.json.
FixtureResult run_hunyuan_vae_fixture(const Fixture& f);
}  // namespace focalscope
