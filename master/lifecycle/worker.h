// One worker process as rackd sees it: its lifecycle state, its channel
// (rack protocol), the connections handed to it and not yet acknowledged,
// and its timers. Decisions about what to do when it is ready, exits or
// misbehaves belong to the ManagedApp (WorkerEvents); the Worker does the I/O.
//
//   worker.cc        start, readiness, hand-off, exit
//   worker_stop.cc   drain, terminate, abort: the kill escalation (escalation.h)
//   spawn_env.cc     what the process is started with, per protocol
//   rack_channel.cc  the rack channel's I/O; notify_socket.cc sd_notify
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dispatch/busy_board.h"
#include "dispatch/dispatcher.h"
#include "dispatch/load_count.h"
#include "dispatch/sockname.h"
#include "lifecycle/escalation.h"
#include "lifecycle/exit_info.h"
#include "lifecycle/http_probe.h"
#include "lifecycle/loop_stall.h"
#include "lifecycle/notify_socket.h"
#include "lifecycle/proc_stats.h"
#include "lifecycle/rack_channel.h"
#include "lifecycle/spawn_env.h"
#include "lifecycle/worker_state.h"
#include "logs/app_log.h"
#include "logs/log_pipe.h"
#include "node/channel.h"
#include "rack/channel.h"
#include "rack/config.h"

namespace rack::master {

struct Slot {
  int index = 0;
  auto operator<=>(const Slot&) const = default;
};

class Worker;

// What a worker reports upwards. Implemented by ManagedApp.
class WorkerEvents {
 public:
  virtual ~WorkerEvents() = default;
  virtual void on_ready(Worker& w) = 0;
  virtual void on_ready_timeout(Worker& w) = 0;
  virtual void on_conn_returned(Worker& w, int fd) = 0;
  // The worker can take connections again after give() refused one: node
  // answered connections it had in flight, or a full channel drained; or it
  // may have come free for one rackd holds (least-connections): it
  // acknowledged a connection, or reported one closed.
  virtual void on_capacity(Worker& w) = 0;
  // A metrics snapshot (text exposition), or `error` when the worker
  // answered with none it could give (prom-client's error answer).
  virtual void on_metrics(Worker& w, std::string text, std::string error, bool final) = 0;
  virtual void on_recycle(Worker& w) = 0;  // max_requests reached
  // The worker serves metrics_path and wants the app's merged metrics;
  // answer with Worker::send_merged_metrics(seq, ...).
  virtual void on_merged_metrics_request(Worker& w, uint64_t seq) {}
  // The worker sent a message rackd refused (Worker::protocol_errors() so far).
  virtual void on_protocol_error(Worker& w) {}
  // A node worker of an app with no `listen` asks for a server
  // (queryServer): 0 with the listener's address as node reports it, or a
  // negative errno its listen() fails with.
  virtual int on_node_server(Worker& w, const nlohmann::json& query, nlohmann::json& sockname) { return -ENOTSUP; }
};

class Worker {
 public:
  // Bounds on what one worker's messages may make rackd hold (rack/channel.h
  // and node/channel.h bound the channels themselves). Going past one is a
  // protocol error: the message is refused and counted.
  static constexpr std::size_t kMaxMetricsSnapshot = 8u << 20;  // a MetricsRep reassembled
  static constexpr unsigned kMaxMergedPending = 4;              // MergedMetricsReq not answered yet
  // Protocol errors after which the App replaces the worker (gracefully).
  static constexpr unsigned kMaxProtocolErrors = 32;

  Worker(uv_loop_t* loop, WorkerEvents& events, WorkerId id, Slot slot, uint64_t generation,
         std::shared_ptr<const config::AppConfig> cfg);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Spawns the process (again, after a backoff). `listen_fd` is the app's
  // socket for protocol inherit. Returns 0 or a negative errno with `error`
  // set. On success the state is Starting and the ready timer runs.
  int start(int listen_fd, std::shared_ptr<AppLog> log, std::string& error);

  // Hands a connection over the channel. Returns false when the worker
  // cannot take it now (channel full or gone); the caller keeps the fd.
  bool give(int fd);
  // The fds given and not acknowledged: they go back to the dispatcher when
  // the worker dies. Clears the list.
  std::vector<int> take_unacked();

