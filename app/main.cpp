// focalscope: one executable, subcommands registered from app/cli/cmd_*.cpp (and app/gui/cmd_gui.cpp).
// With no subcommand, or with options only (`focalscope --demo ...`), it opens the desktop app ("gui") when
// the build has one, else prints this help.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "app/cli/command.h"
#include "engine/core/blas_check.h"
#include "engine/core/error.h"

namespace {
void print_help() {
  std::printf("FocalScope — run a Wan2.1 image-to-video DiT, look inside it layer by layer, toggle Focal Guidance.\n\n");
  std::printf("usage: focalscope <command> [options]      (focalscope <command> --help for its options)\n");
  std::printf("       focalscope [--demo | --script FILE] [...]  opens the desktop app (= focalscope gui ...)\n\ncommands:\n");
  auto cmds = focalscope::cli::commands();
  std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& c : cmds) std::printf("  %-16s %s\n", c.name.c_str(), c.summary.c_str());
}

bool has_command(const std::string& name) {
  for (const auto& c : focalscope::cli::commands())
    if (c.name == name) return true;
  return false;
}
// libtorch's OpenMP threads and OpenBLAS's own pthreads share the cores; with libgomp's default wait policy an idle
// OpenMP thread spins and starves the BLAS threads (measured on 2 cores: a DiT training step 2.2x slower, the toy
// forward ~8x). libgomp reads OMP_WAIT_POLICY once, when it is loaded, so when the user has not chosen a policy the
// process re-executes itself once with PASSIVE set; an explicit OMP_WAIT_POLICY (ACTIVE too) is left alone.
void reexec_with_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run on with the default policy
}
}  // namespace

int main(int argc, char** argv) {
  reexec_with_passive_omp_wait(argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.empty() && has_command("gui")) {
      args = {"gui"};
    } else {
      print_help();
      return 0;
    }
  } else if (args[0].rfind("--", 0) == 0 && has_command("gui")) {
    args.insert(args.begin(), "gui");  // `focalscope --demo ...` is `focalscope gui --demo ...`
  }
  for (const auto& c : focalscope::cli::commands()) {
    if (c.name != args[0]) continue;
    focalscope::warn_if_slow_blas();  // loud warning when Debian's reference BLAS is the one loaded
    try {
      return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
    } catch (const focalscope::Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 3;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s' (see focalscope --help)\n", args[0].c_str());
  return 2;
}
