// rackctl's PM2 commands (env, signal/sendSignal, reset, jlist) and the
// did-you-mean for a command rackctl does not have.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace rack::cli {

// Adds the commands to `cli`; their callbacks set `rc` to the exit code.
void add_pm2_commands(CLI::App& cli, int& rc);

// The message for argv[1] when it is no command of `cli`, else nullopt.
std::optional<std::string> unknown_command(const CLI::App& cli, int argc, char** argv);

}  // namespace rack::cli
