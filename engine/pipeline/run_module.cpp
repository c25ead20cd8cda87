#include "engine/pipeline/run_module.h"

#include "engine/clip/clip_vision.h"
#include "engine/core/error.h"
#include "engine/models/wan/dit_fixture.h"
#include "engine/models/hunyuan/hunyuan_fixture.h"
#include "engine/sched/scheduler.h"
#include "engine/text/umt5.h"
#include "engine/vae/wan_vae.h"

namespace focalscope {

std::string fixture_kind(const Fixture& f) {
  std::string cls;
  if (f.config.contains("class") && f.config["class"].is_string()) cls = f.config["class"].get<std::string>();
  if (f.config.contains("classes") && f.config["classes"].is_array())
    for (const auto& c : f.config["classes"]) cls += " " + c.get<std::string>();
  auto has = [&](const char* s) { return cls.find(s) != std::string::npos; };
  // HunyuanVideo first: its pipeline's class string also names its scheduler.
  if (has("HunyuanVideoPipeline")) return "hunyuan_sampler";
  if (has("HYVideoDiffusionTransformer")) return "hunyuan_dit";
  if (has("AutoencoderKLCausal3D")) return "hunyuan_vae";
  if (has("WanModel")) return "dit";
  if (has("T5Encoder")) return "umt5";
  if (has("VisionTransformer")) return "clip";
  if (has("WanVAE")) return "vae";
  if (has("Scheduler")) return "scheduler";
  fail(f.dir + "/config.json", "unknown module class '" + cls + "' (expected WanModel, T5Encoder, VisionTransformer, WanVAE_, a flow scheduler, HYVideoDiffusionTransformer, HunyuanVideoPipeline or AutoencoderKLCausal3D)");
}

FixtureResult run_module_fixture(const Fixture& f) {
  const std::string k = fixture_kind(f);
  FixtureResult r = k == "dit"    ? run_dit_fixture(f)
                    : k == "hunyuan_dit"     ? run_hunyuan_dit_fixture(f)
                    : k == "hunyuan_sampler" ? run_hunyuan_sampler_fixture(f)
                    : k == "hunyuan_vae"     ? run_hunyuan_vae_fixture(f)
                    : k == "umt5" ? run_umt5_fixture(f)
                    : k == "clip" ? run_clip_fixture(f)
                    : k == "vae"  ? run_vae_fixture(f)
                                  : run_scheduler_fixture(f);  // scalar maths: always on the CPU in float64
  for (auto& [name, t] : r.outputs) t = t.to(c10::kCPU);
  return r;
}

}  // namespace focalscope
