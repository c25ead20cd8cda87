// Running a child process from a test and reading what it printed (ffprobe, the focalscope executable). No ATen,
// so the light test files (render) can include it without the torch headers.
#pragma once
#include <cstdio>
#include <string>

namespace focalscope::testing {

// Runs `cmd` through the shell and returns its stdout (callers add 2>&1 for stderr). When rc is given it gets
// pclose's status (-1 when the shell could not be started).
inline std::string run_capture(const std::string& cmd, int* rc = nullptr) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    if (rc) *rc = -1;
    return std::string();
  }
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  if (rc) *rc = status;
  return out;
}

}  // namespace focalscope::testing
