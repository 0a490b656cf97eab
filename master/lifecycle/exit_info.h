// How a worker process ended, as rackd reports it.
#pragma once

#include <string>

namespace rack::master {

// Why a worker ended, for status and the log line that says so.
// `we_killed`: rackd sent the SIGKILL itself, so it is not a possible OOM.
std::string describe_exit(int wait_status, bool we_killed = false);

}  // namespace rack::master
