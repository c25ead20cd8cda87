// Flow-matching samplers: parity with unipc_flow/ (UniPC 10/40 steps, DPM++ 10 steps), Euler analytic checks,
// parameter validation.
#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <map>

#include "engine/core/error.h"
#include "engine/core/fixture.h"
#include "engine/sched/scheduler.h"
#include "tests/test_util.h"

using namespace focalscope;
using focalscope::testing::close_to_ref;

namespace {
std::string fixture_dir() { return focalscope::testing::fixtures_root() + "/unipc_flow"; }

std::vector<int64_t> to_vec(const at::Tensor& t) {
  auto c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}
}  // namespace

TEST(Scheduler, UniPCScheduleMatchesUpstreamValues) {
  FlowUniPC s;
  EXPECT_FLOAT_EQ(s.train_sigmas().front(), 0.999f);
  EXPECT_EQ(static_cast<double>(s.train_sigmas().front()), 0.9990000128746033);
  EXPECT_EQ(s.train_sigmas().back(), 0.0f);
  s.set_timesteps(10, 5.0);
  EXPECT_EQ(s.timesteps(), (std::vector<int64_t>{999, 978, 952, 920, 882, 833, 768, 681, 555, 356}));
  ASSERT_EQ(s.sigmas().size(), 11u);
  EXPECT_EQ(s.sigmas().back(), 0.0f);
  s.set_timesteps(40, 3.0);
  ASSERT_EQ(s.timesteps().size(), 40u);
  EXPECT_EQ(s.timesteps()[0], 999);
  EXPECT_EQ(s.timesteps()[1], 991);
  EXPECT_EQ(s.timesteps()[2], 982);
  EXPECT_EQ(s.timesteps()[38], 136);
  EXPECT_EQ(s.timesteps()[39], 71);
}

TEST(Scheduler, DPMppScheduleMatchesUpstreamValues) {
  FlowDPMSolverPP s;
  s.set_timesteps(10, 5.0);
  EXPECT_EQ(s.timesteps(), (std::vector<int64_t>{1000, 978, 952, 921, 882, 833, 769, 681, 555, 357}));
  EXPECT_EQ(s.sigmas().front(), 1.0f);
  EXPECT_EQ(s.sigmas().back(), 0.0f);
}

TEST(Scheduler, FixtureParity) {
  Fixture fx = load_fixture(fixture_dir());
  FixtureResult r = run_scheduler_fixture(fx);
  std::map<std::string, at::Tensor> produced(r.outputs.begin(), r.outputs.end());
  // Every recorded tensor is either an input or reproduced.
  for (const auto& name : fx.io.names())
    EXPECT_TRUE(r.inputs.count(name) || produced.count(name)) << "fixture tensor '" << name << "' not reproduced";
  EXPECT_EQ(r.outputs.size() + r.inputs.size(), fx.io.size());
  EXPECT_EQ(r.inputs.size(), 4u);  // latent0 + one model_output per case
  double worst = 0.0;
  std::string worst_name;
  for (const auto& [name, ours] : r.outputs) {
    ASSERT_TRUE(fx.io.has(name)) << "runner produced '" << name << "' which the fixture does not record";
    const at::Tensor& ref = fx.in(name);
    ASSERT_EQ(ours.sizes(), ref.sizes()) << name;
    if (!at::isFloatingType(ref.scalar_type())) {
      EXPECT_EQ(to_vec(ours), to_vec(ref)) << name;  // timesteps, this_order: exact
      continue;
    }
    auto a = ours.to(at::kDouble), b = ref.to(at::kDouble);
    double err = (a - b).abs().max().item<double>() / std::max(1.0, b.abs().max().item<double>());
    if (err > worst) worst = err, worst_name = name;
    if (name.find("sigmas") != std::string::npos)
      EXPECT_TRUE(at::equal(ours.to(at::kFloat), ref)) << name << " not bit-exact";
    EXPECT_TRUE(close_to_ref(ours, ref, 1e-6)) << name;
  }
  std::printf("[scheduler parity] worst relative error %.3g (%s)\n", worst, worst_name.c_str());
}

