// rackctl's side of the control API: finding RACK_HOME, starting rackd when
// it is not running, and mapping answers to exit codes.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "rack/http_client.h"

namespace rack::cli {

// rackctl exit codes (DESIGN.md).
enum Exit { kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3 };

std::string rack_home();
std::string socket_path();

struct Answer {
  int exit = kOk;       // what rackctl should exit with if this is the end
  int status = 0;       // HTTP status
  nlohmann::json body;  // parsed body (or {"error": text})
};

// One request. Reports unreachable / protocol errors on stderr.
Answer call(const std::string& method, const std::string& target, const nlohmann::json& body = nullptr);
// A streaming request: each JSON line goes to on_line. Returns the exit code
// implied by the last line ({"ok":false} → 1).
int call_stream(const std::string& method, const std::string& target, const nlohmann::json& body,
                const std::function<void(const nlohmann::json&)>& on_line);

bool daemon_running();

// rackd's version and git revision against this rackctl's: "" when they
// are the same build (or either revision is unknown and the versions
// match), else the warning to print. `rackd`: GET /v1/ping's body.
std::string version_skew(const nlohmann::json& rackd, std::string_view version, std::string_view revision);
// The first request of a run to reach rackd first asks GET /v1/ping and
// warns on stderr, once, when version_skew() finds a difference. Off for
// `rackctl upgrade`, which is the remedy and reports both versions itself.
void check_version_once();
void skip_version_check();
// Starts rackd in the background if it is not running. Returns kOk or an exit code.
int ensure_daemon();

}  // namespace rack::cli
