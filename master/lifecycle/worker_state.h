// The worker lifecycle: the one place where a worker's state changes.
//
//   Starting ──ready──► Ready ──drain──► Draining ──kill_timeout──► Stopping
//      │                  │                  │                          │
//      │ crash/timeout    │ crash            └──────── exit ───────────►├─► Exited
//      ▼                  ▼                                             │
//   Backoff ◄─────────────┘ (restart timer) ──► Starting                │
//      │ too many quick exits                                           │
//      ▼                                                                │
//   Errored ── user restart ──► Starting          Stopping ── exit ─────┘
//
// A worker rackd kills because it failed (stuck event loop, no ready signal)
// goes Stopping → Backoff when it exits, like a crash. A restart from
// Backoff that cannot even spawn goes Backoff → Errored once it gives up.
//
// Worker::enter() (lifecycle/worker.cc) is the only caller of go(): it
// does everything entering a state implies (the ready and kill timers, the
// escalation, the readiness probes), like systemd's service_set_state().
// The one other writer is restore(), for a worker adopted across an
// upgrade of rackd.
//
// A Worker record is a slot's current incarnation: restarts after a crash
// reuse the record (same generation, new pid); a reload or config change
// creates a new record with the next generation while the old one drains.
#pragma once

#include <cstdint>
#include <string_view>

namespace rack::master {

enum class WorkerState { Starting, Ready, Draining, Stopping, Exited, Backoff, Errored };

std::string_view to_string(WorkerState s);

// True when `from → to` is a transition of the machine above.
bool allowed(WorkerState from, WorkerState to);

// Transitions refused since the process started, over every worker:
// rack_illegal_transitions_total. Anything but 0 is a bug in rackd.
uint64_t illegal_transitions();

// Holds a state and refuses transitions that are not in the machine.
class Lifecycle {
 public:
  WorkerState state() const { return state_; }
  // Returns false (and leaves the state alone) for a transition that is not
  // allowed, and counts it (illegal_transitions()): it means a bug in rackd.
  bool go(WorkerState to);

  bool has_process() const;      // a live pid belongs to this state
  bool in_rotation() const { return state_ == WorkerState::Ready; }
  bool leaving() const { return state_ == WorkerState::Draining || state_ == WorkerState::Stopping; }

  // The state a worker had before rackd re-executed itself (upgrade/):
  // restored, not entered. The adoption re-arms its timers with the time
  // they had left; nothing else sets a state without go().
  void restore(WorkerState s) { state_ = s; }

 private:
  WorkerState state_ = WorkerState::Starting;
};

}  // namespace rack::master
