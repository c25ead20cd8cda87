#include "app/cli/command.h"

namespace focalscope::cli {

std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}

bool register_command(Command c) {
  commands().push_back(std::move(c));
  return true;
}

}  // namespace focalscope::cli
