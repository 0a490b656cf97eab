#include "lifecycle/backoff.h"

#include <algorithm>

namespace rack::master {

RestartBackoff::RestartBackoff(const config::RestartPolicy& policy)
    : policy_(policy), next_delay_(policy.backoff_initial) {}

RestartDecision RestartBackoff::on_exit(Millis uptime) {
  if (uptime >= policy_.reset_after) reset();
  if (uptime < policy_.min_uptime) {
    ++quick_exits_;
    if (quick_exits_ > policy_.max_restarts) return GiveUp{quick_exits_};
  } else {
    // A worker that lived past min_uptime was not crash-looping: only
    // consecutive quick exits count towards the limit.
    quick_exits_ = 0;
  }
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
