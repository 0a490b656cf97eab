// rackd's top level, read like gunicorn's arbiter: run() turns the loop,
// the signal handlers below record and dispatch, handle_chld() reaps, and
// the app table is started, reloaded and pruned here. The rest of the
// supervisor lives beside it:
//   periodic.cc        the tick (heartbeats, stalls, /proc samples, systemd)
//   shutdown.cc        graceful stop of every app, then the final drain
//   api/listeners.cc   the control socket and the admin listener
//   api/health.cc      /v1/status and the /health probes
//   upgrade/           the binary upgrade handoff (SIGUSR2, rackctl upgrade)
#include "supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "api/dashboard.h"
#include "dispatch/fd_reserve.h"
#include "app/reload_sequence.h"
#include "logs/log_dir.h"
#include "logs/log_pipe.h"
#include "lifecycle/guardian.h"
#include "lifecycle/loop_stall.h"
#include "rack/logging.h"
#include "rack/timer.h"
#include "logs/stdout_sink.h"
#include "metrics/endpoint.h"
#include "service_status.h"
#include "upgrade/exec.h"
#include "upgrade/state.h"
#include "uv_handle.h"

namespace rack::master {

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
  loop_stall::on_stall([this](const Stall& s) { after_stall(s); });
  // The baseline: a stall in the first tick period (rackd stopped while it
  // spawns its first workers) is a stall too, not the first sighting.
  loop_stall::check();
  tick_timer_ = new_handle<uv_timer_t>(this);
  uv_timer_init(loop_, tick_timer_);
  uv_timer_start(tick_timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<Supervisor*>(t->data)) self->tick();
  }, kTickPeriod.count(), kTickPeriod.count());
  start_watchdog();
}

Supervisor::~Supervisor() {
  loop_stall::on_stall({});
  for (auto* h : signals_) close_handle(h);
  close_handle(tick_timer_);
  close_handle(watchdog_timer_);
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
  if (!admin_decided_ && !decide_admin(eco.rack, r.error)) return r;
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

ReloadObserver Supervisor::notify_reloading(ReloadObserver obs, const std::string& what) {
  opt_.notifier.send(SystemdNotifier::reloading_message() + "\nSTATUS=reloading " + what);
  obs.done = [this, done = std::move(obs.done)](bool ok, const std::string& err, int slot) {
    last_status_ = status_line(apps());
    if (ready_sent_) opt_.notifier.send("READY=1\nSTATUS=" + last_status_);
    if (done) done(ok, err, slot);
  };
  return obs;
}

void Supervisor::reload_ecosystem(const config::Ecosystem& eco, const std::string& only, ReloadObserver obs,
                                  ReloadOptions options) {
  // New apps start; existing ones roll to their new config one after the
  // other (reload_in_sequence).
  obs = notify_reloading(std::move(obs), eco.path);
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

}  // namespace rack::master
