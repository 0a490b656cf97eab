// The state of one app as a whole, computed from its slots. The names are
// fixed (DESIGN.md): `GET /v1/status` apps[].status, `rackctl ls` and
// `describe`, /health and the metrics all use these five words.
//
//   online    every slot has a ready worker
//   degraded  some slots have a ready worker, others do not
//   down      no slot has a ready worker, and rackd is still trying
//             (starting, backoff, replacing a stuck worker)
//   errored   no slot has a ready worker and every slot gave up
//             (more than max_restarts quick exits or failed starts)
//   stopped   the operator stopped it (`rackctl stop`, or never started)
//
// Pure: no I/O, so the rule is unit-tested directly.
//
//   std::vector<WorkerState> slots = {WorkerState::Ready, WorkerState::Backoff};
//   app_status(Stopped::No, slots);   // AppStatus::Degraded
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "lifecycle/worker_state.h"

namespace rack::master {

enum class AppStatus { Online, Degraded, Down, Errored, Stopped };

std::string_view to_string(AppStatus s);
std::optional<AppStatus> parse_app_status(std::string_view s);

enum class Stopped { No, Yes };

// `slots`: the state of each slot's current worker, one entry per slot the
// app should run; a slot with no worker yet counts as Starting.
AppStatus app_status(Stopped stopped, std::span<const WorkerState> slots);

// True when the app is where an operator would want it: online, or stopped
// on purpose. A probe (/health) fails for the other three.
inline bool healthy(AppStatus s) { return s == AppStatus::Online || s == AppStatus::Stopped; }

}  // namespace rack::master
