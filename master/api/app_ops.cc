#include "api/app_ops.h"

#include <charconv>
#include <memory>

#include "api/control_request.h"
#include "api/reply.h"
#include "app/reload_sequence.h"
#include "rack/logging.h"
#include "supervisor.h"

namespace rack::master::api {

using json = nlohmann::json;

namespace {

std::vector<std::string> names_of(const std::vector<ManagedApp*>& apps) {
  std::vector<std::string> names;
  for (ManagedApp* a : apps) names.push_back(a->name());
  return names;
}

// Answers once every app has no process left.
void stop_apps(Supervisor& sup, const std::vector<ManagedApp*>& apps, bool forget, http::Responder res) {
  // +1: the loop below may finish synchronously for apps that have nothing running.
  auto left = std::make_shared<size_t>(apps.size() + 1);
  auto done = [res, left]() mutable {
    if (--*left == 0) res.send(ok());
  };
  for (auto& n : names_of(apps)) {
    if (!forget) sup.find(n)->stop(done);
    else sup.remove(n, done);
  }
  done();
}

// `target`: the app's name or "all", for systemd's STATUS= line.
void reload_apps(Supervisor& sup, const std::string& target, const std::vector<ManagedApp*>& apps, const json& body,
                 http::Responder res) {
  ReloadOptions options;
  std::string why;
  if (!reload_options(body, options, why)) return res.send(error(400, why));
  std::vector<ReloadStep> steps;
  for (auto& n : names_of(apps)) steps.push_back({n, std::nullopt, options});
  reload_in_sequence([&sup](const std::string& n) { return sup.find(n); }, std::move(steps),
                     sup.notify_reloading(streaming_observer(std::move(res)), target));
}

// "3", 3, "+1" or "-1": the new instance count, between 1 and 1024; with
// instances {min, max}, a manual override of autoscaling, which "auto" ends.
void scale_app(ManagedApp& app, const json& body, http::Responder res) {
  if (body.contains("instances") && !body["instances"].is_string() && !body["instances"].is_number_integer())
    return res.send(error(400, "instances: expected a number, +N or -N, got " + api::got(body["instances"])));
  std::string v = body.contains("instances") && body["instances"].is_string() ? body["instances"].get<std::string>()
                  : body.contains("instances") ? std::to_string(body["instances"].get<long>())
                                               : "";
  if (v == "auto") {
    if (!app.cfg().autoscale)
      return res.send(error(400, app.name() + " has no instances: {min, max} to scale between; give a number"));
    app.resume_autoscale();
    return res.send(ok({{"instances", app.cfg().instances}, {"autoscale", true}}));
  }
  long n = 0;
  bool relative = !v.empty() && (v[0] == '+' || v[0] == '-');
  const char* b = v.data() + (v.size() && v[0] == '+' ? 1 : 0);
  auto [p, ec] = std::from_chars(b, v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    return res.send(error(400, "instances: expected a number, +N or -N, got \"" + v + "\""));
  long target_n = relative ? static_cast<long>(app.cfg().instances) + n : n;
  if (target_n < 1 || target_n > 1024)
    return res.send(error(400, "instances: the result must be between 1 and 1024, got " + std::to_string(target_n)));
  app.scale(static_cast<unsigned>(target_n));
  res.send(ok({{"instances", target_n}}));
}

void set_log_level(const std::vector<ManagedApp*>& apps, const json& body, http::Responder res) {
  if (body.contains("level") && !body["level"].is_string())
    return res.send(error(400, "level: expected trace, debug, info, warn, error or fatal, got " + api::got(body["level"])));
  std::string level = body.contains("level") ? body["level"].get<std::string>() : "";
  if (!log::parse_level(level))
    return res.send(error(400, "level: expected trace, debug, info, warn, error or fatal, got \"" + level + "\""));
  // rackd reaches rack workers (LogLevel) and node workers (through the
  // preload); for the others it has no channel, so it says so instead of
  // answering ok for nothing. The apps it can reach still change.
  std::string refused, set;
  for (ManagedApp* a : apps) {
    config::Protocol p = a->cfg().protocol;
    if (p == config::Protocol::Rack || p == config::Protocol::Node) {
      a->set_log_level(level);
      set += (set.empty() ? "" : ", ") + a->name();
    } else {
      refused += (refused.empty() ? "" : "; ") + a->name() + " is protocol " + config::to_string(p);
    }
  }
  if (refused.empty()) return res.send(ok());
  res.send(error(409, "loglevel: " + refused +
                          ": rackd has no channel to its workers, so it cannot change their log level at runtime "
                          "(set the app's own setting, e.g. env LOG_LEVEL, and reload)" +
                          (set.empty() ? "" : "; set to " + level + " for " + set)));
}

}  // namespace

ReloadObserver streaming_observer(http::Responder res) {
  res.start_stream(200, {{"Content-Type", "application/x-ndjson"}});
  ReloadObserver obs;
  obs.progress = [res](const std::string& line) mutable { res.write(text(json{{"progress", line}}) + "\n"); };
  obs.done = [res](bool ok, const std::string& err, int slot) mutable {
    json j = {{"ok", ok}};
    if (!ok) {
      j["error"] = err;
      if (slot >= 0) j["slot"] = slot;
    }
    res.write(text(j) + "\n");
    res.end();
  };
  return obs;
}

void app_operation(Supervisor& sup, const std::string& target, const std::string& op, const json& body,
                   http::Responder res) {
  std::vector<ManagedApp*> apps;
  if (target == "all") {
    apps = sup.apps();
  } else if (ManagedApp* a = sup.find(target)) {
    apps.push_back(a);
  } else {
    return res.send(error(404, "no app named \"" + target + "\""));
  }
  if (op == "stop" || op == "delete") return stop_apps(sup, apps, op == "delete", std::move(res));
  if (op == "restart") {
    for (ManagedApp* a : apps) a->restart();
    return res.send(ok());
  }
  if (op == "reload") return reload_apps(sup, target, apps, body, std::move(res));
  if (op == "scale") {
    if (apps.size() != 1) return res.send(error(400, "scale takes one app name, not \"all\""));
    return scale_app(*apps[0], body, std::move(res));
  }
  if (op == "loglevel") return set_log_level(apps, body, std::move(res));
  if (op == "reset") {
    for (ManagedApp* a : apps) a->reset_restarts();
    return res.send(ok());
  }
  res.send(error(404, "unknown operation \"" + op + "\""));
}

}  // namespace rack::master::api
