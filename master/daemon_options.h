// rackd's command line, defined once with CLI11: parsing, `rackd --help`
// and the man page rackd.8 (which the build writes with `rackd --man`,
// master/CMakeLists.txt) all come from the same definition.
//
//   rack::master::DaemonArgs args;
//   if (auto code = rack::master::parse_daemon_args(argc, argv, args, std::cout, std::cerr)) return *code;
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "rack/config.h"

namespace rack::master {

struct DaemonArgs {
  bool foreground = false;
  bool stdout_logs = true;  // with --no-daemon: app lines on stdout too
  std::string home;         // --home, else $RACK_HOME, else ~/.rack
  std::string ecosystem;
  int adopt_state = -1;     // an upgrade: the state's memfd
  int previous_image = -1;  // the image that wrote it, to go back to
  int check_state = -1;     // an upgrade's pre-flight: check this state, adopt nothing
  std::string upgrade_failed;
  // $RACK_ADMIN: rack.admin for an ecosystem that does not set it; unset
  // leaves the config's default (127.0.0.1:9650).
  std::optional<std::optional<config::ListenAddr>> admin;
};

// Fills `args` from argv and the environment (RACK_HOME, RACK_STDOUT_LOGS,
// RACK_ADMIN).
// Returns the exit code when rackd should exit at once: 0 after --help,
// --version or --man (printed to `out`), 2 for a usage error (named on `err`).
std::optional<int> parse_daemon_args(int argc, const char* const* argv, DaemonArgs& args, std::ostream& out,
                                     std::ostream& err);

// $RACK_ADMIN: unset (nullopt), "off" (an empty address) or host:port;
// anything else sets `error`.
std::optional<std::optional<config::ListenAddr>> admin_from_environment(std::string& error);

// rackd.8, in roff.
std::string daemon_man_page();

}  // namespace rack::master
