// examples/cli_finetune.cpp: svilm finetune.
#include "cli_common.hpp"

namespace svilm_cli {

std::vector<Subcommand> add_finetune_commands(CLI::App&) { return {}; }

}  // namespace svilm_cli
