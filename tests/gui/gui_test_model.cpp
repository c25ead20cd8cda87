// gui_test_model FIXTURE_DIR OUT_DIR: writes the GUI tests' model folder (see test_model.h).
#include <cstdio>

#include "tests/gui/test_model.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: gui_test_model FIXTURE_DIR OUT_DIR\n");
    return 2;
  }
  try {
    focalscope::testing::write_gui_test_model(argv[1], argv[2]);
    std::printf("%s\n", argv[2]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
