// rackd's top level: the app table, signals, the reaper, the periodic tick,
// and the control and admin listeners. Reads like gunicorn's arbiter: see
// run() and the handle_* methods.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "app/app.h"
#include "dispatch/listener.h"
#include "lifecycle/proc_stats.h"
#include "rack/config.h"
#include "rack/http.h"
#include "systemd_notify.h"

namespace rack::master {

class Dashboard;
class MetricsEndpoint;
class StdoutSink;

struct SupervisorOptions {
  std::string home;            // $RACK_HOME
  bool foreground = false;     // --no-daemon
  SystemdNotifier notifier;    // NOTIFY_SOCKET, WATCHDOG_USEC (from_environment)
  bool stdout_logs = false;    // every app line also on stdout (--no-daemon default)
  // $RACK_ADMIN: the admin listener when the ecosystem leaves rack.admin unset.
  std::optional<std::optional<config::ListenAddr>> admin;
};

// The outcome of starting an ecosystem, for the control API and --no-daemon.
struct StartResult {
  std::vector<std::string> started;
  std::vector<std::string> already_running;
  std::string error;           // config or bind error: nothing was started
};

class Supervisor {
 public:
  Supervisor(uv_loop_t* loop, SupervisorOptions options);
  ~Supervisor();

  // Opens $RACK_HOME/rackd.sock. Returns 0 or a negative errno.
  int open_control(std::string& error);
  // Validates and starts the apps of `eco` (all, or `only`). Every listen
  // address is bound before any worker starts; on any error nothing is
  // started and StartResult::error says why (file:line and key).
  StartResult start(const config::Ecosystem& eco, const std::string& only);
  // Applies a changed ecosystem: new apps start, changed ones roll.
  void reload_ecosystem(const config::Ecosystem& eco, const std::string& only, ReloadObserver obs,
                        ReloadOptions options = {});
  // systemd: sends RELOADING=1 now and returns `obs` with a done that sends
  // READY=1 when the reload ends, either way. Every reload goes through it
  // (rackctl reload <file>, <app>, all: the unit's ExecReload).
  ReloadObserver notify_reloading(ReloadObserver obs, const std::string& what);

  ManagedApp* find(const std::string& name);
  std::vector<ManagedApp*> apps();
  // Stops and forgets the app once its workers are gone.
  void remove(const std::string& name, std::function<void()> done);

  // Graceful stop of everything, then the loop ends with `exit_code`.
  void shutdown(int exit_code);
  bool shutting_down() const { return shutting_down_; }
  // SIGTERM: /health fails at once, the apps keep serving for
  // rack.shutdown_delay, then shutdown(0).
  void shutdown_after_delay();
  // Sends READY=1 to systemd once no app meant to run is in its first start.
  void notify_ready_when_settled() { ready_armed_ = true; notify_state(); }

  // Runs the loop until shutdown. Returns the exit code.
  int run();

  nlohmann::json status();
  // GET /health: every app has a ready worker and, with app_checks, every
  // check of the apps' own passes in all their ready workers. /health/live
  // leaves the app checks out (a liveness probe must not restart rackd for
  // an outage a restart cannot fix).
  std::string health(int& http_status, bool app_checks);
  // GET /health/<app>; 404 when there is no such app.
  std::string app_health(const std::string& name, int& http_status);
  // GET /health/live: rackd's own loop turns (the tick ran lately). Apps
  // are left out: a crash-looping app must not get rackd restarted.
  std::string liveness(int& http_status);
  std::string admin_address() const;
  const SupervisorOptions& options() const { return opt_; }
  // Per app name; kept for the daemon's life so that an app deleted and
  // started again counts on (and an AppLog still flushing has somewhere
  // to count).
  LogStats& log_stats(const std::string& app) { return log_stats_[app]; }
  uv_loop_t* loop() { return loop_; }
  void reopen_logs();
  // GET /metrics (admin listener) and /v1/metrics (control socket: rackctl monit).
  void serve_metrics(http::Responder res);

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  void handle_signal(int sig);
  void handle_chld();
  void handle_term();
  void handle_usr1();
  void handle_usr2();  // upgrade (upgrade/exec.h)
  void tick();
  void after_stall(const Stall& s);
  void exit_if_errored();
  void stop_after_final_drain(Clock::time_point deadline);
  static constexpr std::chrono::milliseconds kFinalDrain{2000};
  void notify_state();
  void start_watchdog();
  bool decide_admin(const config::RackSection& from_file, std::string& error);
  int open_admin(const config::RackSection& rack, std::string& error);
  // The HTTP servers and Listener objects, not yet bound (or adopted).
  void make_admin();
  void make_control();
  void serve_admin(http::Request& req, http::Responder res);
  void feed_stdout(ManagedApp& app);

  uv_loop_t* loop_;
  SupervisorOptions opt_;
  std::map<std::string, LogStats> log_stats_;  // node-based: addresses stay valid
  std::map<std::string, std::weak_ptr<AppLog>> app_logs_;  // likewise; see AppContext::log
  // Before apps_: the apps' metrics callbacks point into it, so it must be
  // destroyed after them.
  std::unique_ptr<MetricsEndpoint> metrics_;
  std::unique_ptr<StdoutSink> stdout_sink_;  // before apps_ too: their logs feed it
  std::map<std::string, std::weak_ptr<AppLog>> stdout_fed_;  // the AppLogs subscribed to it
  std::map<std::string, std::unique_ptr<ManagedApp>> apps_;
  std::vector<uv_signal_t*> signals_;
  // The periodic tick (periodic.cc); a gap past loop_stall::kGap between
  // two turns of the loop is a stall.
  static constexpr std::chrono::milliseconds kTickPeriod{250};
  uv_timer_t* tick_timer_ = nullptr;
  unsigned ticks_ = 0;
  ProcScanner proc_scanner_;  // the workers' /proc/<pid>/stat kept open between samples

  std::unique_ptr<http::Server> control_http_;
  std::unique_ptr<Listener> control_;
  std::unique_ptr<http::Server> refuse_http_;
  std::unique_ptr<http::Server> admin_http_;
  std::unique_ptr<Listener> admin_;
  std::unique_ptr<Dashboard> dashboard_;  // GET / and /dashboard/* on the admin listener
  bool admin_decided_ = false;

  bool shutting_down_ = false;
  bool draining_soon_ = false;       // SIGTERM seen, shutdown_delay running
  config::Duration shutdown_delay_{5000};  // from the last ecosystem started
  bool exit_on_errored_ = true;            // likewise (rack.exit_on_errored; --no-daemon only)
  int exit_code_ = 0;
  Clock::time_point last_tick_ = Clock::now();

  // systemd: READY=1 once (ready_armed_ and no first start pending), then
  // STATUS= whenever the line changes.
  uv_timer_t* watchdog_timer_ = nullptr;
  bool ready_armed_ = false;
  bool ready_sent_ = false;
  std::string last_status_;
};

}  // namespace rack::master
