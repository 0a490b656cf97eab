// One app: its config, listening socket, slots and workers, and the
// dispatcher in front of them.
//
// Every change — start, crash, reload, scale, stop — is a change of the
// desired state that marks the app dirty; once per loop turn manage()
// compares slots with what is running (reconcile(), a pure function in
// app/reconcile.h) and starts or drains workers to close the gap
// (gunicorn's manage_workers). A reload is "the desired generation went
// up": older workers are replaced slot by slot, `parallel` at a time.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/app_status.h"
#include "app/autoscale.h"
#include "app/reconcile.h"
#include "app/reload_options.h"
#include "app/triggers.h"
#include "logs/app_log.h"
#include "lifecycle/backoff.h"
#include "dispatch/busy_board.h"
#include "dispatch/dispatcher.h"
#include "dispatch/listener.h"
#include "rack/config.h"
#include "lifecycle/worker.h"
#include "metrics/request_stats.h"

namespace rack::master {

// What a ManagedApp needs from the daemon around it.
struct AppContext {
  uv_loop_t* loop = nullptr;
  std::string logs_dir;  // default for logs.dir
  LogStats* log_stats = nullptr;  // the app's, kept by the Supervisor (its AppLog may outlive the ManagedApp)
  // The AppLog of an earlier ManagedApp of the same name, while something still
  // holds it (a `logs -f` client, a pipe a worker's child keeps open): the
  // new ManagedApp takes it over, so two AppLogs never write and rotate one file.
  std::weak_ptr<AppLog>* log = nullptr;
};

// Progress of a reload, for `rackctl reload`.
struct ReloadObserver {
  std::function<void(const std::string& line)> progress;
  // ok, or the error naming the slot that failed; failed_slot = -1 if none.
  std::function<void(bool ok, const std::string& error, int failed_slot)> done;
};

struct CanaryRun;      // app/canary.h
struct CanaryVerdict;  // app/canary_verdict.h

// rack_* counters for metrics.
struct AppCounters {
  uint64_t connections_dispatched = 0;
  uint64_t connections_requeued = 0;
  uint64_t connections_expired = 0;
  uint64_t connections_held = 0;  // waited in rackd while every worker was busy
  uint64_t reloads = 0;
  uint64_t reloads_failed = 0;
  uint64_t canary_passed = 0;
  uint64_t canary_failed = 0;  // and rolled back
  uint64_t scale_ups = 0;      // by autoscaling
  uint64_t scale_downs = 0;
  uint64_t protocol_errors = 0;  // bad channel messages from workers (rack, node)
  std::map<std::string, uint64_t> restarts_by_reason;  // crash, killed, oom, ready_timeout, heartbeat, memory, max_requests, protocol_error
  std::map<ExitCause, uint64_t> exits_by_cause;
};

class ManagedApp final : public WorkerEvents {
 public:
  ManagedApp(AppContext ctx, config::AppConfig cfg);
  ~ManagedApp() override;

  const std::string& name() const { return cfg_->name; }
  const config::AppConfig& cfg() const { return *cfg_; }

  // Binds the listen address (when the protocol has one). Returns 0 or a
  // negative errno with `error` set.
  int bind(std::string& error);
  void start();
  // Graceful: drains every worker and closes the listener. `done` runs once
  // no process of the app is left.
  void stop(std::function<void()> done);
  // Not graceful: every worker gets SIGTERM now and a fresh one is started.
  void restart();
  // Rolling replacement; with `next` the new config applies to the new workers.
  void reload(std::optional<config::AppConfig> next, ReloadObserver observer, ReloadOptions options = {});
  // By the user (rackctl scale): with instances {min, max}, a manual
  // override that stops autoscaling until resume_autoscale().
  enum class ScaleBy { User, Autoscale };
  void scale(unsigned instances, ScaleBy by = ScaleBy::User);
  void resume_autoscale();
  void set_log_level(const std::string& level);
  // `rackctl reset`: every slot's restart count and backoff start over.
  // The rack_* restart counters do not: Prometheus counters never go back.
  void reset_restarts();

  // The reaper found `pid` exited. Returns false if it is not one of ours.
  bool reap(pid_t pid, int wait_status);
  // Heartbeats, /proc samples, memory limit, queue deadlines.
  // `procs`: this tick's /proc scan, on the ticks that sample (else null).
  void tick(Clock::time_point now, const ProcGroups* procs);
  // rackd's loop did not run for a while (SIGSTOP, a VM pause, swap): that
  // time is no worker's fault, so every heartbeat deadline starts over and
  // every ready timer moves by the stall (lifecycle/loop_stall.h).
  void after_stall(const Stall& s);
  // Workers blocked writing their output because rackd holds it.
  std::size_t blocked_on_logs() const;

