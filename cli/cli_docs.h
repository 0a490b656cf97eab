// `rackctl completion bash|zsh` and `rackctl man`: generated from the
// CLI11 definition, so commands are written down once.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace rack::cli {

std::string bash_completion(const CLI::App& cli);
std::string zsh_completion(const CLI::App& cli);
std::string man_page(const CLI::App& cli);

// Adds `completion` and `man` to `cli` (call it after every other command).
void add_doc_commands(CLI::App& cli, int& rc);

}  // namespace rack::cli
