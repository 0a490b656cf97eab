#include "api/control_api.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "api/app_ops.h"
#include "api/logs_api.h"
#include "api/reply.h"
#include "rack/json.h"
#include "rack/version.h"
#include "supervisor.h"
#include "upgrade/exec.h"

namespace rack::master {

using json = nlohmann::json;

namespace {

using api::error;
using api::got;
using api::ok;
using api::query_param;

// Loads an ecosystem named in a request body. rackd re-validates even
// though rackctl already did: the file may have changed in between, and
// other clients speak to this API too.
std::optional<config::Ecosystem> load_ecosystem(const json& body, http::Responder& res) {
  if (!body.contains("file")) {
    res.send(error(400, "body must name the ecosystem file: {\"file\":\"/abs/path.yaml\"}"));
    return std::nullopt;
  }
  if (!body["file"].is_string()) {
    res.send(error(400, "file: expected a path (a string), got " + got(body["file"])));
    return std::nullopt;
  }
  // A NUL would cut the path short at open(): another file than the one named.
  if (body["file"].get_ref<const std::string&>().find('\0') != std::string::npos) {
    res.send(error(400, "file: the path contains a NUL byte"));
    return std::nullopt;
  }
  try {
    return config::load_file(body["file"].get<std::string>());
  } catch (const config::ConfigError& e) {
    res.send(error(400, e.what()));
    return std::nullopt;
  }
}

std::string str_field(const json& body, const char* key) {
  return body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : "";
}

// `only`: one app of the file, or all of them when absent. Any other type
// is an error, not "all".
bool only_field(const json& body, std::string& only, http::Responder& res) {
  if (body.contains("only") && !body["only"].is_string() && !body["only"].is_null()) {
    res.send(error(400, "only: expected an app name (a string), got " + got(body["only"])));
    return false;
  }
  only = str_field(body, "only");
  return true;
}

}  // namespace

void serve_control(Supervisor& sup, http::Request& req, http::Responder res) {
  json body = json::object();
  if (!req.body.empty()) {
    std::string why;
    std::optional<json> parsed = json_input::parse(req.body, why);
    if (!parsed) return res.send(error(400, "body is not usable JSON: " + why));
    if (!parsed->is_object()) return res.send(error(400, "body: expected a JSON object, got " + got(*parsed)));
    body = std::move(*parsed);
  }
  const std::string& m = req.method;
  const std::string& p = req.path;
  // Paths are compared whole, never percent-decoded: a NUL (raw or %00)
  // would only ever name something other than what it seems to.
  if (p.find('\0') != std::string::npos || p.find("%00") != std::string::npos)
    return res.send(error(400, "the request path contains a NUL byte"));
  if (sup.shutting_down() && p != "/v1/ping" && p != "/v1/status")
    return res.send(error(409, "rackd is shutting down"));

  if (m == "GET" && p == "/v1/ping") {
    return res.send(ok({{"pid", ::getpid()}, {"version", rack::kVersion}, {"revision", rack::kRevision}}));
  }
  if (m == "GET" && p == "/v1/status") {
    return res.send(http::Response::json(200, sup.status().dump()));
  }
  if (m == "GET" && p == "/v1/metrics") return sup.serve_metrics(std::move(res));
  if (m == "GET" && p == "/v1/config") {
    json apps = json::array();
    for (ManagedApp* a : sup.apps())
      apps.push_back({{"name", a->name()}, {"file", a->cfg().at.file}, {"config", config::to_yaml(a->cfg())}});
    return res.send(ok({{"apps", std::move(apps)}}));
  }
  if (m == "POST" && p == "/v1/start") {
    std::string only;
    if (!only_field(body, only, res)) return;
    auto eco = load_ecosystem(body, res);
    if (!eco) return;
    auto r = sup.start(*eco, only);
    if (!r.error.empty()) return res.send(error(400, r.error));
    return res.send(ok({{"started", r.started}, {"already_running", r.already_running}}));
  }
  if (m == "POST" && p == "/v1/reload") {
    std::string only;
    if (!only_field(body, only, res)) return;
    auto eco = load_ecosystem(body, res);
    if (!eco) return;
    ReloadOptions options;
    std::string why;
    if (!api::reload_options(body, options, why)) return res.send(error(400, why));
    return sup.reload_ecosystem(*eco, only, api::streaming_observer(res), options);
  }
  if (m == "POST" && p == "/v1/upgrade") {
    // 202: the exec follows; GET /v1/status's rackd.last_upgrade says how
    // it went once its attempt is this one (the new image, or this one
    // again, answers it).
    if (body.contains("binary") && !body["binary"].is_string())
      return res.send(error(400, "binary: expected a path (a string), got " + got(body["binary"])));
    std::string binary = str_field(body, "binary");
    if (binary.find('\0') != std::string::npos) return res.send(error(400, "binary: the path contains a NUL byte"));
    std::string why;
    uint64_t attempt = upgrade::request(sup, binary, why);
    if (attempt == 0) return res.send(error(409, why));
    return res.send(http::Response::json(202, json{{"ok", true}, {"attempt", attempt}, {"pid", ::getpid()}}.dump()));
  }
  if (m == "POST" && p == "/v1/kill") {
    res.send(ok());
    sup.shutdown(0);
    return;
  }
  if (m == "GET" && p == "/v1/logs") return api::serve_logs(sup, req, res);
  if (m == "POST" && p == "/v1/logs/reopen") {
    sup.reopen_logs();
    return res.send(ok());
  }
  if (m == "POST" && p == "/v1/logs/flush") {
    std::string app = query_param(req.query, "app");
    if (std::string bad = app.empty() ? "" : api::app_name_error(app); !bad.empty()) return res.send(error(400, bad));
    for (ManagedApp* a : sup.apps()) {
      if (app.empty() || a->name() == app) a->log()->flush();
    }
    if (!app.empty() && !sup.find(app)) return res.send(error(404, "no app named \"" + app + "\""));
    return res.send(ok());
  }
  const std::string prefix = "/v1/apps/";
  if (p.rfind(prefix, 0) == 0) {
    std::string rest = p.substr(prefix.size());
    size_t slash = rest.find('/');
    std::string target = rest.substr(0, slash);
    std::string op = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (std::string bad = api::app_name_error(target); !bad.empty()) return res.send(error(400, bad));
    if (m == "GET" && op.empty()) {
      ManagedApp* app = sup.find(target);
      if (!app) return res.send(error(404, "no app named \"" + target + "\""));
      return res.send(http::Response::json(200, app->describe().dump(-1, ' ', false, json::error_handler_t::replace)));
    }
    if (m == "DELETE" && op.empty()) return api::app_operation(sup, target, "delete", body, res);
    if (m == "POST" && !op.empty()) return api::app_operation(sup, target, op, body, res);
  }
  res.send(error(404, "no such endpoint: " + m + " " + p));
}

}  // namespace rack::master
