// Fixture runner for ../shared/fixtures/hunyuan_reference/hunyuan_vae_tiny-format folders: the VAE configuration
// (constructor_args + tiling), the cases and every tensor name come from the folder, so another set in the same
// format (other sizes, seeds, cases) runs unchanged.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <set>

#include "engine/core/error.h"
#include "engine/models/hunyuan/hunyuan_fixture.h"
#include "engine/models/hunyuan/hunyuan_vae.h"

namespace focalscope {

FixtureResult run_hunyuan_vae_fixture(const Fixture& f) {
  c10::InferenceMode guard;
  const std::string cfg_where = f.dir + "/config.json";
  if (f.weights.empty()) fail(f.dir, "no weights.safetensors (the VAE fixture needs its weights)");
  const HunyuanVaeConfig cfg = HunyuanVaeConfig::from_json(f.config);
  const HunyuanVAE vae = HunyuanVAE::load(hunyuan_vae_strip_prefix(f.weights), cfg, f.target.dtype, f.target.device);

  FixtureResult r;
  std::set<std::string> produced;
  // Every output is added only when the folder records it (intermediates exist for some cases only); a recorded
  // tensor we never add is reported by the comparison as not produced.
  auto add = [&](const std::string& name, const at::Tensor& t) {
    if (!f.io.has(name) || produced.count(name)) return;
    produced.insert(name);
    r.outputs.emplace_back(name, t);
  };
  auto recorded_with_prefix = [&](const std::string& p) {
    for (const auto& n : f.io.names())
      if (n.rfind(p, 0) == 0) return true;
    return false;
  };
  add("scaling_factor", at::full({1}, cfg.scaling_factor, at::TensorOptions().dtype(at::kFloat)));

  // Cases: config.json "cases" (with their "tiled" flag), plus any other '<case>_video' input.
  std::vector<std::string> cases;
  std::set<std::string> tiled;
  if (f.config.contains("cases")) {
    const auto& cs = f.config["cases"];
    if (!cs.is_object()) fail(cfg_where, "\"cases\" must be an object");
    for (auto it = cs.begin(); it != cs.end(); ++it) {
      cases.push_back(it.key());
      if (it.value().is_object() && it.value().value("tiled", false)) tiled.insert(it.key());
    }
  }
  const std::string suffix = "_video";
  for (const auto& n : f.io.names())
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string p = n.substr(0, n.size() - suffix.size());
      if (std::find(cases.begin(), cases.end(), p) == cases.end()) cases.push_back(p);
    }
  if (cases.empty()) fail(f.dir + "/io.safetensors", "no '<case>_video' input tensors and no \"cases\" in config.json");

  for (const auto& c : cases) {
    const std::string vname = c + suffix;
    if (!f.io.has(vname)) fail(f.dir + "/io.safetensors", "case '" + c + "' has no input tensor '" + vname + "'");
    r.inputs.insert(vname);
    const at::Tensor video = f.in_target(vname);
    auto put = [&](const std::string& what, const at::Tensor& t) { add(c + "_" + what, t); };

    // Untiled encode (vae.disable_tiling(); vae.encode(video).latent_dist) with its per-stage intermediates.
    HunyuanVaeTaps taps;
    const HunyuanVaePosterior post = vae.encode(video, HunyuanVaeTilingMode::off(), &taps);
    for (const auto& [name, t] : taps) put(name, t);
    put("moments", post.moments);
    put("mean", post.mean);
    put("logvar", post.logvar);
    put("mode", post.mode());
    put("latent_scaled", post.mode() * cfg.scaling_factor);  // img_latents (inference.py:857-859)

    // Untiled decode of our own mode (vae.decode(post.mode())), unclamped.
    if (recorded_with_prefix(c + "_dec")) {
      HunyuanVaeTaps dtaps;
      const at::Tensor decoded = vae.decode(post.mode(), HunyuanVaeTilingMode::off(), &dtaps);
      for (const auto& [name, t] : dtaps) put(name, t);
      put("decoded", decoded);
    }

    // With tiling enabled (vae.enable_tiling()): encode, then decode of the tiled mean.
    if (tiled.count(c) || recorded_with_prefix(c + "_tiled_")) {
      const HunyuanVaePosterior tp = vae.encode(video, HunyuanVaeTilingMode::on());
      put("tiled_moments", tp.moments);
      put("tiled_mean", tp.mean);
      put("tiled_logvar", tp.logvar);
      put("tiled_mode", tp.mode());
      if (f.io.has(c + "_tiled_decoded")) put("tiled_decoded", vae.decode(tp.mean, HunyuanVaeTilingMode::on()));
    }
  }
  return r;
}

}  // namespace focalscope
