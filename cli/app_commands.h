// rackctl's commands that start and change apps: start, stop, restart,
// reload, delete, convert and scale (app_commands.cc).
#pragma once

#include <CLI/CLI.hpp>

namespace rack::cli {

// Add the commands to `cli`, in this order; their callbacks set `rc` to the exit code.
void add_start_command(CLI::App& cli, int& rc);
void add_app_commands(CLI::App& cli, int& rc);  // stop, restart, reload, delete, convert, scale

// GET /v1/status as rackctl status prints it (the table, or --json as is).
// Returns the exit code.
int print_status(bool as_json);

}  // namespace rack::cli
