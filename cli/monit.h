// `rackctl monit`: a terminal UI over rackd (monit.cc; what it shows is
// monit_model.h, the operations its keys start monit_actions.h).
#pragma once

namespace rack::cli {

// Runs until q, Ctrl-C, SIGTERM or SIGHUP; the terminal is restored on each.
// Returns an exit code (2 when stdin/stdout is not a terminal).
int run_monit();

}  // namespace rack::cli
