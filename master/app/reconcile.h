// The reconcile decision (gunicorn's manage_workers, as a pure function):
// given an app's slot table and what the app should run, which slots get a
// worker, which get a replacement, and which go.
//
//   std::vector<SlotView> slots = {{0, true, 1, true, false}};
//   auto actions = reconcile({.instances = 2, .parallel = 1, .generation = 1}, slots);
//   // {Spawn, 1}: slot 1 has no worker yet
//
// ManagedApp::manage() applies the actions, once per loop turn. What it leaves to
// others: a crashed worker's restart (RestartBackoff gives up or gives a
// delay; restart_after_crash below decides whether it really waits), and
// the decision to give up (errored): reconcile leaves a slot in backoff or
// errored alone, unless a reload wants a newer generation there.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "lifecycle/exit_info.h"

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

// A slot's worker failed and RestartBackoff did not give up: what its
// restart waits for (ManagedApp::crashed applies it).
struct CrashFacts {
  std::chrono::milliseconds backoff_delay{0};  // what RestartBackoff gave
  bool was_serving = false;     // it was ready when it ended
  ExitCause cause = ExitCause::Crash;
  bool start_failing = false;   // the app's starts failed by themselves since a worker was last ready
  bool fixed_delay = false;     // restart.delay is set: the operator's wait is kept
  bool other_attempt = false;   // another slot has a worker ready or starting
};
struct CrashRestart {
  std::chrono::milliseconds delay{0};
  bool start_failing = false;  // the app's flag from now on
  bool hurried = false;        // the backoff's delay was dropped: no worker was ready or starting
};
// A worker that failed before it was ready by its own doing (an exit, a
// fault, no ready signal, an OOM kill) says the app cannot start now: the
// backoff applies until some worker is ready again. One killed from
// outside while it started says nothing about the app. Never every slot of
// a healthy app in backoff at once: when no other worker is ready or
// starting, the restart is now, if the worker was serving or the app's
// starts do not fail by themselves (its quick exit still counts, so a
// worker that dies soon after every start still ends errored).
CrashRestart restart_after_crash(const CrashFacts& f);

}  // namespace rack::master
