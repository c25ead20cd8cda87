// Fixture runners for ../shared/fixtures/hunyuan_reference/{hunyuan_dit_i2v_tiny, hunyuan_sampler_tiny}: sizes,
// calls, cases and tensor names all come from the folder's config.json, so another set in the same format runs
// unchanged.
#include "engine/models/hunyuan/hunyuan_fixture.h"

#include <c10/core/InferenceMode.h>

#include <set>

#include "engine/core/error.h"
#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/models/hunyuan/hunyuan_sampler.h"

namespace focalscope {

namespace {

using json = nlohmann::json;

// Collects outputs once each; `recorded_only` ones are added only when the folder records them (intermediates).
struct Outputs {
  const Fixture& f;
  FixtureResult& r;
  std::set<std::string> names;
  void add(const std::string& name, const at::Tensor& t, bool recorded_only = false) {
    if (names.count(name) || (recorded_only && !f.io.has(name))) return;
    names.insert(name);
    r.outputs.emplace_back(name, t);
  }
};

std::string str_field(const std::string& where, const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) fail(where, std::string("missing tensor name \"") + key + "\"");
  return obj[key].get<std::string>();
}

double num_field(const std::string& where, const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_number()) fail(where, std::string("missing number \"") + key + "\"");
  return obj[key].get<double>();
}

}  // namespace

FixtureResult run_hunyuan_dit_fixture(const Fixture& f) {
  c10::InferenceMode guard;
  const std::string cfg_where = f.dir + "/config.json";
  const HunyuanModel model = HunyuanModel::load(f.weights, HunyuanConfig::from_json(f.config), f.target.dtype, f.target.device);
  if (!f.config.contains("calls") || !f.config["calls"].is_object() || f.config["calls"].empty())
    fail(cfg_where, "no \"calls\" object");
  FixtureResult r;
  Outputs out{f, r, {}};
  for (auto it = f.config["calls"].begin(); it != f.config["calls"].end(); ++it) {
    const std::string call = it.key(), where = cfg_where + " call " + call;
    const json& c = it.value();
    auto input = [&](const char* key) {
      const std::string n = str_field(where, c, key);
      r.inputs.insert(n);
      return f.in_target(n);
    };
    HunyuanInputs in;
    in.x = input("x");
    in.t = input("t");
    in.text_states = input("text_states");
    in.text_mask = input("text_mask");
    in.text_states_2 = input("text_states_2");
    if (c.contains("guidance") && !c["guidance"].is_null()) in.guidance = input("guidance");
    if (in.x.dim() != 5) fail(f.io.source(str_field(where, c, "x")), "x must be [B, C, T, H, W]");
    // Our own RoPE tables for this latent; the recorded ones the call names are outputs to compare, not inputs.
    std::tie(in.freqs_cos, in.freqs_sin) = model.rope_for_latent(in.x.size(2), in.x.size(3), in.x.size(4));
    if (c.contains("freqs_cos")) out.add(str_field(where, c, "freqs_cos"), in.freqs_cos, true);
    if (c.contains("freqs_sin")) out.add(str_field(where, c, "freqs_sin"), in.freqs_sin, true);

    std::map<std::string, at::Tensor> taps;
    HunyuanForwardOptions opt;
    opt.taps = &taps;
    out.add(call, model.forward(in, opt));
    const std::string prefix = call.size() > 4 && call.compare(call.size() - 4, 4, "_out") == 0 ? call.substr(0, call.size() - 4) : call;
    for (const auto& [name, t] : taps) out.add(prefix + "_" + name, t, true);
  }
  return r;
}