  bool stopped() const { return stopped_; }
  // rackd accepts and hands connections over (rack, node), rather than
  // workers accepting on the inherited socket (inherit).
  bool dispatches() const {
    return cfg_->protocol == config::Protocol::Rack || cfg_->protocol == config::Protocol::Node;
  }
  bool has_processes() const;
  std::size_t ready_workers() const;
  // online | degraded | down | errored | stopped, from the slots (app_status.h).
  AppStatus app_status() const;
  std::string health_error() const;  // "" when healthy
  // The app's own checks (rack::App::health_check in its workers) over its ready
  // workers: name → error, "" when it passes in every one of them.
  std::map<std::string, std::string> app_checks() const;
  nlohmann::json status() const;
  // GET /v1/apps/<name> (`rackctl describe`): the command, cwd, env keys
  // (never their values), log paths, restart policy, how worker trees are
  // contained, and every slot with the last exit it saw (app_describe.cc).
  nlohmann::json describe() const;
  const AppCounters& counters() const { return counters_; }
  const LogStats& log_stats() const { return *ctx_.log_stats; }
  std::size_t queue_depth() const { return queue_.size(); }
  const std::vector<Worker*> workers() const;
  std::shared_ptr<AppLog> log() const { return log_; }

  // Metrics from workers (rack protocol), kept by the metrics aggregator.
  std::function<void(Worker&, std::string text, std::string error, bool final)> on_worker_metrics;
  // A worker asks for the app's merged metrics (metrics_path on its port).
  std::function<void(Worker&, uint64_t seq)> on_worker_merged_metrics_request;

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  // How the slot's last process ended, kept across restarts and reloads.
  struct SlotExit {
    pid_t pid = 0;
    std::string what;  // Worker::last_exit: "signal SIGKILL (not sent by rackd: possible OOM kill)"
    ExitCause cause = ExitCause::Crash;
    std::chrono::system_clock::time_point at;
    Millis uptime{0};
  };
  struct SlotState {
    ManagedApp* app;
    int index;
    Worker* current = nullptr;
    Worker* replacement = nullptr;
    RestartBackoff backoff;
    unsigned restarts = 0;
    uv_timer_t* restart_timer = nullptr;  // data = this SlotState
    std::optional<ExitCause> replace_for;  // why the replacement starting now replaces current
    std::optional<SlotExit> last_exit;
    SlotState(ManagedApp* a, int i, const config::RestartPolicy& p) : app(a), index(i), backoff(p) {}
    ~SlotState();
  };

  // WorkerEvents
  void on_ready(Worker& w) override;
  void on_ready_timeout(Worker& w) override;
  void on_conn_returned(Worker& w, int fd) override;
  void on_capacity(Worker& w) override;
  void on_metrics(Worker& w, std::string text, std::string error, bool final) override;
  void on_recycle(Worker& w) override;
  void on_protocol_error(Worker& w) override;
  void on_merged_metrics_request(Worker& w, uint64_t seq) override;
  int on_node_server(Worker& w, const nlohmann::json& query, nlohmann::json& sockname) override;

  // Reconciliation (app/app.cc): reconcile_soon() marks the app dirty; manage()
  // runs once per loop turn and applies reconcile() (app/reconcile.h).
  void arm_triggers();  // cron_restart and watch, for the current config
  void open_reconcile_handles();
  void reconcile_soon();
  void manage();
  void apply(const Action& a);
  void retire_slot(int index);
  void create_shared_segment();
  Worker* new_worker(Slot slot, uint64_t generation);
  void forget(Worker& w);
  bool start_process(Worker& w);
  void start_failed(Worker& w);
  // Exits (app/app_restart.cc). A slot's worker failed (exit_info().cause):
  // backoff, or errored.
  enum class WasServing { No, Yes };  // the worker was ready when it ended
  void crashed(SlotState& s, Worker& w, WasServing serving = WasServing::No);
  // Some other slot than `except` has a worker ready or starting.
  bool attempt_in_flight(const SlotState* except) const;
  void schedule_restart(SlotState& s, Worker& w, Millis delay);
  void retire(Worker& w);  // leaving worker exited: forget it
  void maybe_finish_stop();  // app/app_operations.cc
  // Graceful replacement (app/app_reload.cc) of a slot's worker for `cause` (max_memory, max_requests).
  void recycle(Slot slot, const std::string& why, ExitCause cause);
  void check_heartbeats(Clock::time_point now);  // app/app_tick.cc

