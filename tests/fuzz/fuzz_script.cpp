// libFuzzer: the GUI's script reader (`focalscope --script FILE`, app/session/script.cpp) — every verb's argument
// checks, the FG / KV-Lock parameter parsers it calls, the size limit. Besides no crash / hang / UB, each refusal
// must be ONE line naming the script (the GUI prints it before any window opens): a message with a newline, or one
// that does not start with the file's path, aborts the run as a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "app/session/script.h"
#include "engine/core/error.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = focalscope::fuzz::write_input(".script", data, size);
  try {
    (void)focalscope::session::parse_script(path);
  } catch (const focalscope::Error& e) {
    const std::string m = e.what();
    if (m.find('\n') != std::string::npos || m.rfind(path, 0) != 0) std::abort();
  }
  return 0;
}
