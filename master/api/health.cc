// What rackd says about itself and its apps: /v1/status, /health,
// /health/<app> and /health/live.
#include <unistd.h>

#include "lifecycle/guardian.h"
#include "rack/version.h"
#include "supervisor.h"
#include "upgrade/state.h"

namespace rack::master {

using json = nlohmann::json;

json Supervisor::status() {
  json apps = json::array();
  for (auto& [name, app] : apps_) apps.push_back(app->status());
  json j = {{"apps", std::move(apps)}};
  j["rackd"] = {{"pid", ::getpid()}, {"version", kVersion}, {"admin", admin_address()}, {"home", opt_.home},
                {"containment", guardian::containment()},
                {"guardian", guardian::pid() > 0 ? json(guardian::pid()) : json(nullptr)}};
  j["rackd"].update(upgrade::status_json());
  return j;
}

namespace {

// {"status":"ok"|"error"|"stopped","error":…} for one app, and whether it
// fails a probe. A stopped app is reported, but stopped on purpose is not a
// failure of the whole.
nlohmann::ordered_json app_check(const ManagedApp& app, bool& failing) {
  if (app.stopped()) {
    failing = false;
    return {{"status", "stopped"}};
  }
  std::string error = app.health_error();
  failing = !error.empty();
  nlohmann::ordered_json c = {{"status", failing ? "error" : "ok"}};
  if (failing) c["error"] = error;
  return c;
}

}  // namespace

std::string Supervisor::health(int& http_status, bool app_checks) {
  // Ordered as documented: {"status":…,"checks":{"<app>":{"status":…,"error":…}}}.
  nlohmann::ordered_json checks = nlohmann::ordered_json::object();
  bool ok = true;
  for (auto& [name, app] : apps_) {
    bool failing = false;
    checks[name] = app_check(*app, failing);
    ok = ok && !failing;
    if (!app_checks || app->stopped()) continue;
    for (auto& [check, error] : app->app_checks()) {
      nlohmann::ordered_json c = {{"status", error.empty() ? "ok" : "error"}};
      if (!error.empty()) c["error"] = error;
      checks[name + ":" + check] = std::move(c);
      ok = ok && error.empty();
    }
  }
  // Leaving rotation (SIGTERM, shutdown_delay) or stopping: not ready.
  const char* status = draining_soon_ || shutting_down_ ? "shutting down" : ok ? "ok" : "error";
  http_status = std::string_view(status) == "ok" ? 200 : 503;
  return nlohmann::ordered_json{{"status", status}, {"checks", std::move(checks)}}.dump();
}

std::string Supervisor::app_health(const std::string& name, int& http_status) {
  ManagedApp* app = find(name);
  if (!app) {
    http_status = 404;
    return nlohmann::json{{"error", "no app named \"" + name + "\""}}.dump(-1, ' ', false,
                                                                           nlohmann::json::error_handler_t::replace);
  }
  bool failing = false;
  nlohmann::ordered_json j = app_check(*app, failing);
  nlohmann::ordered_json checks = nlohmann::ordered_json::object();
  if (!app->stopped()) {
    for (auto& [check, error] : app->app_checks()) {
      nlohmann::ordered_json c = {{"status", error.empty() ? "ok" : "error"}};
      if (!error.empty()) c["error"] = error;
      checks[check] = std::move(c);
      if (!error.empty() && !failing) {
        failing = true;
        j["status"] = "error";
      }
    }
  }
  j["condition"] = std::string(to_string(app->app_status()));
  j["ready_workers"] = app->ready_workers();
  j["instances"] = app->cfg().instances;
  if (!checks.empty()) j["checks"] = std::move(checks);
  // Stopped on purpose is a state, not a failure: 200 with status stopped.
  http_status = failing ? 503 : 200;
  return j.dump();
}

std::string Supervisor::liveness(int& http_status) {
  // Answered on the loop, so an answer means the loop turns; a tick older
  // than this means its timers no longer fire (the loop is starved).
  constexpr auto kStale = std::chrono::seconds(10);
  auto age = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_tick_);
  bool ok = age < kStale;
  http_status = ok ? 200 : 503;
  return nlohmann::ordered_json{{"status", ok ? "ok" : "error"}, {"pid", ::getpid()}, {"tick_age_ms", age.count()}}
      .dump();
}

}  // namespace rack::master
