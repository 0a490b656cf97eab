// Restart policy for one slot: exponential backoff and the crash-loop limit.
//
// Pure: the caller says how long the process lived, this says what to do.
// Defaults (DESIGN.md): 100 ms × 1.5 up to 15 s, reset after 30 s of uptime;
// more than max_restarts exits that each lived < min_uptime → give up.
#pragma once

#include <chrono>
#include <variant>

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

class RestartBackoff {
 public:
  explicit RestartBackoff(const config::RestartPolicy& policy);

  // A worker exited (crashed, or failed to become ready) after `uptime`.
  RestartDecision on_exit(Millis uptime);
  // The user restarted the slot by hand: start over.
  void reset();
  unsigned quick_exits() const { return quick_exits_; }

 private:
  config::RestartPolicy policy_;
  Millis next_delay_;
  unsigned quick_exits_ = 0;
};

}  // namespace rack::master
