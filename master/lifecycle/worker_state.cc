#include "lifecycle/worker_state.h"

#include <atomic>

namespace rack::master {

std::string_view to_string(WorkerState s) {
  switch (s) {
    case WorkerState::Starting: return "starting";
    case WorkerState::Ready: return "ready";
    case WorkerState::Draining: return "draining";
    case WorkerState::Stopping: return "stopping";
    case WorkerState::Exited: return "exited";
    case WorkerState::Backoff: return "backoff";
    case WorkerState::Errored: return "errored";
  }
  return "unknown";
}

bool allowed(WorkerState from, WorkerState to) {
  using S = WorkerState;
  switch (from) {
    case S::Starting:
      return to == S::Ready || to == S::Backoff || to == S::Errored || to == S::Draining ||
             to == S::Stopping || to == S::Exited;
    case S::Ready:
      return to == S::Draining || to == S::Stopping || to == S::Backoff || to == S::Errored ||
             to == S::Exited;
    case S::Draining:
      return to == S::Stopping || to == S::Exited;
    case S::Stopping:
      // Stopping for a failure (stuck loop, failed start) ends in a restart.
      return to == S::Exited || to == S::Backoff || to == S::Errored;
    case S::Backoff:
      return to == S::Starting || to == S::Errored || to == S::Exited;
    case S::Errored:
      return to == S::Starting || to == S::Exited;
    case S::Exited:
      return false;
  }
  return false;
}

namespace {
// One loop thread changes states; atomic all the same, for the metrics
// scrape that may read it from elsewhere one day.
std::atomic<uint64_t> refused{0};
}  // namespace

uint64_t illegal_transitions() { return refused.load(std::memory_order_relaxed); }

bool Lifecycle::go(WorkerState to) {
  if (!allowed(state_, to)) {
    refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  state_ = to;
  return true;
}

bool Lifecycle::has_process() const {
  return state_ == WorkerState::Starting || state_ == WorkerState::Ready ||
         state_ == WorkerState::Draining || state_ == WorkerState::Stopping;
}

}  // namespace rack::master
