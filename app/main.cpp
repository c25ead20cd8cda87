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
#include "engine/core/json_io.h"

namespace {
void print_help() {
  std::printf("FocalScope — run a Wan2.1 image-to-video DiT, look inside it layer by layer, toggle Focal Guidance.\n\n");
  std::printf("usage: focalscope <command> [options]      (focalscope <command> --help for its options)\n");
  std::printf("       focalscope [--demo | --script FILE] [...]  opens the desktop app (= focalscope gui ...)\n\ncommands:\n");
  auto cmds = focalscope::cli::commands();
  std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& c : cmds) std::printf("  %-16s %s\n", c.name.c_str(), c.summary.c_str());
}

// Every error is ONE line starting "error: " (a message with a newline, or a library's "[json.exception...]" tag,
// is flattened / scrubbed here, the last safety net) and bounded in length.
void print_error(const std::string& what) {
  std::string s = focalscope::scrub_library_tags(what);
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 4000) s = s.substr(0, 4000) + "...";
  std::fprintf(stderr, "error: %s\n", s.c_str());
}

bool has_command(const std::string& name) {
  for (const auto& c : focalscope::cli::commands())
    if (c.name == name) return true;
  return false;
}
// Both settings below are read once, when the libraries load, so the process sets what the user has not chosen
// and re-executes itself once; a variable the user sets is left alone.
//  * OMP_WAIT_POLICY=PASSIVE: libtorch's OpenMP threads and OpenBLAS's own pthreads share the cores; with libgomp's
//    default policy an idle OpenMP thread spins and starves the BLAS threads (measured on 2 cores: a DiT training
//    step 2.2x slower, the toy forward ~8x).
//  * OPENBLAS_CORETYPE: OpenBLAS falls back to its oldest x86-64 kernels on CPUs newer than itself (Debian's 0.3.21
//    picks SSE3 "Prescott" on an AVX-512 BF16 Xeon: a toy DiT forward 2.2x slower); openblas_core_upgrade names the
//    kernels the CPU can run, and FOCALSCOPE_OPENBLAS_OWN_CORE keeps OpenBLAS's own pick for `focalscope info`.
void reexec_with_tuned_libraries(char** argv) {
  bool changed = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0) changed = true;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    const std::string own = focalscope::openblas_core();
    const std::string better = focalscope::openblas_core_upgrade(own, focalscope::detect_cpu_isa());
    if (!better.empty() && ::setenv("OPENBLAS_CORETYPE", better.c_str(), 1) == 0) {
      ::setenv("FOCALSCOPE_OPENBLAS_OWN_CORE", own.c_str(), 1);
      changed = true;
    }
  }
  if (changed) ::execv("/proc/self/exe", argv);  // returns only on failure: then run on as loaded
}
}  // namespace

int main(int argc, char** argv) {
  reexec_with_tuned_libraries(argv);
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
      print_error(e.what());
      return 2;
    } catch (const nlohmann::json::exception& e) {
      // A JSON value of the wrong type that a reader did not check itself: still an input error, said in words.
      print_error(std::string("invalid value in a JSON input: ") + e.what());
      return 2;
    } catch (const std::bad_alloc&) {
      print_error("out of memory (the inputs ask for more memory than this machine has; see docs/robustness.md for the limits)");
      return 2;
    } catch (const std::exception& e) {
      if (const std::string oom = focalscope::describe_allocation_failure(e.what()); !oom.empty()) {  // sizes, not a bug
        print_error(oom);
        return 2;
      }
      print_error(std::string("internal error: ") + e.what());
      return 3;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s' (see focalscope --help)\n", args[0].c_str());
  return 2;
}
