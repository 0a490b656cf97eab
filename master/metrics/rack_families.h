// rackd's own families on /metrics: what it counts itself (rack_*), the
// apps' states and limits, the log volumes, and /proc figures for every
// worker of every protocol and for rackd. They are `exclusive`: a worker
// family of the same name (prom-client's process_cpu_user_seconds_total,
// say) cannot add to them, so one name means one thing whatever the worker
// speaks.
#pragma once

#include <vector>

#include "lifecycle/worker.h"
#include "metrics/text.h"

namespace rack::master {

class ManagedApp;

inline bool has_live_process(const Worker& w) { return w.pid() > 0 && w.lifecycle().has_process(); }

// Adds the families of `apps` (and of rackd's own process when asked) to `ex`.
void render_rack_families(const std::vector<ManagedApp*>& apps, bool with_rackd_process, Exposition& ex);

}  // namespace rack::master
