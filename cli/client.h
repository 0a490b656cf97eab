// rackctl's side of the control API: finding RACK_HOME, starting rackd when
// it is not running, and mapping answers to exit codes.
#pragma once

#include <string>

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
// Starts rackd in the background if it is not running. Returns kOk or an exit code.
int ensure_daemon();

}  // namespace rack::cli
