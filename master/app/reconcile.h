// The reconcile decision (gunicorn's manage_workers, as a pure function):
// given an app's slot table and what the app should run, which slots get a
// worker, which get a replacement, and which go.
//
//   std::vector<SlotView> slots = {{0, true, 1, true, false}};
//   auto actions = reconcile({.instances = 2, .parallel = 1, .generation = 1}, slots);
//   // {Spawn, 1}: slot 1 has no worker yet
//
// ManagedApp::manage() applies the actions, once per loop turn. What it leaves to
// others: a crashed worker's restart (RestartBackoff and the slot's restart
// timer), and the decision to give up (errored): reconcile leaves a slot in
// backoff or errored alone, unless a reload wants a newer generation there.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

namespace rack::master {

// One slot as reconcile sees it.
struct SlotView {
  int index = 0;
  bool has_current = false;        // the slot has a worker record
  uint64_t current_generation = 0;
  bool current_running = false;    // that worker has a process (not backoff, errored)
  bool has_replacement = false;    // a replacement is starting
};

struct Desired {
  bool stopped = false;
  unsigned instances = 1;
  unsigned parallel = 1;    // replacements at a time during a reload
  uint64_t generation = 1;  // what every slot should run
  bool reloading = false;   // replace older workers (else they stay)
  // Only slots below this are replaced (a canary reload's first slots).
  int replace_below = std::numeric_limits<int>::max();
};

enum class SlotAction {
  Spawn,             // the slot has no worker: start one at `generation`
  ReplaceInPlace,    // an older worker with no process: forget it, start a new one
  SpawnReplacement,  // an older running worker: start its replacement beside it
  Retire,            // past `instances`: drain its workers and forget the slot
};

std::string_view to_string(SlotAction a);

struct Action {
  SlotAction action;
  int slot;
  auto operator<=>(const Action&) const = default;
};

// Retires first (lowest slot first), then slots 0..instances-1 in order. At
// most `parallel` replacements run at once, counting those already running.
std::vector<Action> reconcile(const Desired& want, std::span<const SlotView> slots);

}  // namespace rack::master
