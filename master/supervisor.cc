#include "supervisor.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "api/control_api.h"
#include "app/reload_sequence.h"
#include "logs/log_dir.h"
#include "lifecycle/guardian.h"
#include "rack/timer.h"
#include "metrics/endpoint.h"
#include "uv_handle.h"

namespace rack::master {

using json = nlohmann::json;

Supervisor::Supervisor(uv_loop_t* loop, SupervisorOptions options) : loop_(loop), opt_(std::move(options)) {
  metrics_ = std::make_unique<MetricsEndpoint>(*this);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    auto* h = new_handle<uv_signal_t>(this);
    uv_signal_init(loop_, h);
    uv_signal_start(h, [](uv_signal_t* h, int sig) {
      if (auto* self = static_cast<Supervisor*>(h->data)) self->handle_signal(sig);
    }, sig);
    signals_.push_back(h);
  }
  ::signal(SIGPIPE, SIG_IGN);
  tick_timer_ = new_handle<uv_timer_t>(this);
  uv_timer_init(loop_, tick_timer_);
  uv_timer_start(tick_timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<Supervisor*>(t->data)) self->tick();
  }, 250, 250);
}

Supervisor::~Supervisor() {
  for (auto* h : signals_) close_handle(h);
  close_handle(tick_timer_);
}

// The whole supervisor: the loop runs until shutdown() has stopped every
// app. Everything else happens in the handlers below, on this one thread.
int Supervisor::run() {
  uv_run(loop_, UV_RUN_DEFAULT);
  return exit_code_;
}

void Supervisor::handle_signal(int sig) {
  switch (sig) {
    case SIGCHLD: handle_chld(); break;
    case SIGTERM:
    case SIGINT: handle_term(); break;
    case SIGUSR1: handle_usr1(); break;
    case SIGHUP: spdlog::info("SIGHUP: reopening log files"); reopen_logs(); break;
    default: break;
  }
}

// Reap every exited child, ours or not: under --no-daemon rackd may be
// PID 1 and inherit orphans that nobody else will wait for.
void Supervisor::handle_chld() {
  for (;;) {
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    // A worker's leader ended: what it left in its group ends too. First,
    // before the app restarts it: a new worker could get the same pid.
    bool ours = guardian::reaped(pid);
    for (auto& [name, app] : apps_) {
      if (app->reap(pid, st)) {
        ours = true;
        break;
      }
    }
    if (!ours) spdlog::debug("reaped pid {} ({})", pid, describe_exit(st));
  }
}

void Supervisor::handle_term() {
  if (shutting_down_) {
    spdlog::warn("second stop signal: killing workers now");
    for (auto& [name, app] : apps_) {
      for (Worker* w : app->workers()) w->kill_now(ExitCause::Stop);
    }
    return;
  }
  spdlog::info("stop signal: stopping all apps gracefully");
  shutdown(0);
}

void Supervisor::handle_usr1() {
  spdlog::info("SIGUSR1: reopening log files");
  reopen_logs();
}

void Supervisor::reopen_logs() {
  for (auto& [name, app] : apps_) app->log()->reopen();
}

void Supervisor::tick() {
  bool sample = (++ticks_ % 4) == 0;  // /proc once a second
  auto now = Clock::now();
  for (auto& [name, app] : apps_) app->tick(now, sample);
}

void Supervisor::shutdown(int exit_code) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = exit_code;
  auto remaining = std::make_shared<size_t>(apps_.size() + 1);
  auto finish = [this, remaining] {
    if (--*remaining > 0) return;
    spdlog::info("all apps stopped; rackd exits");
    if (control_) control_->close();
    if (admin_) admin_->close();
    if (control_http_) control_http_->close_all();
    if (refuse_http_) refuse_http_->close_all();
    if (admin_http_) admin_http_->close_all();
    ::unlink((opt_.home + "/rackd.sock").c_str());
    // Give in-flight control responses (rackctl kill) a moment to flush.
    uv_stop(loop_);
  };
  for (auto& [name, app] : apps_) app->stop(finish);
  finish();
}