TEST(Scheduler, EulerConstantVelocityIsExact) {
  // Straight path x_sigma = (1-sigma) x0 + sigma eps has constant velocity v = eps - x0: Euler lands on x0.
  at::manual_seed(3);
  at::Tensor x0 = at::randn({2, 3, 4, 5}), eps = at::randn({2, 3, 4, 5});
  at::Tensor v = eps - x0;
  for (auto [steps, shift] : std::vector<std::pair<int, double>>{{1, 1.0}, {10, 5.0}, {40, 3.0}, {7, 0.5}}) {
    FlowEuler s;
    s.set_timesteps(steps, shift);
    const double s0 = s.sigmas()[0];
    at::Tensor x = (1 - s0) * x0 + s0 * eps;
    for (int64_t t : std::vector<int64_t>(s.timesteps())) x = s.step(v, t, x);
    EXPECT_TRUE(s.done());
    EXPECT_TRUE(close_to_ref(x, x0, 1e-6)) << steps << " steps, shift " << shift;
    // Euler's update is exactly x + dt v: one step from sigma_0 covers (sigma_1 - sigma_0) of the path.
    s.reset();
    at::Tensor x1 = s.step(v, (1 - s0) * x0 + s0 * eps);
    const double s1 = s.sigmas()[1];
    EXPECT_TRUE(close_to_ref(x1, (1 - s1) * x0 + s1 * eps, 1e-6));
    EXPECT_TRUE(close_to_ref(s.last_step().x0_pred, x0, 1e-6));
    EXPECT_EQ(s.last_step().order, 1);
  }
}

TEST(Scheduler, AllSolversRecoverStraightPath) {
  // For a constant velocity field the data prediction is exact, so every solver must end on x0.
  at::manual_seed(4);
  at::Tensor x0 = at::randn({4, 8}), eps = at::randn({4, 8});
  for (const char* name : {"unipc", "dpm++", "euler"}) {
    auto s = make_scheduler(name);
    s->set_timesteps(12, 3.0);
    const double s0 = s->sigmas()[0];
    at::Tensor x = (1 - s0) * x0 + s0 * eps;
    for (int i = 0; i < s->num_steps(); ++i) x = s->step(eps - x0, x);
    EXPECT_TRUE(close_to_ref(x, x0, 1e-5)) << name;
  }
}

TEST(Scheduler, ResetReplaysIdentically) {
  at::manual_seed(5);
  at::Tensor x = at::randn({3, 5});
  auto run = [&](FlowScheduler& s) {
    at::Tensor y = x;
    for (int i = 0; i < s.num_steps(); ++i) y = s.step(0.9 * y + 0.2 * at::sin(3 * y), y);
    return y;
  };
  FlowUniPC s;
  s.set_timesteps(8, 5.0);
  at::Tensor a = run(s);
  s.reset();
  EXPECT_EQ(s.step_index(), 0);
  at::Tensor b = run(s);
  EXPECT_TRUE(at::equal(a, b));
}

TEST(Scheduler, CfgCombine) {
  at::Tensor u = at::full({2, 2}, 1.0), c = at::full({2, 2}, 3.0);
  EXPECT_TRUE(at::allclose(cfg_combine(u, c, 5.0), at::full({2, 2}, 11.0)));
  EXPECT_TRUE(at::equal(cfg_combine(u, c, 1.0), c));
  EXPECT_THROW(cfg_combine(u, at::zeros({3}), 5.0), Error);
}

TEST(Scheduler, BadParametersThrow) {
  EXPECT_THROW(make_scheduler("ddim"), Error);
  EXPECT_THROW(make_scheduler("unipc", 0), Error);
  for (const char* name : {"unipc", "dpm++", "euler"}) {
    auto s = make_scheduler(name);
    EXPECT_THROW(s->step(at::zeros({2}), at::zeros({2})), Error) << name << ": step before set_timesteps";
    EXPECT_THROW(s->set_timesteps(0, 5.0), Error) << name;
    EXPECT_THROW(s->set_timesteps(-3, 5.0), Error) << name;
    EXPECT_THROW(s->set_timesteps(10, 0.0), Error) << name;
    EXPECT_THROW(s->set_timesteps(10, -1.0), Error) << name;
    EXPECT_THROW(s->set_timesteps(10, std::numeric_limits<double>::quiet_NaN()), Error) << name;
    s->set_timesteps(2, 5.0);
    EXPECT_THROW(s->step(at::zeros({3}), at::zeros({2})), Error) << name << ": shape mismatch";
    EXPECT_THROW(s->step(at::zeros({2}), s->timesteps()[0] + 1, at::zeros({2})), Error) << name << ": wrong timestep";
    s->step(at::zeros({2}), s->timesteps()[0], at::ones({2}));
    s->step(at::zeros({2}), at::ones({2}));
    EXPECT_THROW(s->step(at::zeros({2}), at::ones({2})), Error) << name << ": step past the end";
  }
  try {
    make_scheduler("ddim");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ddim"), std::string::npos);
  }
}
