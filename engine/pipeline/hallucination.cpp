#include "engine/pipeline/hallucination.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/error.h"

namespace focalscope {

HallucinationTracker::HallucinationTracker(int window, const at::Tensor& mask) {
  if (window < 2) fail("--hallucination-window", std::to_string(window) + " is below 2 (a variance needs two steps)");
  if (window > 1000) fail("--hallucination-window", std::to_string(window) + " is above 1000");
  trace_.window = window;
  if (mask.defined()) {
    c10::InferenceMode guard;
    at::Tensor m = mask.to(at::kCPU).to(at::kFloat);
    if (m.dim() == 4 && m.size(0) == 1) m = m[0];
    if (m.dim() != 3) fail("hallucination mask", "expected a [F, H, W] latent-grid mask, got " + std::to_string(m.dim()) + " dimensions");
    m = m.contiguous();
    const float* d = m.data_ptr<float>();
    for (int64_t i = 0; i < m.numel(); ++i) {
      mask_.push_back(d[i] != 0);
      mask_count_ += d[i] != 0;
    }
    if (mask_count_ == 0) fail("hallucination mask", "is empty: no latent position is inside it");
    trace_.grid = {m.size(0), m.size(1), m.size(2)};
  }
}

void HallucinationTracker::add(const at::Tensor& x0_in) {
  c10::InferenceMode guard;
  if (!x0_in.defined() || x0_in.dim() != 4) fail("hallucination metric", "x0 must be a [C, F, H, W] latent");
  const at::Tensor x0 = x0_in.to(at::kCPU).to(at::kFloat).contiguous();
  if (trace_.steps() == 0 && mask_.empty()) trace_.grid = {x0.size(1), x0.size(2), x0.size(3)};
  if (x0.size(1) != trace_.grid[0] || x0.size(2) != trace_.grid[1] || x0.size(3) != trace_.grid[2])
    fail("hallucination mask", "its grid differs from the latent's");
  if (!recent_.empty() && static_cast<int64_t>(recent_.back().size()) != x0.numel())
    fail("hallucination metric", "the latent changed size between steps");
  // Plain loops over a copy of the latent: a handful of ATen ops per step would cost more in dispatch than the
  // arithmetic (16 k elements on the embedded model), and at 14B scale (2 M elements x W) it is still milliseconds.
  const float* d = x0.data_ptr<float>();
  if (static_cast<int>(recent_.size()) == trace_.window) {
    std::vector<float> reuse = std::move(recent_.front());
    recent_.pop_front();
    reuse.assign(d, d + x0.numel());
    recent_.push_back(std::move(reuse));
  } else {
    recent_.emplace_back(d, d + x0.numel());
  }
  const int n = static_cast<int>(recent_.size());
  trace_.window_used.push_back(n);
  if (n < 2) {
    trace_.global.push_back(std::numeric_limits<double>::quiet_NaN());
    if (!mask_.empty()) trace_.local.push_back(std::numeric_limits<double>::quiet_NaN());
    trace_.maps.emplace_back();
    return;
  }
  const int64_t C = x0.size(0), P = x0.numel() / C;
  std::vector<float> map(static_cast<size_t>(P), 0.0f);
  double total = 0, inside = 0;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t p = 0; p < P; ++p) {
      const size_t i = static_cast<size_t>(c * P + p);
      double mean = 0;
      for (const auto& r : recent_) mean += r[i];
      mean /= n;
      double ss = 0;
      for (const auto& r : recent_) ss += (r[i] - mean) * (r[i] - mean);
      const double var = ss / (n - 1);  // unbiased, as the notes' 1 / (W - 1)
      map[static_cast<size_t>(p)] += static_cast<float>(var / static_cast<double>(C));
      total += var;
      if (!mask_.empty() && mask_[static_cast<size_t>(p)]) inside += var;
    }
  trace_.global.push_back(total / static_cast<double>(C * P));
  if (!mask_.empty()) trace_.local.push_back(inside / static_cast<double>(C * mask_count_));
  trace_.maps.push_back(std::move(map));
}

namespace {
std::string num(double v) {
  if (!std::isfinite(v)) return "";
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}
}  // namespace

std::string hallucination_csv(const HallucinationTrace& t) {
  std::ostringstream o;
  o << "step,window,sigma2_global" << (t.has_local() ? ",sigma2_local" : "") << "\n";
  for (int k = 0; k < t.steps(); ++k) {
    o << k << "," << t.window_used[k] << "," << num(t.global[k]);
    if (t.has_local()) o << "," << num(t.local[k]);
    o << "\n";
  }
  return o.str();
}

std::string hallucination_json(const HallucinationTrace& t, double tau) {
  auto arr = [](const std::vector<double>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : v) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr));
    return a;
  };
  nlohmann::json j = {{"format", "focalscope.hallucination/1"},
                      {"window", t.window},
                      {"tau", tau},
                      {"reduction", "mean over elements of the per-element variance of x0 over the last window steps"},
                      {"grid", {t.grid[0], t.grid[1], t.grid[2]}},
                      {"window_used", t.window_used},
                      {"sigma2_global", arr(t.global)},
                      {"maps", t.maps}};
  if (t.has_local()) j["sigma2_local"] = arr(t.local);
  return j.dump() + "\n";
}

std::string hallucination_summary(const HallucinationTrace& t, double tau) {
  if (t.window == 0 || t.steps() == 0) return "hallucination metric: off";
  const auto& c = t.curve();
  int above = 0, valid = 0, argmax = -1;
  double mx = -1;
  for (int k = 0; k < static_cast<int>(c.size()); ++k) {
    if (!std::isfinite(c[k])) continue;
    ++valid;
    above += c[k] > tau;
    if (c[k] > mx) mx = c[k], argmax = k;
  }
  char b[256];
  std::snprintf(b, sizeof b, "hallucination sigma2 (%s, window %d): final %.3g, max %.3g at step %d, %d of %d steps above tau %.3g",
                t.has_local() ? "inside the mask" : "whole latent", t.window, c.back(), mx, argmax, above, valid, tau);
  return b;
}

}  // namespace focalscope