App* Supervisor::find(const std::string& name) {
  auto it = apps_.find(name);
  return it == apps_.end() ? nullptr : it->second.get();
}

std::vector<App*> Supervisor::apps() {
  std::vector<App*> out;
  for (auto& [n, a] : apps_) out.push_back(a.get());
  return out;
}

void Supervisor::remove(const std::string& name, std::function<void()> done) {
  App* app = find(name);
  if (!app) {
    if (done) done();
    return;
  }
  app->stop([this, name, done] {
    // Deleting the App from inside its own callback would free `this` of
    // the caller: defer to the next loop turn.
    rack::after(loop_, 0, [this, name, done] {
      apps_.erase(name);
      spdlog::info("{}: deleted", name);
      if (done) done();
    });
  });
}

StartResult Supervisor::start(const config::Ecosystem& eco, const std::string& only) {
  StartResult r;
  std::vector<const config::AppConfig*> todo;
  for (const auto& a : eco.apps) {
    if (!only.empty() && a.name != only) continue;
    todo.push_back(&a);
  }
  if (!only.empty() && todo.empty()) {
    r.error = eco.path + ": no app named \"" + only + "\"";
    return r;
  }
  // A log directory rackd must not write in is a config error, said now
  // rather than as lines held back later.
  for (const auto* a : todo) {
    std::string error;
    int fd = open_log_dir(a->logs.dir.empty() ? opt_.home + "/logs" : a->logs.dir, error);
    if (fd < 0) {
      r.error = a->name + ": " + error;
      return r;
    }
    ::close(fd);
  }
  // Bind everything first: a port in use must leave nothing started.
  std::vector<std::unique_ptr<App>> fresh;
  std::vector<App*> restarted;
  for (const auto* a : todo) {
    if (App* existing = find(a->name)) {
      if (!existing->stopped()) {
        r.already_running.push_back(a->name);
        continue;
      }
      restarted.push_back(existing);
      continue;
    }
    AppContext ctx{loop_, opt_.home + "/logs", &log_stats_[a->name], &app_logs_[a->name]};
    auto app = std::make_unique<App>(ctx, *a);
    std::string err;
    if (app->bind(err) != 0) {
      r.error = a->listen_at.str() + ": " + err;
      return r;  // `fresh` closes what it bound
    }
    fresh.push_back(std::move(app));
  }
  if (!admin_decided_ && eco.rack.admin) {
    std::string err;
    if (open_admin(*eco.rack.admin, err) != 0) {
      r.error = eco.rack.admin_at.str() + ": " + err;
      return r;
    }
  }
  admin_decided_ = true;
  for (App* app : restarted) {
    app->restart();
    r.started.push_back(app->name());
  }
  for (auto& app : fresh) {
    r.started.push_back(app->name());
    App* raw = app.get();
    apps_[raw->name()] = std::move(app);
    metrics_->attach(*raw);
    raw->start();
  }
  return r;
}

void Supervisor::reload_ecosystem(const config::Ecosystem& eco, const std::string& only, ReloadObserver obs) {
  // New apps start; existing ones roll to their new config one after the
  // other (reload_in_sequence).
  std::vector<ReloadStep> changed;
  config::Ecosystem to_start = eco;
  to_start.apps.clear();
  for (const auto& a : eco.apps) {
    if (!only.empty() && a.name != only) continue;
    if (find(a.name)) changed.push_back({a.name, a});
    else to_start.apps.push_back(a);
  }
  if (!to_start.apps.empty()) {
    auto r = start(to_start, "");
    if (!r.error.empty()) return obs.done(false, r.error, -1);
    for (auto& n : r.started) obs.progress("started " + n);
  }
  reload_in_sequence([this](const std::string& n) { return find(n); }, std::move(changed), std::move(obs));
}

