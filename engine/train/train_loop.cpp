#include "engine/train/train_loop.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/core/error.h"

namespace focalscope::train {

namespace {
using Clock = std::chrono::steady_clock;
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }
}  // namespace

StopSignalScope::StopSignalScope() {
  g_stop.store(false);
  old_int_ = std::signal(SIGINT, on_stop_signal);
  old_term_ = std::signal(SIGTERM, on_stop_signal);
}

StopSignalScope::~StopSignalScope() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

bool stop_requested() { return g_stop.load(); }

double lr_cooldown_factor(int64_t s, int64_t target, int64_t cooldown) {
  if (cooldown <= 0 || s < target - cooldown) return 1.0;
  return std::clamp(double(target - s) / double(cooldown), 0.0, 1.0);
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

StageResult run_loop(const StageOptions& opt, const LoopSpec& spec) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(opt.out_dir) / spec.stage;
  fs::create_directories(dir);
  const fs::path csv_path = dir / "loss.csv";
  const bool append = spec.start_step > 0 && fs::exists(csv_path);
  std::ofstream csv(csv_path, append ? std::ios::app : std::ios::trunc);
  if (!csv) fail(csv_path.string(), "cannot write the loss log");
  if (!append) {
    csv << "step,wall_s";
    for (const auto& c : spec.columns) csv << "," << c;
    csv << ",samples_per_s\n";
  }

  StopSignalScope signals;
  StageResult r;
  r.first_step = spec.start_step;
  r.steps_done = spec.start_step;
  const bool tty = ::isatty(STDERR_FILENO);
  const auto t0 = Clock::now();
  auto last_ckpt = t0, last_line = t0;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  std::vector<double> sums(spec.columns.size(), 0.0);
  double samples = 0;
  int64_t n_in_window = 0;
  double ema_loss = NAN;

  for (int64_t s = spec.start_step; s < spec.target_steps; ++s) {
    if (opt.minutes > 0 && elapsed() >= opt.minutes * 60) break;
    if (stop_requested()) break;
    std::vector<double> v = spec.step(s);
    r.steps_done = s + 1;
    samples += static_cast<double>(spec.samples_at ? spec.samples_at(s) : spec.samples_per_step);
    r.losses.push_back(v.empty() ? NAN : v[0]);
    if (!v.empty() && std::isfinite(v[0])) ema_loss = std::isnan(ema_loss) ? v[0] : 0.98 * ema_loss + 0.02 * v[0];
    for (size_t i = 0; i < sums.size() && i < v.size(); ++i) sums[i] += v[i];
    ++n_in_window;

    const double el = elapsed();
    const double done = static_cast<double>(r.steps_done - spec.start_step);
    const double sps = samples / std::max(el, 1e-9);
    if (opt.log_every > 0 && (r.steps_done % opt.log_every == 0 || r.steps_done == spec.target_steps)) {
      csv << r.steps_done << "," << el;
      for (double x : sums) csv << "," << x / n_in_window;
      csv << "," << sps << "\n";
      csv.flush();
      std::fill(sums.begin(), sums.end(), 0.0);
      n_in_window = 0;
    }
    if (!opt.quiet) {
      const double left_steps = static_cast<double>(spec.target_steps - r.steps_done);
      double eta = left_steps / std::max(done / std::max(el, 1e-9), 1e-9);
      if (opt.minutes > 0) eta = std::min(eta, opt.minutes * 60 - el);
      const bool show = tty || std::chrono::duration<double>(Clock::now() - last_line).count() >= 30 ||
                        r.steps_done == spec.target_steps;
      if (show) {
        const int width = 24;
        const double frac = static_cast<double>(r.steps_done) / std::max<int64_t>(1, spec.target_steps);
        std::string bar(static_cast<size_t>(std::lround(frac * width)), '#');
        bar.resize(width, '.');
        std::fprintf(stderr, "%s[%s] [%s] step %lld/%lld loss %.4f (avg %.4f) | %.1f samples/s | %s elapsed | ETA %s%s",
                     tty ? "\r" : "", spec.stage.c_str(), bar.c_str(), static_cast<long long>(r.steps_done),
                     static_cast<long long>(spec.target_steps), v.empty() ? NAN : v[0], ema_loss, sps,
                     format_duration(el).c_str(), format_duration(eta).c_str(), tty ? "   " : "\n");
        std::fflush(stderr);
        last_line = Clock::now();
      }
    }
    if (spec.checkpoint && opt.checkpoint_minutes > 0 &&
        std::chrono::duration<double>(Clock::now() - last_ckpt).count() >= opt.checkpoint_minutes * 60) {
      spec.checkpoint(r.steps_done);
      last_ckpt = Clock::now();
    }
  }
  if (!opt.quiet && tty) std::fprintf(stderr, "\n");
  if (spec.checkpoint && r.steps_done > spec.start_step) spec.checkpoint(r.steps_done);
  r.seconds = elapsed();
  r.samples_per_s = samples / std::max(r.seconds, 1e-9);
  if (stop_requested() && !opt.quiet) std::fprintf(stderr, "[%s] stopped by signal at step %lld (checkpoint saved)\n", spec.stage.c_str(), static_cast<long long>(r.steps_done));
  return r;
}

}  // namespace focalscope::train
