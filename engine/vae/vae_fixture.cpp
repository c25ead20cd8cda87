// Fixture runner for wan_vae_tiny-style folders (see run_vae_fixture in wan_vae.h).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "engine/core/error.h"
#include "engine/vae/wan_vae.h"

namespace focalscope {

FixtureResult run_vae_fixture(const Fixture& fx) {
  const std::string where = fx.dir;
  if (!fx.config.is_object() || !fx.config.contains("constructor_args"))
    fail(where + "/config.json", "no \"constructor_args\" object");
  if (fx.weights.empty()) fail(where, "no weights.safetensors (the VAE fixture needs its weights)");
  const VaeConfig cfg = VaeConfig::from_json(fx.config.at("constructor_args"));
  WanVAE vae = WanVAE::load(fx.weights, cfg, fx.target.dtype, fx.target.device);

  FixtureResult res;
  auto scale_input = [&](const char* name, at::Tensor& slot) {
    if (!fx.io.has(name)) return;
    const at::Tensor& t = fx.in(name);
    if (t.dim() != 1 || t.size(0) != cfg.z_dim)
      fail(where + "/io.safetensors", std::string("'") + name + "' has shape " + shape_str(t.sizes()) + ", expected [" +
                                          std::to_string(cfg.z_dim) + "]");
    slot = t.to(fx.target.device, at::kFloat).clone();
    res.inputs.insert(name);
  };
  scale_input("latent_mean", vae.latent_mean);
  scale_input("latent_std", vae.latent_std);

  const std::string suffix = "_video";
  std::vector<std::string> prefixes;
  for (const auto& name : fx.io.names())
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      prefixes.push_back(name.substr(0, name.size() - suffix.size()));
  if (prefixes.empty()) fail(where + "/io.safetensors", "no '<case>_video' input tensors");

  c10::InferenceMode guard;
  for (const auto& p : prefixes) {
    res.inputs.insert(p + suffix);
    const at::Tensor video = fx.in_target(p + suffix).to(at::kFloat);
    auto put = [&](const std::string& name, const at::Tensor& t) { res.outputs.emplace_back(p + "_" + name, t); };

    // Encode: chunked encoder -> conv1 -> mu (channels 0..z-1) -> normalised latent.
    const at::Tensor conv1_in = vae.encoder_chunked(
        video, [&](int64_t i, const at::Tensor& y) { put("enc_chunk" + std::to_string(i) + "_out", y); });
    const at::Tensor conv1_out = vae.apply_conv1(conv1_in);
    const at::Tensor mu = conv1_out.slice(1, 0, cfg.z_dim);
    const at::Tensor latent = vae.normalize_latent(mu);
    put("conv1_in", conv1_in);
    put("conv1_out", conv1_out);
    put("mu_raw", mu);
    put("latent", latent);

    // Decode our own latent: de-normalise -> conv2 -> decoder one latent frame at a time.
    const at::Tensor conv2_out = vae.apply_conv2(vae.denormalize_latent(latent));
    put("decode_conv2_out", conv2_out);
    const at::Tensor decoded = vae.decoder_chunked(
        conv2_out, [&](int64_t i, const at::Tensor& y) { put("dec_chunk" + std::to_string(i) + "_out", y); });
    put("decoded", decoded);
    put("decoded_clamped", decoded.clamp(-1.0, 1.0));
  }
  return res;
}

}  // namespace focalscope
