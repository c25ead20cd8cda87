// libFuzzer: the one JSON reader (engine/core/json_io.h): depth / size / duplicate-key / number limits, and a dump()
// of whatever it accepts (a recursive walk must never overflow the stack).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/core/json_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nlohmann::json j = focalscope::parse_json_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)j.dump();
    (void)focalscope::json_kind(j);
  } catch (const focalscope::Error&) {
  }
  return 0;
}
