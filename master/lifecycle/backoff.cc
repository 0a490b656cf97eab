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
    return RestartAfter{policy_.delay.value_or(Millis(0))};
  }
  ++quick_exits_;
  if (quick_exits_ > policy_.max_restarts) return GiveUp{quick_exits_};
  if (policy_.delay) return RestartAfter{*policy_.delay};
  Millis delay = next_delay_;
  auto grown = std::chrono::duration_cast<Millis>(next_delay_ * policy_.backoff_factor);
  next_delay_ = std::min(std::max(grown, next_delay_ + Millis(1)), policy_.backoff_max);
  return RestartAfter{std::min(delay, policy_.backoff_max)};
}

void RestartBackoff::reset() {
  next_delay_ = policy_.backoff_initial;
  quick_exits_ = 0;
}

std::string not_restarted_because(const config::AppConfig& app, const ExitInfo& exit) {
  bool on_its_own = exit.cause == ExitCause::Crash || exit.cause == ExitCause::OutsideSignal ||
                    exit.cause == ExitCause::OomSuspect;
  if (!app.autorestart && on_its_own) return "autorestart: false";
  const auto& codes = app.stop_exit_codes;
  if (exit.cause == ExitCause::Crash && exit.code >= 0 && std::find(codes.begin(), codes.end(), exit.code) != codes.end())
    return "exit code " + std::to_string(exit.code) + " is in stop_exit_codes";
  return "";
}

}  // namespace rack::master
