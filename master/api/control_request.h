// The control API's first step, before the Supervisor is touched: the body
// parsed (bounded JSON, an object), the path checked (no NUL, a valid app
// name), the route found, and the fields each route reads checked for type
// and shape. No socket and no supervisor: tests/fuzz/control_api.cc feeds
// it arbitrary requests. serve_control (control_api.h) carries out what it
// returns.
#pragma once

#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "app/reload_options.h"
#include "rack/http_message.h"

namespace rack::master::api {

enum class Route {
  Ping,         // GET /v1/ping
  Status,       // GET /v1/status
  Metrics,      // GET /v1/metrics
  Config,       // GET /v1/config
  Start,        // POST /v1/start
  Reload,       // POST /v1/reload
  Upgrade,      // POST /v1/upgrade
  Kill,         // POST /v1/kill
  Logs,         // GET /v1/logs (its query is checked by logs_api.cc)
  LogsReopen,   // POST /v1/logs/reopen
  LogsFlush,    // POST /v1/logs/flush
  AppDescribe,  // GET /v1/apps/<app>
  AppDelete,    // DELETE /v1/apps/<app|all>
  AppOp,        // POST /v1/apps/<app|all>/<op> (the op is checked by app_ops.cc)
};

struct ControlRequest {
  Route route = Route::Ping;
  nlohmann::json body = nlohmann::json::object();  // always an object
  std::string file;       // Start, Reload: the ecosystem file, a string with no NUL (not opened yet)
  std::string only;       // Start, Reload: one app of it, "" = all
  ReloadOptions reload;   // Reload
  std::string binary;     // Upgrade: "" = rackd's own path
  std::string log_app;    // LogsFlush: ?app=, "" = all (a valid app name)
  std::string target;     // App*: a valid app name or "all"
  std::string op;         // AppOp
};

// The route and its checked fields, or the answer to send (400 or 404)
// naming what was wrong.
std::variant<ControlRequest, http::Response> parse_control_request(const http::Request& req);

// The routes that still answer while rackd shuts down (409 for the rest).
bool answers_while_shutting_down(Route route);

// A reload's options from its body: {"canary": true|false, "watch": "30s"}.
// False with `error` naming the bad field.
bool reload_options(const nlohmann::json& body, ReloadOptions& out, std::string& error);

}  // namespace rack::master::api
