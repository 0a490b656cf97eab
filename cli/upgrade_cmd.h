// `rackctl upgrade [--binary PATH]`: rackd execs a new binary in place
// (same pid, every worker kept), and rackctl waits for the outcome.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace rack::cli {

// 0 once the new image runs; 1 when the binary was refused, the exec
// failed or the new image gave the state back (the reason on stderr).
int cmd_upgrade(const std::string& binary);

}  // namespace rack::cli
