// Runs whatever module a reference-fixture folder describes (DiT, umT5, CLIP vision, VAE, scheduler
// trajectories), chosen from its config.json "class"/"classes", and returns every output under the fixture's
// own tensor names. Used by `focalscope run-module` and the parity test.
#pragma once
#include <string>

#include "engine/core/fixture.h"

namespace focalscope {

// "dit" | "umt5" | "clip" | "vae" | "scheduler" | "hunyuan_dit" | "hunyuan_sampler" | "hunyuan_vae"; throws Error naming the folder if the class is unknown.
std::string fixture_kind(const Fixture& f);
FixtureResult run_module_fixture(const Fixture& f);

}  // namespace focalscope
