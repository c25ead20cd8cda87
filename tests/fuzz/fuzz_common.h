// Shared by the libFuzzer harnesses: readers that take a path get the input through a per-process file in /dev/shm
// (or $TMPDIR), rewritten for every run.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace focalscope::fuzz {

inline std::string input_file(const char* suffix) {
  const char* dir = std::getenv("FUZZ_TMPDIR");
  std::string d = dir ? dir : "/dev/shm";
  if (access(d.c_str(), W_OK) != 0) d = "/tmp";
  return d + "/focalscope_fuzz_" + std::to_string(getpid()) + suffix;
}

inline const std::string& write_input(const char* suffix, const uint8_t* data, size_t size) {
  static const std::string path = input_file(suffix);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

}  // namespace focalscope::fuzz
