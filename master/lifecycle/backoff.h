// Restart policy for one slot: exponential backoff and the crash-loop limit.
//
// Pure: the caller says how long the process lived, this says what to do.
// Defaults (DESIGN.md): 100 ms × 1.5 up to 15 s, reset after 30 s of uptime;
// more than max_restarts exits that each lived < min_uptime → give up.
//
// Backoff is for crash loops only. A worker that ran for min_uptime and
// then died (killed from outside, a crash after hours of service) was
// healthy: it is restarted at once, and the delay starts over. A start
// that failed (no ready signal within ready_timeout, exec failed) is a
// quick exit however long it took: a worker that is never ready must end
// errored, not restart forever.
//
// restart.delay (PM2's restart_delay) replaces both delays with one fixed
// wait; quick exits still count towards giving up.
#pragma once

#include <chrono>
#include <variant>

#include "lifecycle/exit_info.h"
#include "rack/config.h"

namespace rack::master {

using Millis = std::chrono::milliseconds;

struct RestartAfter {
  Millis delay;
};
struct GiveUp {
  unsigned quick_exits;
};
using RestartDecision = std::variant<RestartAfter, GiveUp>;

// The worker never became ready: ready_timeout passed, or it never ran.
enum class FailedStart { No, Yes };

class RestartBackoff {
 public:
  explicit RestartBackoff(const config::RestartPolicy& policy);

  // A worker exited (crashed, or failed to become ready) after `uptime`.
  RestartDecision on_exit(Millis uptime, FailedStart failed = FailedStart::No);
  // The user restarted the slot by hand: start over.
  void reset();
  unsigned quick_exits() const { return quick_exits_; }

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  config::RestartPolicy policy_;
  Millis next_delay_;
  unsigned quick_exits_ = 0;
};

// "" when a worker that ended with `exit` is restarted; else why not:
// "autorestart: false" (it ended without rackd asking), or "exit code 0 is
// in stop_exit_codes" (it exited on its own with that code).
std::string not_restarted_because(const config::AppConfig& app, const ExitInfo& exit);

}  // namespace rack::master
