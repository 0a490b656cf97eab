// rackctl's log commands: logs, flush, reload-logs, loglevel (log_commands.cc).
#pragma once

#include <CLI/CLI.hpp>

namespace rack::cli {

// Adds the commands to `cli`; their callbacks set `rc` to the exit code.
void add_log_commands(CLI::App& cli, int& rc);

}  // namespace rack::cli
