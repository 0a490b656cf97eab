#include "api/control_request.h"

#include <optional>

#include "api/reply.h"
#include "rack/json.h"

namespace rack::master::api {

using json = nlohmann::json;

namespace {

using Result = std::variant<ControlRequest, http::Response>;

// `key` as a string: absent (or null, when `null_ok`) gives "", any other
// type is a 400 naming what was expected and what came.
std::optional<http::Response> string_field(const json& body, const char* key, const char* expected,
                                           std::string& out, bool null_ok = false) {
  if (!body.contains(key) || (null_ok && body[key].is_null())) return std::nullopt;
  if (!body[key].is_string())
    return error(400, std::string(key) + ": expected " + expected + " (a string), got " + got(body[key]));
  out = body[key].get<std::string>();
  return std::nullopt;
}

// POST /v1/start and /v1/reload: {"file", "only"}. rackd re-validates the
// file even though rackctl already did (it may have changed in between, and
// other clients speak to this API too); that happens when it is loaded.
std::optional<http::Response> ecosystem_fields(ControlRequest& r) {
  // `only`: one app of the file, or all of them when absent. Any other
  // type is an error, not "all".
  if (auto bad = string_field(r.body, "only", "an app name", r.only, true)) return bad;
  if (!r.body.contains("file"))
    return error(400, "body must name the ecosystem file: {\"file\":\"/abs/path.yaml\"}");
  if (auto bad = string_field(r.body, "file", "a path", r.file)) return bad;
  // A NUL would cut the path short at open(): another file than the one named.
  if (r.file.find('\0') != std::string::npos) return error(400, "file: the path contains a NUL byte");
  return std::nullopt;
}

std::optional<http::Response> route_fields(ControlRequest& r, const http::Request& req) {
  switch (r.route) {
    case Route::Start:
      return ecosystem_fields(r);
    case Route::Reload: {
      if (auto bad = ecosystem_fields(r)) return bad;
      std::string why;
      if (!reload_options(r.body, r.reload, why)) return error(400, why);
      return std::nullopt;
    }
    case Route::Upgrade:
      if (auto bad = string_field(r.body, "binary", "a path", r.binary)) return bad;
      if (r.binary.find('\0') != std::string::npos) return error(400, "binary: the path contains a NUL byte");
      return std::nullopt;
    case Route::LogsFlush:
      r.log_app = query_param(req.query, "app");
      if (std::string bad = r.log_app.empty() ? "" : app_name_error(r.log_app); !bad.empty()) return error(400, bad);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// /v1/apps/<app|all>[/<op>]: the route, or nullopt for no such endpoint.
std::optional<Route> app_route(const std::string& method, const std::string& path, ControlRequest& r) {
  std::string rest = path.substr(std::string_view("/v1/apps/").size());
  size_t slash = rest.find('/');
  r.target = rest.substr(0, slash);
  r.op = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (method == "GET" && r.op.empty()) return Route::AppDescribe;
  if (method == "DELETE" && r.op.empty()) return Route::AppDelete;
  if (method == "POST" && !r.op.empty()) return Route::AppOp;
  return std::nullopt;
}

std::optional<Route> fixed_route(const std::string& m, const std::string& p) {
  struct Fixed {
    const char* method;
    const char* path;
    Route route;
  };
  static const Fixed routes[] = {
      {"GET", "/v1/ping", Route::Ping},          {"GET", "/v1/status", Route::Status},
      {"GET", "/v1/metrics", Route::Metrics},    {"GET", "/v1/config", Route::Config},
      {"POST", "/v1/start", Route::Start},       {"POST", "/v1/reload", Route::Reload},
      {"POST", "/v1/upgrade", Route::Upgrade},   {"POST", "/v1/kill", Route::Kill},
      {"GET", "/v1/logs", Route::Logs},          {"POST", "/v1/logs/reopen", Route::LogsReopen},
      {"POST", "/v1/logs/flush", Route::LogsFlush},
  };
  for (const Fixed& f : routes)
    if (m == f.method && p == f.path) return f.route;
  return std::nullopt;
}

}  // namespace

Result parse_control_request(const http::Request& req) {
  ControlRequest r;
  if (!req.body.empty()) {
    std::string why;
    std::optional<json> parsed = json_input::parse(req.body, why);
    if (!parsed) return error(400, "body is not usable JSON: " + why);
    if (!parsed->is_object()) return error(400, "body: expected a JSON object, got " + got(*parsed));
    r.body = std::move(*parsed);
  }
  const std::string& m = req.method;
  const std::string& p = req.path;
  // Paths are compared whole, never percent-decoded: a NUL (raw or %00)
  // would only ever name something other than what it seems to.
  if (p.find('\0') != std::string::npos || p.find("%00") != std::string::npos)
    return error(400, "the request path contains a NUL byte");
  std::optional<Route> route = fixed_route(m, p);
  if (!route && p.rfind("/v1/apps/", 0) == 0) {
    route = app_route(m, p, r);
    // Checked whatever the method: a bad name is a 400, not a 404.
    if (std::string bad = app_name_error(r.target); !bad.empty()) return error(400, bad);
  }
  if (!route) return error(404, "no such endpoint: " + m + " " + p);
  r.route = *route;
  if (auto bad = route_fields(r, req)) return *bad;
  return r;
}

bool answers_while_shutting_down(Route route) { return route == Route::Ping || route == Route::Status; }

bool reload_options(const json& body, ReloadOptions& out, std::string& why) {
  if (body.contains("canary")) {
    if (!body["canary"].is_boolean()) {
      why = "canary: expected true or false, got " + got(body["canary"]);
      return false;
    }
    out.canary = body["canary"].get<bool>() ? ReloadOptions::Canary::On : ReloadOptions::Canary::Off;
  }
  if (body.contains("watch")) {
    auto d = body["watch"].is_string() ? config::parse_duration(body["watch"].get<std::string>()) : std::nullopt;
    if (!d || d->count() <= 0) {
      why = "watch: expected a duration above 0 like 30s, got " + got(body["watch"]);
      return false;
    }
    if (out.canary == ReloadOptions::Canary::Off) {
      why = "watch applies to canary reloads, and canary is false";
      return false;
    }
    out.watch = d;
  }
  return true;
}

}  // namespace rack::master::api
