// rackd's periodic jobs (redis's serverCron): the tick, and what runs
// beside it on timers of its own (systemd's watchdog and status line).
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "dispatch/fd_reserve.h"
#include "lifecycle/cgroup.h"
#include "lifecycle/loop_stall.h"
#include "lifecycle/proc_stats.h"
#include "service_status.h"
#include "supervisor.h"
#include "uv_handle.h"

namespace rack::master {

// WATCHDOG=1 from a timer on the loop, so a loop stuck in a callback stops
// the pings and systemd (WatchdogSec=) restarts rackd.
void Supervisor::start_watchdog() {
  if (!opt_.notifier.watchdog()) return;
  watchdog_timer_ = new_handle<uv_timer_t>(this);
  uv_timer_init(loop_, watchdog_timer_);
  uv_unref(reinterpret_cast<uv_handle_t*>(watchdog_timer_));
  auto every = static_cast<uint64_t>(opt_.notifier.watchdog_interval().count());
  opt_.notifier.send("WATCHDOG=1");
  uv_timer_start(watchdog_timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<Supervisor*>(t->data)) self->opt_.notifier.send("WATCHDOG=1");
  }, every, every);
}

// READY=1 the first time nothing is in its first start, STATUS= when the
// line changes. Runs from the tick and after starts and reloads.
void Supervisor::notify_state() {
  if (!opt_.notifier.enabled() || shutting_down_ || draining_soon_) return;
  std::string line = status_line(apps());
  if (ready_armed_ && !ready_sent_ && !any_starting(apps())) {
    ready_sent_ = true;
    last_status_ = line;
    opt_.notifier.send("READY=1\nSTATUS=" + line);
    return;
  }
  if (!ready_sent_) line = "starting: " + line;
  if (line == last_status_) return;
  last_status_ = line;
  opt_.notifier.send("STATUS=" + line);
}

// Every kTickPeriod:
//   - a stall of the loop noticed: deadlines move first (after_stall)
//   - RLIMIT_NOFILE re-read (prlimit may have moved it)
//   - per app: queue deadlines, heartbeats, max_memory, autoscaling, and
//     one /proc scan for every worker each 4th tick (app_tick.cc)
//   - worker cgroups left to remove, once empty
//   - --no-daemon: exit 3 on an errored app; systemd's status line
void Supervisor::tick() {
  bool sample = (++ticks_ % 4) == 0;  // /proc once a second
  auto now = Clock::now();
  loop_stall::check(now);
  fd_reserve::refresh();
  // One /proc scan serves every worker's sample.
  std::optional<ProcGroups> procs;
  if (sample) {
    std::unordered_set<pid_t> groups;  // a worker leads its own process group
    for (auto& [name, app] : apps_)
      for (const Worker* w : app->workers())
        if (w->pid() > 0) groups.insert(w->pid());
    procs = aggregate_groups(proc_scanner_.scan(groups));
  }
  for (auto& [name, app] : apps_) app->tick(now, procs ? &*procs : nullptr);
  cgroup::sweep();
  last_tick_ = now;
  exit_if_errored();
  notify_state();
}

// rackd's loop did not run (SIGSTOP, a VM pause, a swap storm, a callback
// that blocked): the workers' answers meanwhile wait unread in their
// channels. Heartbeat and ready deadlines count only time the loop ran,
// so each moves by the stall before anyone is judged (loop_stall.h).
void Supervisor::after_stall(const Stall& s) {
  spdlog::warn("rackd's loop did not run for {} ms (stopped or starved): heartbeat deadlines start over, "
               "ready_timeout deadlines move by as much",
               std::chrono::duration_cast<std::chrono::milliseconds>(s.length()).count());
  for (auto& [name, app] : apps_) app->after_stall(s);
}

// --no-daemon: an app that gave up on every slot will not come back by
// itself, and the service manager or container runtime sees only rackd. A
// rackd that went on running would hide the outage from them: stop every
// app and exit 3, so that they restart it or report it (rack.exit_on_errored).
void Supervisor::exit_if_errored() {
  if (!opt_.foreground || !exit_on_errored_ || shutting_down_) return;
  for (auto& [name, app] : apps_) {
    if (app->app_status() != AppStatus::Errored) continue;
    spdlog::critical("{}: errored ({}); stopping every app, rackd exits 3 (rack.exit_on_errored: false keeps it running)",
                     name, app->health_error());
    shutdown(3);
    return;
  }
}

}  // namespace rack::master