  // The one place a worker's state changes. Refuses (logs, counts in
  // rack_illegal_transitions_total, returns false) a transition the machine
  // does not have. Entering a state does all it implies:
  //   Starting  the readiness probe (ready: {http}) and the ready timer
  //             start (ready_timeout, or min_uptime for workers that do
  //             not signal readiness); no kill step yet
  //   Ready     the ready timer stops, the HTTP probe goes
  //   Draining, Stopping   the ready timer stops and `kill` begins: its
  //             signal is sent and the kill timer armed for the step after
  //             it (escalation.h). Stopping → Stopping is a step further
  //             while the process is still there (SIGTERM, then SIGKILL)
  //   Backoff, Errored, Exited   both timers stop, the escalation ends
  bool enter(WorkerState to, KillOrder kill = {});

  // Each asks the process to go for `why` (what its exit will say) and
  // starts the kill escalation (escalation.h).
  // Graceful: rack → Drain message; node → disconnect; others → SIGTERM.
  // SIGTERM after kill_timeout, then SIGKILL.
  void drain(ExitCause why);
  // Not graceful: SIGTERM now, SIGKILL after kill_timeout.
  void terminate(ExitCause why);
  // Stuck: SIGABRT now so it may leave a core, SIGKILL shortly after.
  void abort_stuck();
  // SIGKILL now (a failed start, an aborted replacement).
  void kill_now(ExitCause why);

  // Called by the reaper. Reads what the channel still holds, closes it and
  // records exit_info(); the ManagedApp then enters Exited, Backoff or Errored.
  void process_exited(int wait_status);
  // start() failed: exit_info() says FailedExec.
  void record_failed_start() { exit_ = failed_exec(); }
  const ExitInfo& exit_info() const { return exit_; }

  // Heartbeat: rack → Ping; node → {cmd: NODE_RACK_PING} (one in flight),
  // answered by the preload from the worker's event loop; no-op otherwise.
  void ping();
  void request_metrics(uint64_t seq);
  void send_merged_metrics(uint64_t seq, std::string_view text);  // MergedMetricsRep, chunked
  void set_log_level(const std::string& level);
  void sample_proc(std::chrono::steady_clock::time_point now, const ProcGroups& groups);

  // Identity.
  WorkerId id() const { return id_; }
  Slot slot() const { return slot_; }
  uint64_t generation() const { return generation_; }
  pid_t pid() const { return pid_; }
  const config::AppConfig& cfg() const { return *cfg_; }

  const Lifecycle& lifecycle() const { return life_; }
  WorkerState state() const { return life_.state(); }

  // Figures for status, metrics and decisions.
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }
  double uptime_s() const;
  double cpu_percent() const { return cpu_percent_; }
  const std::optional<ProcSample>& proc() const { return proc_; }
  uint64_t load() const { return load_.value(); }
  // A connection handed over that the worker has not acknowledged taking.
  bool has_unacked() const { return !unacked_.empty(); }
  std::optional<std::chrono::steady_clock::time_point> load_waiting_since() const { return load_.waiting_since(); }
  std::chrono::steady_clock::time_point last_pong() const { return last_pong_; }
  // The heartbeat deadline starts over from `now`: rackd's own loop did
  // not run (a stall), or held the worker's output (blocked on logs), so
  // the time since the last pong says nothing about the worker.
  void restart_heartbeat(std::chrono::steady_clock::time_point now) { last_pong_ = now; }
  // Whether a missed heartbeat_timeout means a stuck loop: always for rack
  // workers; for node workers once they answered a ping (the preload
  // announces itself at start), so a node runtime without the preload is
  // not taken for stuck.
  bool judged_by_heartbeat() const;
  // rackd's loop did not run for s.length(): the heartbeat deadline starts
  // over, and the ready timer (ready_timeout, min_uptime) moves by as much.
  void after_stall(const Stall& s);
  // rackd stopped reading its stdout or stderr (on_full: block, the log
  // disk slow or full) while it has output waiting: it is blocked writing.
  bool blocked_on_logs() const;
  uint64_t dispatched() const { return dispatched_; }
  unsigned protocol_errors() const { return protocol_errors_; }
  // The app's own health checks as this worker last reported them.
  const std::vector<channel::CheckResult>& health_checks() const { return health_checks_; }

