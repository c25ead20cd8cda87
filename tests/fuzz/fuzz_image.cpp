// libFuzzer: image decoding as the CLI does it (render::load_image: header dimensions checked against the limits
// before stb decodes anything).
#include <cstddef>
#include <cstdint>

#include "engine/core/error.h"
#include "render/image.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = focalscope::fuzz::write_input(".img", data, size);
  try {
    (void)focalscope::render::load_image(path, 3);
  } catch (const focalscope::Error&) {
  }
  return 0;
}
