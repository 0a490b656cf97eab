#include "supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "api/control_api.h"
#include "api/dashboard.h"
#include "api/http_limits.h"
#include "api/reply.h"
#include "dispatch/fd_reserve.h"
#include "app/reload_sequence.h"
#include "logs/log_dir.h"
#include "logs/log_pipe.h"
#include "lifecycle/guardian.h"
#include "rack/logging.h"
#include "rack/timer.h"
#include "rack/version.h"
#include "logs/stdout_sink.h"
#include "metrics/endpoint.h"
#include "service_status.h"
#include "upgrade/exec.h"
#include "upgrade/state.h"
#include "uv_handle.h"

namespace rack::master {

using json = nlohmann::json;

Supervisor::Supervisor(uv_loop_t* loop, SupervisorOptions options) : loop_(loop), opt_(std::move(options)) {
  metrics_ = std::make_unique<MetricsEndpoint>(*this);
  fd_reserve::refresh();
  // Also when stdout does not get every app's lines: an app with
  // logs.dir: off still has its lines there (feed_stdout).
  if (opt_.foreground) {
    const char* f = std::getenv("LOG_FORMAT");
    bool pretty = f && std::string_view(f) == "pretty";
    stdout_sink_ = std::make_unique<StdoutSink>(1, pretty ? StdoutSink::Format::Pretty : StdoutSink::Format::Json);
  }
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) {
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
  }, kTickPeriod.count(), kTickPeriod.count());
  start_watchdog();
}

Supervisor::~Supervisor() {
  for (auto* h : signals_) close_handle(h);
  close_handle(tick_timer_);
  close_handle(watchdog_timer_);
}

// WATCHDOG=1 from a timer on the loop, so a loop stuck in a callback stops
// the pings and systemd (WatchdogSec=) restarts rackd.
void Supervisor::start_watchdog() {
  if (!opt_.notifier.watchdog()) return;
  watchdog_timer_ = new_handle<uv_timer_t>(this);
  uv_timer_init(loop_, watchdog_timer_);
  uv_unref(reinterpret_cast<uv_handle_t*>(watchdog_timer_));
  auto every = static_cast<uint64_t>(opt_.notifier.watchdog_interval().count());
  opt_.notifier.send("WATCHDOG=1");
  uv_timer_start(watchdog_timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<Supervisor*>(t->data)) self->opt_.notifier.send("WATCHDOG=1");
  }, every, every);
}