  // Connections (app/app_dispatch.cc).
  void on_accept(int fd);
  // Yes: a worker took it. Held: every worker is busy and `may_hold`, so it
  // waits in rackd. No: no ready worker would take it.
  enum class Handed { Yes, No, Held };
  Handed hand(int fd, bool may_hold);
  void enqueue(int fd, bool front);
  void drain_queue();
  void hold_poll(bool on);  // drain_queue() every 1 ms while on
  bool holding() const;     // the front of the queue waits for a busy worker

  // Reloads (app/app_reload.cc).
  void finish_reload(bool ok, const std::string& error, int slot);
  void reload_progress();

  // Canary reloads (app/app_canary.cc): the first slots are replaced and
  // watched (app/canary.h), then the rest follow or the canary slots go
  // back to the old generation.
  std::unique_ptr<CanaryRun> canary_plan(const ReloadOptions& options) const;
  int canary_replace_below() const;  // slots a reload may replace now
  bool canary_on_ready();            // true: the canary decides what follows
  void canary_metrics(Worker& w, const std::string& text);
  void canary_crashed(Worker& w);
  bool canary_rolling_back() const;
  void canary_watch();
  void canary_judged(CanaryVerdict v);
  void canary_roll_back(SlotState& s, uint64_t generation);
  unsigned canary_missing(unsigned below, uint64_t generation) const;
  void maybe_finish_reload();

  // Autoscaling (app/app_autoscale.cc, decisions in app/autoscale.h).
  void autoscale_tick(Clock::time_point now, bool sampled);
  void autoscale_metrics(Worker& w, const std::string& text);
  void autoscale_keep(config::AppConfig& next) const;
  nlohmann::json autoscale_status() const;
  std::optional<double> busy_of(Worker& w, Clock::time_point now);  // since its last sample  // every slot runs a ready worker of the new generation: done

  AppContext ctx_;
  std::shared_ptr<const config::AppConfig> cfg_;
  std::shared_ptr<const config::AppConfig> previous_cfg_;  // restored if a reload fails
  Listener listener_;
  Dispatcher dispatcher_;
  ConnQueue queue_;
  std::shared_ptr<AppLog> log_;

  std::map<WorkerId, std::unique_ptr<Worker>> workers_;
  std::map<int, std::unique_ptr<SlotState>> slots_;
  uint64_t next_worker_id_ = 1;
  uint64_t generation_ = 1;  // what manage() wants every slot to run

  struct Reload {
    ReloadObserver observer;
    unsigned total = 0;
    unsigned replaced = 0;
    std::unique_ptr<CanaryRun> canary;  // a canary reload
  };
  std::optional<Reload> reload_;

  std::unique_ptr<Autoscaler> autoscaler_;
  bool autoscale_override_ = false;  // rackctl scale: the user decides
  RequestStats latency_window_;      // latency_p95: counted since the last tick
  std::map<std::pair<uint64_t, Clock::time_point>, RequestStats> latency_last_;  // per process
  std::map<std::pair<uint64_t, Clock::time_point>, std::pair<uint64_t, Clock::time_point>> busy_last_;

  bool stopped_ = true;
  bool dirty_ = false;  // manage() runs at the end of this loop turn
  // A worker failed by itself before it was ready, and none has been
  // ready since: restarts keep their backoff (crashed()).
  bool start_failing_ = false;
  uv_check_t* reconcile_check_ = nullptr;
  uv_idle_t* reconcile_idle_ = nullptr;
  uv_timer_t* hold_timer_ = nullptr;  // hold_poll()
  std::vector<std::function<void()>> stop_waiters_;
  std::string log_level_;  // set by `rackctl loglevel`, given to new workers
  AppCounters counters_;
  std::vector<Candidate> candidates_;  // reused per dispatch
  std::unique_ptr<AppTriggers> triggers_;  // while running, when the config asks for one
  std::string shm_path_;               // RACK_SHM for the workers; "" if none
  std::unique_ptr<BusyBoardFile> busy_board_;  // least-connections' busy board; null if none
  static constexpr std::size_t kSharedSegmentBytes = 4u << 20;
  // Set while a new rackd image adopts its apps (upgrade/state.h): the
  // segment holds what the running workers share and must not be zeroed.
  static inline bool keep_segments_ = false;
};

}  // namespace rack::master
