#include "lifecycle/backoff.h"

#include <algorithm>

namespace rack::master {

RestartBackoff::RestartBackoff(const config::RestartPolicy& policy)
    : policy_(policy), next_delay_(policy.backoff_initial) {}

RestartDecision RestartBackoff::on_exit(Millis uptime, FailedStart failed) {
  if (failed == FailedStart::No && uptime >= policy_.min_uptime) {
    // A worker that lived past min_uptime was not crash-looping: only
    // consecutive quick exits count towards the limit, and it comes back
    // at once (a slot in backoff is capacity lost while it waits).
    reset();
    return RestartAfter{Millis(0)};
  }
  ++quick_exits_;
  if (quick_exits_ > policy_.max_restarts) return GiveUp{quick_exits_};
  Millis delay = next_delay_;
  auto grown = std::chrono::duration_cast<Millis>(next_delay_ * policy_.backoff_factor);
  next_delay_ = std::min(std::max(grown, next_delay_ + Millis(1)), policy_.backoff_max);
  return RestartAfter{std::min(delay, policy_.backoff_max)};
}

void RestartBackoff::reset() {
  next_delay_ = policy_.backoff_initial;
  quick_exits_ = 0;
}

}  // namespace rack::master