// READY=1 the first time nothing is in its first start, STATUS= when the
// line changes. Runs from the tick and after starts and reloads.
void Supervisor::notify_state() {
  if (!opt_.notifier.enabled() || shutting_down_ || draining_soon_) return;
  std::string line = status_line(apps());
  if (ready_armed_ && !ready_sent_ && !any_starting(apps())) {
    ready_sent_ = true;
    last_status_ = line;
    opt_.notifier.send("READY=1\nSTATUS=" + line);
    return;
  }
  if (!ready_sent_) line = "starting: " + line;
  if (line == last_status_) return;
  last_status_ = line;
  opt_.notifier.send("STATUS=" + line);
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
      // The orchestrator's signal: leave rotation first (shutdown_delay).
      if (!shutting_down_ && !draining_soon_) shutdown_after_delay();
      else handle_term();
      break;
    case SIGINT: handle_term(); break;
    case SIGUSR1: handle_usr1(); break;
    case SIGUSR2: handle_usr2(); break;
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
  if (draining_soon_ && !shutting_down_) {
    spdlog::info("second stop signal: draining now, without the rest of shutdown_delay");
    shutdown(0);
    return;
  }
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

void Supervisor::shutdown_after_delay() {
  draining_soon_ = true;
  auto delay = static_cast<uint64_t>(shutdown_delay_.count());
  spdlog::info("SIGTERM: /health fails now; apps keep serving for {} ms (rack.shutdown_delay), then drain", delay);
  opt_.notifier.send("STOPPING=1\nSTATUS=leaving rotation (shutdown_delay)");
  if (delay == 0) return shutdown(0);
  rack::after(loop_, delay, [this] { shutdown(0); });
}

void Supervisor::handle_usr1() {
  spdlog::info("SIGUSR1: reopening log files");
  reopen_logs();
}

// nginx's binary upgrade signal: re-exec rackd's own (new) binary in place.
void Supervisor::handle_usr2() {
  std::string error;
  if (upgrade::request(*this, "", error) == 0) spdlog::error("SIGUSR2: no upgrade: {}", error);
}

void Supervisor::reopen_logs() {
  for (auto& [name, app] : apps_) app->log()->reopen();
  // rackd.log too (daemon mode); its stdout and stderr, which hold what a
  // library prints, follow it to the new file.
  if (!rack::log::reopen()) return;
  int fd = ::open((opt_.home + "/rackd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close(fd);
  }
  spdlog::info("reopened rackd.log");
}

void Supervisor::tick() {
  bool sample = (++ticks_ % 4) == 0;  // /proc once a second
  fd_reserve::refresh();              // prlimit may have moved RLIMIT_NOFILE
  auto now = Clock::now();
  // The tick runs every kTickPeriod; a much longer gap means rackd's loop
  // did not run (SIGSTOP, a VM pause, a swap storm, a callback that
  // blocked). Heartbeat deadlines count only time the loop ran, so every
  // worker gets a fresh interval before it is judged: the pongs it sent
  // meanwhile wait unread in the channels, behind this timer.
  if (auto gap = now - last_tick_; gap > kStallGap) {
    spdlog::warn("rackd's loop did not run for {} ms (stopped or starved): heartbeat deadlines start over",
                 std::chrono::duration_cast<std::chrono::milliseconds>(gap).count());
    for (auto& [name, app] : apps_) app->restart_heartbeats(now);
  }
  // One /proc scan serves every worker's sample.
  std::optional<ProcGroups> procs;
  if (sample) procs = aggregate_groups(scan_proc());
  for (auto& [name, app] : apps_) app->tick(now, procs ? &*procs : nullptr);
  last_tick_ = now;
  exit_if_errored();
  notify_state();
}

// --no-daemon: an app that gave up on every slot will not come back by
// itself, and the service manager or container runtime sees only rackd. A
// rackd that went on running would hide the outage from them: stop every
// app and exit 3, so that they restart it or report it (rack.exit_on_errored).
void Supervisor::exit_if_errored() {
  if (!opt_.foreground || !exit_on_errored_ || shutting_down_) return;
  for (auto& [name, app] : apps_) {
    if (app->app_status() != AppStatus::Errored) continue;
    spdlog::critical("{}: errored ({}); stopping every app, rackd exits 3 (rack.exit_on_errored: false keeps it running)",
                     name, app->health_error());
    shutdown(3);
    return;
  }
}

void Supervisor::shutdown(int exit_code) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = exit_code;
  opt_.notifier.send("STOPPING=1\nSTATUS=stopping " + std::to_string(apps_.size()) + " apps");
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
    stop_after_final_drain(Clock::now() + kFinalDrain);
  };
  for (auto& [name, app] : apps_) app->stop(finish);
  finish();
}

// Every worker has exited, but what it wrote last may still sit in its
// pipes: the loop runs on until each pipe is at EOF, so those lines reach
// the files (and in-flight control answers, `rackctl kill`'s, go out).
// Bounded: a pipe that a process out of the group keeps open, or that a
// full disk holds (on_full: block), does not keep rackd from exiting.
void Supervisor::stop_after_final_drain(Clock::time_point deadline) {
  if (LogPipe::open_count() == 0 || Clock::now() >= deadline) {
    if (LogPipe::open_count() > 0)
      spdlog::warn("{} worker output pipe(s) still open after {} ms; rackd exits without their last lines",
                   LogPipe::open_count(), kFinalDrain.count());
    uv_stop(loop_);
    return;
  }
  rack::after(loop_, 10, [this, deadline] { stop_after_final_drain(deadline); });
}

ManagedApp* Supervisor::find(const std::string& name) {
  auto it = apps_.find(name);
  return it == apps_.end() ? nullptr : it->second.get();
}

std::vector<ManagedApp*> Supervisor::apps() {
  std::vector<ManagedApp*> out;
  for (auto& [n, a] : apps_) out.push_back(a.get());
  return out;
}