  // Set by the ManagedApp: restarts of this slot, and why the last process ended.
  unsigned restarts = 0;
  std::string last_exit;  // "exit code 1", "signal SIGKILL (possible OOM)", ...
  std::string fail_reason;  // set when a failed start or a stuck loop is why it dies
  bool not_restarted = false;  // Errored on purpose: autorestart: false, stop_exit_codes
  std::string shm_path;  // the app's shared segment, given to the worker as RACK_SHM
  // The app's busy board: the worker writes its entry (by slot and
  // generation), least-connections reads it. Null: no board.
  void attach_busy_board(const BusyBoardFile* board);
  // How long it has been inside one request handler at `now` (0: not in
  // one, or no board).
  std::chrono::nanoseconds busy_for(std::chrono::steady_clock::time_point now) const;

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  int open_channels(int listen_fd, std::string& error, SpawnPlan& plan);
  void attach_node(int fd, int listen_fd);
  void arm_readiness();
  void arm_ready_timer();
  void mark_ready(const char* how);
  RackChannel::Events rack_events();
  void on_rack_message(channel::Message& m);
  void on_node_message(const nlohmann::json& m);
  void on_metrics_piece(const channel::Message& m);
  void on_conn_return(channel::Message& m);
  void on_merged_metrics_request(const channel::Message& m);
  // A message refused: logged the first time (with `what`), counted always.
  void protocol_error(const std::string& what);
  bool send(channel::Type type, std::string_view payload, int fd = -1, uint16_t flags = 0);
  void close_channel();
  // Sends the order's signal now, and arms the kill timer for what
  // follows. Only enter() calls it.
  void escalate(const KillOrder& kill);
  void on_kill_timer();
  void signal(int sig, const char* why);

  uv_loop_t* loop_;
  WorkerEvents& events_;
  WorkerId id_;
  Slot slot_;
  uint64_t generation_;
  std::shared_ptr<const config::AppConfig> cfg_;
  Lifecycle life_;
  bool fresh_ = true;  // never started: its first enter(Starting) is from the initial Starting
  pid_t pid_ = -1;
  std::optional<ExitCause> asked_;  // why rackd asked the current process to go
  ExitInfo exit_;

  bool exited_ = false;                        // process_exited() has begun
  std::unique_ptr<RackChannel> rack_;          // protocol rack
  std::unordered_map<uint64_t, int> unacked_;  // conn id → rackd's copy of the fd
  std::unique_ptr<NodeChannel> node_;          // protocol node
  std::unique_ptr<HttpProbe> probe_;           // ready: {http: path}
  std::unique_ptr<NotifySocket> notify_;       // ready: notify
  std::shared_ptr<const PipeFlow> out_flow_, err_flow_;  // its stdout/stderr pipes, as rackd reads them
  uint64_t notify_seq_ = 0;
  std::string metrics_buf_;
  bool metrics_overflow_ = false;      // skipping the rest of an oversized snapshot
  unsigned merged_pending_ = 0;        // MergedMetricsReq taken, not answered
  uint64_t returned_ = 0;              // ConnReturns taken: never more than dispatched_
  const BusyBoardFile* busy_board_ = nullptr;
  const busy_board::Entry* busy_entry_ = nullptr;
  std::optional<SockName> listen_addr_;  // what returned connections must be accepted on
  unsigned protocol_errors_ = 0;

  uv_timer_t* ready_timer_ = nullptr;
  std::chrono::steady_clock::time_point ready_due_at_{};  // when ready_timer_ fires, stalls added
  uv_timer_t* kill_timer_ = nullptr;
  KillStep kill_step_ = KillStep::None;

  std::chrono::steady_clock::time_point started_at_{};
  std::optional<uint64_t> oom_kills_at_start_;  // the kernel's OOM kill count then (proc_stats.h)
  std::chrono::steady_clock::time_point last_pong_{};
  std::chrono::steady_clock::time_point sampled_at_{};
  std::optional<ProcSample> proc_;
  double cpu_percent_ = 0;
  unsigned samples_since_fds_ = 0;  // sample_proc: descriptors counted every few samples
  std::vector<channel::CheckResult> health_checks_;
  LoadCount load_;  // least-connections
  uint64_t dispatched_ = 0;
  uint64_t ping_seq_ = 0;
  bool answers_pings_ = false;      // node: a NODE_RACK_PONG came from this process
  bool node_ping_pending_ = false;  // node: a ping not answered yet (no second one queued behind it)
  // Conn ids, unique over rackd's life (and across an upgrade's exec: a
  // worker may still ack ids the previous image handed out).
  static inline uint64_t next_conn_id_ = 1;
};

}  // namespace rack::master
