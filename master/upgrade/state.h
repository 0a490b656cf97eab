// rackd's state, handed from one image to the next across execve() (same
// PID, so every worker stays rackd's child): `rackctl upgrade`, SIGUSR2.
//
// Old image (upgrade/exec.cc): StateCodec::save() writes what rackd holds
// as one JSON document into a memfd; descriptors travel as their numbers,
// kept open by clearing FD_CLOEXEC on each (listeners, worker channels,
// stdout/stderr pipes, notify sockets, unacked and queued connections, the
// control socket, the admin listener, the guardian's pipe, the RACK_HOME
// lock). New image (`rackd --adopt-state N --previous-image M`): checks
// "format" and "version", StateCodec::adopt() rebuilds every object around
// the same descriptors, and the loop resumes.
//
// Adopting has no effect a worker or client can see (nothing is sent,
// closed or killed) until StateCodec::resume(): a new image that refuses or
// fails to adopt execs the previous image again (fd M, opened on
// /proc/self/exe before the upgrade), which takes the same state back.
//
// Document (version 1):
//   {format:"rackd-state", version, attempt, binary, from, paused_at_ns,
//    image:{upgrades, first_started_ms}, args:{home, foreground, stdout_logs},
//    notifier:{socket, watchdog_usec}, fds:{lock, control, admin}, sched_reset,
//    guardian:{fd, pid, groups:[[pgid, session, ticks]]},
//    supervisor:{...}, apps:[app], pipes:[{app, fd, stream, slot, partial}],
//    metrics:{app:{retired, live:[...]}}}
// where an app carries its resolved config, listener, queue (fds and
// deadlines), counters, slots (restarts, backoff, restart timer) and
// workers (pid, state, timers as time left, channels with their outboxes,
// connections handed and not acked). Times on the steady clock travel as
// its raw count: CLOCK_MONOTONIC is the same clock in both images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rack::master {

class ManagedApp;
class Supervisor;
class Worker;

namespace upgrade {

// Bumped whenever the document's shape changes (a field of AppConfig, too).
constexpr int kStateVersion = 1;

// "rackd 0.1.0 (git 1a2b3c) reads state 1": what `rackd --version` prints,
// and what check_binary() expects from a new binary.
std::string version_line();

// This image, for GET /v1/status (rackd.version, started, upgrades) and for
// `rackctl upgrade`, which waits for last_attempt to reach its attempt.
struct ImageInfo {
  int64_t started_ms = 0;        // when this image started (unix ms)
  int64_t first_started_ms = 0;  // when the first image of this rackd started
  uint64_t upgrades = 0;         // images taken over successfully
  uint64_t attempts = 0;         // upgrades asked for (a failed one counts)
  bool pending = false;          // an exec is scheduled
  double check_ms = 0;           // the last pre-flight (`--check-state`), loop blocked meanwhile
  nlohmann::json last = nullptr; // {attempt, ok, error | {from, to, paused_ms}}
};
ImageInfo& image();
nlohmann::json status_json();  // rackd.{version, started, upgrades, last_upgrade}

}  // namespace upgrade

class StateCodec {
 public:
  // Why an upgrade cannot start now ("" when it can): a reload or a
  // graceful replacement is running (its rackctl waits on a connection
  // that cannot cross the exec), or rackd is shutting down.
  static std::string busy(Supervisor& sup);
  // The document; `fds` gets every descriptor it names.
  static nlohmann::json save(Supervisor& sup, std::vector<int>& fds);
  // Rebuilds sup's apps, workers, listeners, pipes and metrics from `state`.
  // Throws (std::exception) when the document is not what it should be.
  static void adopt(Supervisor& sup, const nlohmann::json& state);
  // After adopt(): reaps the workers that exited during the exec (they are
  // attributed to their slots, which restart them) and reconciles.
  static void resume(Supervisor& sup);

 private:
  // The Worker fields that cross the exec as they are, named once for
  // save_worker and adopt_worker: f("key", field) for each.
  template <class W, class F>
  static void worker_plain_fields(W& w, const F& f) {
    f("pid", w.pid_);
    f("fresh", w.fresh_);
    f("restarts", w.restarts);
    f("last_exit", w.last_exit);
    f("fail_reason", w.fail_reason);
    f("shm_path", w.shm_path);
    f("dispatched", w.dispatched_);
    f("ping_seq", w.ping_seq_);
    f("notify_seq", w.notify_seq_);
  }

  static nlohmann::json save_app(ManagedApp& app, std::vector<int>& fds);
  static nlohmann::json save_worker(const ManagedApp& app, Worker& w, std::vector<int>& fds);
  static nlohmann::json save_supervisor(Supervisor& sup, std::vector<int>& fds);
  static nlohmann::json save_metrics(Supervisor& sup);
  static std::string stdout_pending(Supervisor& sup);
  static void adopt_supervisor(Supervisor& sup, const nlohmann::json& j);
  static void adopt_app(Supervisor& sup, const nlohmann::json& j);
  static void adopt_worker(ManagedApp& app, int listen_fd, const nlohmann::json& j);
  static void adopt_slots(ManagedApp& app, const nlohmann::json& j);
  static void adopt_metrics(Supervisor& sup, const nlohmann::json& j);
};

}  // namespace rack::master