FixtureResult run_hunyuan_sampler_fixture(const Fixture& f) {
  const std::string cfg_where = f.dir + "/config.json";
  if (!f.config.contains("transformer") || !f.config["transformer"].is_object()) fail(cfg_where, "no \"transformer\" object");
  json tcfg = f.config["transformer"];
  if (f.config.contains("rope")) tcfg["rope"] = f.config["rope"];
  const HunyuanModel model = HunyuanModel::load(f.weights, HunyuanConfig::from_json(tcfg), f.target.dtype, f.target.device);

  const json pc = f.config.value("pipeline_call", json::object());
  const std::string pc_where = cfg_where + " pipeline_call";
  if (pc.contains("i2v_mode") && !pc["i2v_mode"].get<bool>()) fail(pc_where, "only i2v_mode true is supported");
  if (pc.contains("i2v_condition_type") && pc["i2v_condition_type"] != "token_replace")
    fail(pc_where, "i2v_condition_type " + pc["i2v_condition_type"].dump() + " is not supported (token_replace)");
  if (pc.value("num_videos_per_prompt", 1) != 1) fail(pc_where, "num_videos_per_prompt must be 1");
  if (pc.contains("guidance_scale") && pc["guidance_scale"].is_number() && pc["guidance_scale"].get<double>() > 1.0)
    fail(pc_where, "guidance_scale > 1 (CFG) needs negative text features, which this fixture format does not record");
  HunyuanSampleOptions base;
  base.cfg_scale = 1.0;
  base.embedded_guidance_scale.reset();
  if (pc.contains("embedded_guidance_scale") && pc["embedded_guidance_scale"].is_number())
    base.embedded_guidance_scale = pc["embedded_guidance_scale"].get<double>();
  const json sc = f.config.value("scheduler_ctor", json::object());
  if (sc.contains("num_train_timesteps") && sc["num_train_timesteps"].is_number())
    base.num_train_timesteps = sc["num_train_timesteps"].get<int>();
  if (sc.contains("solver") && sc["solver"] != "euler") fail(cfg_where, "scheduler solver " + sc["solver"].dump() + " is not supported (euler)");
  if (sc.contains("reverse") && sc["reverse"].is_boolean()) base.flow_reverse = sc["reverse"].get<bool>();

  FixtureResult r;
  Outputs out{f, r, {}};
  // The stand-in text encoders' outputs and the clean image latent.
  const std::string img_name = pc.value("img_latents", std::string("img_latents"));
  for (const char* n : {"text_states", "text_mask", "text_states_2"}) r.inputs.insert(n);
  r.inputs.insert(img_name);
  const HunyuanText text{f.in("text_states"), f.in("text_mask"), f.in("text_states_2")};
  const at::Tensor img = f.in(img_name);

  if (!f.config.contains("cases") || !f.config["cases"].is_object() || f.config["cases"].empty()) fail(cfg_where, "no \"cases\" object");
  for (auto it = f.config["cases"].begin(); it != f.config["cases"].end(); ++it) {
    const std::string cname = it.key(), where = cfg_where + " case " + cname;
    const json& c = it.value();
    HunyuanSampleOptions o = base;
    o.steps = static_cast<int>(num_field(where, c, "num_inference_steps"));
    o.flow_shift = num_field(where, c, "flow_shift");
    if (c.contains("flow_reverse")) o.flow_reverse = c["flow_reverse"].get<bool>();
    if (c.contains("flow_solver") && c["flow_solver"] != "euler") fail(where, "flow_solver " + c["flow_solver"].dump() + " is not supported (euler)");
    o.i2v_stability = c.value("i2v_stability", false);
    const std::string noise_name = cname + "_noise";
    r.inputs.insert(noise_name);
    const at::Tensor noise = f.in(noise_name);
    if (noise.dim() != 5) fail(f.io.source(noise_name), "tensor '" + noise_name + "' must be [B, C, T, H, W]");

    HunyuanSampleTrace tr;
    sample_hunyuan_i2v(model, noise, img, text, nullptr, o, &tr);
    out.add(cname + "_sigmas", tr.sigmas);
    out.add(cname + "_timesteps", tr.timesteps);
    out.add(cname + "_latents_init", tr.latents_init);
    out.add(cname + "_model_input", at::stack(tr.model_input));
    out.add(cname + "_t_model", at::stack(tr.t_model));
    if (o.embedded_guidance_scale) out.add(cname + "_guidance_model", at::stack(tr.guidance_model));
    out.add(cname + "_noise_pred", at::stack(tr.noise_pred));
    out.add(cname + "_latents_after_step", at::stack(tr.latents));
  }
  // The RoPE tables the pipeline is handed, for this latent grid.
  if (pc.contains("freqs_cis") && pc["freqs_cis"].is_array() && pc["freqs_cis"].size() == 2) {
    const std::string first_case = f.config["cases"].begin().key();
    const at::Tensor& n = f.in(first_case + "_noise");
    auto [cs, sn] = model.rope_for_latent(n.size(2), n.size(3), n.size(4));
    out.add(pc["freqs_cis"][0].get<std::string>(), cs, true);
    out.add(pc["freqs_cis"][1].get<std::string>(), sn, true);
  }
  return r;
}

}  // namespace focalscope
