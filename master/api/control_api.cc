#include "api/control_api.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "api/app_ops.h"
#include "api/control_request.h"
#include "api/logs_api.h"
#include "api/reply.h"
#include "rack/version.h"
#include "supervisor.h"
#include "upgrade/exec.h"

namespace rack::master {

using json = nlohmann::json;

namespace {

using api::ControlRequest;
using api::error;
using api::ok;
using api::Route;

void start_ecosystem(Supervisor& sup, const ControlRequest& r, http::Responder res) {
  config::Ecosystem eco;
  try {
    eco = config::load_file(r.file);
  } catch (const config::ConfigError& e) {
    return res.send(error(400, e.what()));
  }
  if (r.route == Route::Reload)
    return sup.reload_ecosystem(eco, r.only, api::streaming_observer(res), r.reload);
  auto started = sup.start(eco, r.only);
  if (!started.error.empty()) return res.send(error(400, started.error));
  res.send(ok({{"started", started.started}, {"already_running", started.already_running}}));
}

void upgrade_rackd(Supervisor& sup, const ControlRequest& r, http::Responder res) {
  // 202: the exec follows; GET /v1/status's rackd.last_upgrade says how it
  // went once its attempt is this one (the new image, or this one again,
  // answers it).
  std::string why;
  uint64_t attempt = upgrade::request(sup, r.binary, why);
  if (attempt == 0) return res.send(error(409, why));
  res.send(http::Response::json(202, json{{"ok", true}, {"attempt", attempt}, {"pid", ::getpid()}}.dump()));
}

void flush_logs(Supervisor& sup, const std::string& app, http::Responder res) {
  for (ManagedApp* a : sup.apps()) {
    if (app.empty() || a->name() == app) a->log()->flush();
  }
  if (!app.empty() && !sup.find(app)) return res.send(error(404, "no app named \"" + app + "\""));
  res.send(ok());
}

json config_of_apps(Supervisor& sup) {
  json apps = json::array();
  for (ManagedApp* a : sup.apps())
    apps.push_back({{"name", a->name()}, {"file", a->cfg().at.file}, {"config", config::to_yaml(a->cfg())}});
  return json{{"apps", std::move(apps)}};
}

void describe_app(Supervisor& sup, const std::string& name, http::Responder res) {
  ManagedApp* app = sup.find(name);
  if (!app) return res.send(error(404, "no app named \"" + name + "\""));
  res.send(http::Response::json(200, app->describe().dump(-1, ' ', false, json::error_handler_t::replace)));
}

}  // namespace

// What a request asks, checked without the Supervisor
// (api/control_request.h), then carried out.
void serve_control(Supervisor& sup, http::Request& req, http::Responder res) {
  auto parsed = api::parse_control_request(req);
  if (auto* answer = std::get_if<http::Response>(&parsed)) return res.send(std::move(*answer));
  const ControlRequest& r = std::get<ControlRequest>(parsed);
  if (sup.shutting_down() && !api::answers_while_shutting_down(r.route))
    return res.send(error(409, "rackd is shutting down"));
  switch (r.route) {
    case Route::Ping:
      return res.send(ok({{"pid", ::getpid()}, {"version", rack::kVersion}, {"revision", rack::kRevision}}));
    case Route::Status:
      return res.send(http::Response::json(200, sup.status().dump()));
    case Route::Metrics:
      return sup.serve_metrics(std::move(res));
    case Route::Config:
      return res.send(ok(config_of_apps(sup)));
    case Route::Start:
    case Route::Reload:
      return start_ecosystem(sup, r, std::move(res));
    case Route::Upgrade:
      return upgrade_rackd(sup, r, std::move(res));
    case Route::Kill:
      res.send(ok());
      return sup.shutdown(0);
    case Route::Logs:
      return api::serve_logs(sup, req, std::move(res));
    case Route::LogsReopen:
      sup.reopen_logs();
      return res.send(ok());
    case Route::LogsFlush:
      return flush_logs(sup, r.log_app, std::move(res));
    case Route::AppDescribe:
      return describe_app(sup, r.target, std::move(res));
    case Route::AppDelete:
      return api::app_operation(sup, r.target, "delete", r.body, std::move(res));
    case Route::AppOp:
      return api::app_operation(sup, r.target, r.op, r.body, std::move(res));
  }
}

}  // namespace rack::master
