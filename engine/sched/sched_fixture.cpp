// Fixture runner for unipc_flow/ (see scheduler.h).
#include <ATen/ATen.h>

#include "engine/core/error.h"
#include "engine/core/limits.h"
#include "engine/sched/scheduler.h"

namespace focalscope {

namespace {

using json = nlohmann::json;

// Fails unless cfg[key] (when present) equals `want`: the fixture must describe the solver we implement.
void expect_setting(const std::string& where, const json& cfg, const std::string& key, const json& want) {
  if (!cfg.is_object() || !cfg.contains(key)) return;
  const json& got = cfg[key];
  bool same = got == want;
  if (!same && got.is_number() && want.is_number()) same = got.get<double>() == want.get<double>();
  if (!same) fail(where, "setting " + key + " = " + got.dump() + " is not supported (expected " + want.dump() + ")");
}

double number(const std::string& where, const json& obj, const std::string& key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_number()) fail(where, "missing number \"" + key + "\"");
  return obj[key].get<double>();
}

// A whole number in [lo, hi] (checked before any cast or allocation: 1e9 steps must not build a 1e9 schedule).
int integer_in(const std::string& where, const json& obj, const std::string& key, int64_t lo, int64_t hi) {
  const double v = number(where, obj, key);
  if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) || v != static_cast<double>(static_cast<int64_t>(v)))
    fail(where, "\"" + key + "\" = " + obj[key].dump() + " must be a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

}  // namespace

FixtureResult run_scheduler_fixture(const Fixture& fx) {
  const std::string cfg_where = fx.dir + "/config.json";
  if (!fx.config.contains("cases") || !fx.config["cases"].is_object() || fx.config["cases"].empty())
    fail(cfg_where, "no \"cases\" object");
  FixtureResult res;
  res.inputs.insert("latent0");
  const at::Tensor latent0 = fx.in("latent0").to(at::kFloat);

  for (auto it = fx.config["cases"].begin(); it != fx.config["cases"].end(); ++it) {
    const std::string cname = it.key();
    const json& c = it.value();
    const std::string where = cfg_where + " case " + cname;
    if (!c.contains("solver") || !c["solver"].is_string()) fail(where, "missing \"solver\"");
    const std::string solver = c["solver"].get<std::string>();

    const json ctor = c.value("scheduler_ctor", json::object());
    const int num_train = ctor.contains("num_train_timesteps")
                              ? integer_in(where, ctor, "num_train_timesteps", 1, limits::kMaxTrainTimesteps) : 1000;
    expect_setting(where, ctor, "shift", 1);
    expect_setting(where, ctor, "use_dynamic_shifting", false);
    const json defs = c.value("scheduler_defaults", json::object());
    expect_setting(where, defs, "solver_order", 2);
    expect_setting(where, defs, "prediction_type", "flow_prediction");
    expect_setting(where, defs, "predict_x0", true);
    expect_setting(where, defs, "lower_order_final", true);
    expect_setting(where, defs, "final_sigmas_type", "zero");
    expect_setting(where, defs, "disable_corrector", json::array());
    expect_setting(where, defs, "euler_at_final", false);
    expect_setting(where, defs, "algorithm_type", "dpmsolver++");

    int steps = 0;
    double shift = 0.0;
    if (c.contains("set_timesteps")) {
      steps = integer_in(where, c["set_timesteps"], "num_inference_steps", 1, limits::kMaxSteps);
      shift = number(where, c["set_timesteps"], "shift");
    } else {
      if (!c.is_object()) fail(where, "case is not an object");
      steps = integer_in(where, c, "steps", 1, limits::kMaxSteps);
      shift = number(where, c, "shift");
    }
    if (!(shift > 0 && shift <= 1000)) fail(where, "shift " + std::to_string(shift) + " must be in (0, 1000]");
    if (solver == "unipc") expect_setting(where, defs, "solver_type", "bh2");
    if (solver == "dpm++") expect_setting(where, defs, "solver_type", "midpoint");
    if (solver != "unipc" && solver != "dpm++") fail(where, "unknown solver '" + solver + "'");

    auto sched = make_scheduler(solver, num_train);
    sched->set_timesteps(steps, shift);
    const int n = sched->num_steps();

    const std::string mo_name = cname + "_model_output";
    res.inputs.insert(mo_name);
    const at::Tensor mo = fx.in(mo_name).to(at::kFloat);
    if (mo.dim() != latent0.dim() + 1 || mo.size(0) != n || mo.sizes().slice(1) != latent0.sizes())
      fail(fx.io.source(mo_name), "tensor '" + mo_name + "' has shape " + shape_str(mo.sizes()) + ", expected [" +
                                      std::to_string(n) + "," + shape_str(latent0.sizes()).substr(1));

    std::vector<at::Tensor> lat, x0, corr;
    std::vector<int64_t> orders;
    at::Tensor latent = latent0.unsqueeze(0);  // upstream steps a batch of one
    for (int i = 0; i < n; ++i) {
      latent = sched->step(mo[i].unsqueeze(0), sched->timesteps()[static_cast<size_t>(i)], latent);
      lat.push_back(latent[0]);
      x0.push_back(sched->last_step().x0_pred[0]);
      corr.push_back(sched->last_step().corrected_sample[0]);
      orders.push_back(sched->last_step().order);
    }

    auto i64 = [](const std::vector<int64_t>& v) {
      return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong));
    };
    auto f32 = [](const std::vector<float>& v) { return at::tensor(at::ArrayRef<float>(v), at::TensorOptions().dtype(at::kFloat)); };
    res.outputs.emplace_back(cname + "_timesteps", i64(sched->timesteps()));
    res.outputs.emplace_back(cname + "_sigmas", f32(sched->sigmas()));
    res.outputs.emplace_back(cname + "_latent_after_step", at::stack(lat));
    // Diagnostics the folder records only for some cases.
    if (auto* u = dynamic_cast<FlowUniPC*>(sched.get()); u && fx.io.has(cname + "_init_sigmas"))
      res.outputs.emplace_back(cname + "_init_sigmas", f32(u->train_sigmas()));
    if (fx.io.has(cname + "_x0_pred")) res.outputs.emplace_back(cname + "_x0_pred", at::stack(x0));
    if (fx.io.has(cname + "_corrected_sample")) res.outputs.emplace_back(cname + "_corrected_sample", at::stack(corr));
    if (fx.io.has(cname + "_this_order")) res.outputs.emplace_back(cname + "_this_order", i64(orders));
  }
  return res;
}

}  // namespace focalscope
