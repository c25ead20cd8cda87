#include "app/cli/progress.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace focalscope::cli {

namespace {
std::atomic<bool> g_cancel{false};
void on_sigint(int) {
  if (g_cancel.exchange(true)) _exit(130);
}
}  // namespace

void print_progress(const std::string& label, int done, int total, double elapsed_s, double eta_s) {
  const bool tty = isatty(fileno(stderr));
  // Into a log file: a line every 30 s of the caller's clock and the last one, not one per call.
  static double last_logged = -1e9;
  if (!tty) {
    if (done < total && elapsed_s - last_logged < 30 && elapsed_s >= last_logged) return;
    last_logged = done >= total ? -1e9 : elapsed_s;
  }
  const int width = 24;
  const int fill = total > 0 ? done * width / total : 0;
  char bar[width + 1];
  for (int i = 0; i < width; ++i) bar[i] = i < fill ? '#' : '-';
  bar[width] = 0;
  std::fprintf(stderr, "%s%s %d/%d [%s] %.1f s, ETA %.1f s%s", tty ? "\r" : "", label.c_str(), done, total, bar,
               elapsed_s, eta_s, tty ? "   " : "\n");
  std::fflush(stderr);
}

void end_progress() {
  if (isatty(fileno(stderr))) std::fprintf(stderr, "\n");
}

std::atomic<bool>& install_cancel_on_sigint() {
  std::signal(SIGINT, on_sigint);
  return g_cancel;
}

}  // namespace focalscope::cli
