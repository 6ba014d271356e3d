// examples/cli_downstream.cpp: the downstream tasks' frozen-feature programs of svilm.
#include "cli_common.hpp"

namespace svilm_cli {

std::vector<Subcommand> add_downstream_commands(CLI::App&) { return {}; }

}  // namespace svilm_cli
