#include "engine/models/wan/dit_fixture.h"

#include <c10/core/InferenceMode.h>

#include "engine/core/error.h"
#include "engine/models/wan/conditioning.h"
#include "engine/models/wan/wan_model.h"

namespace focalscope {

FixtureResult run_dit_fixture(const Fixture& f) { return run_dit_fixture(f, f.weights); }

FixtureResult run_dit_fixture(const Fixture& f, const TensorSet& weights, const formats::QuantisedWeights* kept) {
  c10::InferenceMode guard;
  const auto& cfgj = f.config.contains("constructor_args") ? f.config["constructor_args"] : f.config;
  WanModel model = WanModel::load(weights, WanConfig::from_json(cfgj), f.target.dtype, f.target.device, kept);
  FixtureResult r;
  auto has = [&](const std::string& n) { return f.io.has(n); };
  auto produced = [&](const std::string& n) {
    for (const auto& kv : r.outputs) if (kv.first == n) return true;
    return false;
  };
  if (!f.config.contains("calls")) fail(f.dir + "/config.json", "no \"calls\" object");
  for (auto it = f.config["calls"].begin(); it != f.config["calls"].end(); ++it) {
    const auto& call = it.value();
    auto first = [](const nlohmann::json& v) { return v.is_array() ? v[0].get<std::string>() : v.get<std::string>(); };
    const std::string xn = first(call["x"]), tn = first(call["t"]), cn = first(call["context"]);
    DitInputs in;
    in.x = f.in_target(xn).unsqueeze(0);
    in.t = f.in_target(tn);
    in.context = f.in_target(cn);
    r.inputs.insert(xn); r.inputs.insert(tn); r.inputs.insert(cn);
    if (model.cfg.is_i2v()) {
      const std::string yn = first(call["y"]), clipn = call["clip_fea"].get<std::string>();
      in.y = f.in_target(yn).unsqueeze(0);
      in.clip_fea = f.in_target(clipn);
      r.inputs.insert(yn); r.inputs.insert(clipn);
    }
    std::map<std::string, at::Tensor> taps;
    ForwardOptions opt;
    opt.taps = &taps;
    at::Tensor out = model.forward(in, opt);
    r.outputs.emplace_back(it.key(), out[0]);
    // Intermediates are recorded per timestep input as "<t-name>_<tap>".
    for (const auto& [name, t] : taps) {
      const std::string full = tn + "_" + name;
      if (has(full) && !produced(full)) r.outputs.emplace_back(full, t);
    }
  }
  for (const auto& n : f.io.names()) {
    if (n.rfind("sinusoid_", 0) == 0 && n.size() > 13 && n.compare(n.size() - 4, 4, "_f64") == 0) {
      const std::string tn = n.substr(9, n.size() - 13);
      r.outputs.emplace_back(n, WanModel::sinusoidal_embedding(f.in(tn), model.cfg.freq_dim));
    }
  }
  if (has("rope_freqs_f64")) {
    const auto& ref = f.in("rope_freqs_f64");
    at::Tensor ang = WanModel::rope_angles(static_cast<int>(ref.size(0)), model.cfg.head_dim());
    r.outputs.emplace_back("rope_freqs_f64", at::stack({at::cos(ang), at::sin(ang)}, -1));
  }
  if (has("mask")) {
    const auto& m = f.in("mask");
    r.outputs.emplace_back("mask", i2v_mask(m.size(1), m.size(2), m.size(3)));
  }
  for (const char* n : {"ref_latent", "seq_len", "grid_sizes"}) if (has(n)) r.inputs.insert(n);
  if (has("seq_len")) {
    const auto& x = f.in(r.outputs.empty() ? "x" : "x");
    const auto& p = model.cfg.patch_size;
    int64_t L = (x.size(1) / p[0]) * (x.size(2) / p[1]) * (x.size(3) / p[2]);
    if (f.in("seq_len").item<int64_t>() != L) fail(f.dir, "seq_len does not match the patch grid of x");
  }
  return r;
}

}  // namespace focalscope
