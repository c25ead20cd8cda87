// Subcommand registry: each app/cli/cmd_*.cpp registers itself with FOCALSCOPE_COMMAND, and main()
// dispatches `focalscope <name> ...` to it. `focalscope --help` lists every registered command.
#pragma once
#include <string>
#include <vector>

namespace focalscope::cli {

using CommandFn = int (*)(const std::vector<std::string>& args);  // args after the subcommand name

struct Command {
  std::string name;
  std::string summary;  // one line for --help
  CommandFn run;
};

std::vector<Command>& commands();
bool register_command(Command c);

}  // namespace focalscope::cli

#define FOCALSCOPE_COMMAND(NAME, SUMMARY, FN) \
  static const bool focalscope_cmd_registered_##FN = ::focalscope::cli::register_command({NAME, SUMMARY, FN})