void Supervisor::remove(const std::string& name, std::function<void()> done) {
  ManagedApp* app = find(name);
  if (!app) {
    if (done) done();
    return;
  }
  app->stop([this, name, done] {
    // Deleting the ManagedApp from inside its own callback would free `this` of
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
  // user:/group: need root; said now, not as workers failing to start.
  for (const auto* a : todo) {
    bool other_uid = a->uid && *a->uid != ::geteuid(), other_gid = a->gid && *a->gid != ::getegid();
    if ((other_uid || other_gid) && ::geteuid() != 0) {
      r.error = a->at.str() + ": rackd runs as uid " + std::to_string(::geteuid()) +
                ", not root, so it cannot start workers as " +
                (other_uid ? "user \"" + a->user + "\"" : "group \"" + a->group + "\"") +
                " (run rackd as root, or remove user:/group:)";
      return r;
    }
  }
  // A log directory rackd must not write in is a config error, said now
  // rather than as lines held back later.
  for (const auto* a : todo) {
    std::string error;
    if (!a->logs.files) continue;
    int fd = open_log_dir(a->logs.dir.empty() ? opt_.home + "/logs" : a->logs.dir, error);
    if (fd < 0) {
      r.error = a->name + ": " + error;
      return r;
    }
    ::close(fd);
  }
  // Bind everything first: a port in use must leave nothing started.
  std::vector<std::unique_ptr<ManagedApp>> fresh;
  std::vector<ManagedApp*> restarted;
  for (const auto* a : todo) {
    if (ManagedApp* existing = find(a->name)) {
      if (!existing->stopped()) {
        r.already_running.push_back(a->name);
        continue;
      }
      restarted.push_back(existing);
      continue;
    }
    AppContext ctx{loop_, opt_.home + "/logs", &log_stats_[a->name], &app_logs_[a->name]};
    auto app = std::make_unique<ManagedApp>(ctx, *a);
    std::string err;
    if (app->bind(err) != 0) {
      r.error = a->listen_at.str() + ": " + err;
      return r;  // `fresh` closes what it bound
    }
    fresh.push_back(std::move(app));
  }
  if (!admin_decided_ && eco.rack.admin) {
    std::string err;
    if (open_admin(eco.rack, err) != 0) {
      r.error = eco.rack.admin_at.str() + ": " + err;
      return r;
    }
  }
  admin_decided_ = true;
  shutdown_delay_ = eco.rack.shutdown_delay;
  exit_on_errored_ = eco.rack.exit_on_errored;
  for (ManagedApp* app : restarted) {
    app->restart();
    r.started.push_back(app->name());
  }
  for (auto& app : fresh) {
    r.started.push_back(app->name());
    ManagedApp* raw = app.get();
    apps_[raw->name()] = std::move(app);
    feed_stdout(*raw);
    metrics_->attach(*raw);
    raw->start();
  }
  return r;
}

// --no-daemon: every app's lines on rackd's stdout, unless that copy is
// switched off (--no-stdout-logs, RACK_STDOUT_LOGS=off); an app with
// logs.dir: off has them there either way, as stdout is all it has (the
// journal under systemd, `kubectl logs` in a pod). An AppLog taken over
// from a deleted ManagedApp of the same name is fed already.
void Supervisor::feed_stdout(ManagedApp& app) {
  if (!stdout_sink_ || stdout_fed_[app.name()].lock() == app.log()) return;
  auto write = [sink = stdout_sink_.get()](const LogLine& l) { sink->write(l); };
  if (opt_.stdout_logs) app.log()->subscribe(write);
  else app.log()->set_no_files_sink(write);
  stdout_fed_[app.name()] = app.log();
}

void Supervisor::reload_ecosystem(const config::Ecosystem& eco, const std::string& only, ReloadObserver obs,
                                  ReloadOptions options) {
  // New apps start; existing ones roll to their new config one after the
  // other (reload_in_sequence).
  // systemd: RELOADING=1 now, READY=1 when the reload ends either way.
  opt_.notifier.send(SystemdNotifier::reloading_message() + "\nSTATUS=reloading " + eco.path);
  obs.done = [this, done = std::move(obs.done)](bool ok, const std::string& err, int slot) {
    last_status_ = status_line(apps());
    if (ready_sent_) opt_.notifier.send("READY=1\nSTATUS=" + last_status_);
    if (done) done(ok, err, slot);
  };
  std::vector<ReloadStep> changed;
  config::Ecosystem to_start = eco;
  to_start.apps.clear();
  for (const auto& a : eco.apps) {
    if (!only.empty() && a.name != only) continue;
    if (find(a.name)) changed.push_back({a.name, a, options});
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

void Supervisor::make_admin() {
  admin_http_ = std::make_unique<http::Server>(
      loop_, [this](http::Request& req, http::Responder res) { serve_admin(req, std::move(res)); },
      api::listener_limits(api::kMaxAdminConnections));
  admin_ = std::make_unique<Listener>(loop_, [this](int fd) { admin_http_->adopt(fd); });
  admin_->reserve_share("admin listener", 1);
}

int Supervisor::open_admin(const config::RackSection& rack, std::string& error) {
  const config::ListenAddr& addr = *rack.admin;
  make_admin();
  int rc = admin_->bind(addr, error);
  if (rc != 0) {
    admin_.reset();
    admin_http_.reset();
  } else {
    dashboard_ = std::make_unique<Dashboard>(*this, rack.admin_token);
    spdlog::info("admin listener on {} (dashboard at /, {})", admin_->bound_address(),
                 rack.admin_token.empty() ? "read-only" : "actions need rack.admin_token");
  }
  return rc;
}

void Supervisor::serve_metrics(http::Responder res) { metrics_->serve(std::move(res)); }

std::string Supervisor::admin_address() const { return admin_ ? admin_->bound_address() : ""; }

void Supervisor::serve_admin(http::Request& req, http::Responder res) {
  if (dashboard_ && dashboard_->serve(req, res)) return;
  if (req.method != "GET" && req.method != "HEAD") {
    res.send(http::Response::json(405, R"({"error":"method not allowed"})"));
    return;
  }
  int code = 200;
  if (req.path == "/health") {
    std::string body = health(code, true);
    res.send(http::Response::json(code, body));
  } else if (req.path == "/health/live") {
    std::string body = liveness(code);
    res.send(http::Response::json(code, body));
  } else if (req.path.rfind("/health/", 0) == 0) {
    std::string name = req.path.substr(8);
    if (std::string bad = api::app_name_error(name); !bad.empty()) return res.send(api::error(400, bad));
    std::string body = app_health(name, code);
    res.send(http::Response::json(code, body));
  } else if (req.path == "/v1/status") {
    res.send(http::Response::json(200, status().dump()));
  } else if (req.path == "/metrics") {
    serve_metrics(std::move(res));
  } else {
    res.send(http::Response::json(404, R"({"error":"not found"})"));
  }
}

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
  // A stopped app takes no traffic: a probe of that app alone says so.
  http_status = failing || app->stopped() ? 503 : 200;
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

int Supervisor::open_control(std::string& error) {
  make_control();
  return control_->bind_unix(opt_.home + "/rackd.sock", error);
}

void Supervisor::make_control() {
  control_http_ = std::make_unique<http::Server>(
      loop_, [this](http::Request& req, http::Responder res) { serve_control(*this, req, std::move(res)); },
      api::listener_limits(api::kMaxControlConnections));
  // Peers of another uid get a 403 from a server of their own, after their
  // request has been read (answering before reading would race with their
  // write and could reach them as a reset instead).
  refuse_http_ = std::make_unique<http::Server>(
      loop_,
      [](http::Request&, http::Responder res) {
        http::Response r = http::Response::error(403, "rackd belongs to another user; refused");
        r.set("Connection", "close");
        res.send(std::move(r));
      },
      api::listener_limits(api::kMaxRefusedPeers));
  control_ = std::make_unique<Listener>(loop_, [this](int fd) {
    long uid = Listener::peer_uid(fd);
    if (uid != static_cast<long>(::getuid())) {
      spdlog::warn("control socket: refused a peer with uid {}", uid);
      refuse_http_->adopt(fd);
      return;
    }
    control_http_->adopt(fd);
  });
  control_->reserve_share("control socket", 2);
}

}  // namespace rack::master