// ---- admin listener (/metrics, /health, /v1/status) ---------------------------

int Supervisor::open_admin(const config::ListenAddr& addr, std::string& error) {
  admin_http_ = std::make_unique<http::Server>(loop_, [this](http::Request& req, http::Responder res) {
    serve_admin(req, std::move(res));
  });
  admin_ = std::make_unique<Listener>(loop_, [this](int fd) { admin_http_->adopt(fd); });
  int rc = admin_->bind(addr, error);
  if (rc != 0) {
    admin_.reset();
    admin_http_.reset();
  } else {
    spdlog::info("admin listener on {}", admin_->bound_address());
  }
  return rc;
}

std::string Supervisor::admin_address() const { return admin_ ? admin_->bound_address() : ""; }

void Supervisor::serve_admin(http::Request& req, http::Responder res) {
  if (req.method != "GET" && req.method != "HEAD") {
    res.send(http::Response::json(405, R"({"error":"method not allowed"})"));
    return;
  }
  if (req.path == "/health" || req.path == "/health/live") {
    int status = 200;
    std::string body = health(status, req.path == "/health");
    res.send(http::Response::json(status, body));
  } else if (req.path == "/v1/status") {
    res.send(http::Response::json(200, status().dump()));
  } else if (req.path == "/metrics") {
    metrics_->serve(std::move(res));
  } else {
    res.send(http::Response::json(404, R"({"error":"not found"})"));
  }
}

json Supervisor::status() {
  json apps = json::array();
  for (auto& [name, app] : apps_) apps.push_back(app->status());
  json j = {{"apps", std::move(apps)}};
  j["rackd"] = {{"pid", ::getpid()}, {"admin", admin_address()}, {"home", opt_.home},
                {"containment", guardian::containment()},
                {"guardian", guardian::pid() > 0 ? json(guardian::pid()) : json(nullptr)}};
  return j;
}

std::string Supervisor::health(int& http_status, bool app_checks) {
  // Ordered as documented: {"status":…,"checks":{"<app>":{"status":…,"error":…}}}.
  nlohmann::ordered_json checks = nlohmann::ordered_json::object();
  bool ok = true;
  auto add = [&](const std::string& name, const std::string& error) {
    nlohmann::ordered_json c = {{"status", error.empty() ? "ok" : "error"}};
    if (!error.empty()) c["error"] = error;
    checks[name] = std::move(c);
    ok = ok && error.empty();
  };
  for (auto& [name, app] : apps_) {
    add(name, app->health_error());
    if (!app_checks) continue;
    for (auto& [check, error] : app->app_checks()) add(name + ":" + check, error);
  }
  http_status = ok ? 200 : 503;
  return nlohmann::ordered_json{{"status", ok ? "ok" : "error"}, {"checks", std::move(checks)}}.dump();
}

int Supervisor::open_control(std::string& error) {
  control_http_ = std::make_unique<http::Server>(loop_, [this](http::Request& req, http::Responder res) {
    serve_control(*this, req, std::move(res));
  });
  // Peers of another uid get a 403 from a server of their own, after their
  // request has been read (answering before reading would race with their
  // write and could reach them as a reset instead).
  refuse_http_ = std::make_unique<http::Server>(loop_, [](http::Request&, http::Responder res) {
    http::Response r = http::Response::error(403, "rackd belongs to another user; refused");
    r.set("Connection", "close");
    res.send(std::move(r));
  });
  control_ = std::make_unique<Listener>(loop_, [this](int fd) {
    long uid = Listener::peer_uid(fd);
    if (uid != static_cast<long>(::getuid())) {
      spdlog::warn("control socket: refused a peer with uid {}", uid);
      refuse_http_->adopt(fd);
      return;
    }
    control_http_->adopt(fd);
  });
  return control_->bind_unix(opt_.home + "/rackd.sock", error);
}

}  // namespace rack::master
