// ManagedApp's periodic checks, run from the Supervisor's tick: queue
// deadlines, /proc samples, heartbeats, max_memory, then autoscaling.
#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "app/app.h"
#include "lifecycle/heartbeat.h"

namespace rack::master {

void ManagedApp::tick(Clock::time_point now, const ProcGroups* procs) {
  const bool sample_proc = procs != nullptr;
  for (int fd : queue_.expire(now)) {
    ++counters_.connections_expired;
    ::close(fd);
  }
  // A worker says when it has room again (on_capacity); this catches a
  // refusal no event follows (the kernel's limit on descriptors in flight),
  // and resumes the listener once expiry made room.
  drain_queue();
  if (sample_proc) {
    for (auto& [id, w] : workers_) w->sample_proc(now, *procs);
  }
  check_heartbeats(now);
  if (sample_proc && cfg_->max_memory) {
    for (auto& [i, s] : slots_) {
      Worker* w = s->current;
      if (w && w->lifecycle().in_rotation() && !s->replacement && w->proc() && w->proc()->rss_bytes > *cfg_->max_memory)
        recycle(w->slot(), "rss " + std::to_string(w->proc()->rss_bytes) + " bytes over max_memory", ExitCause::MaxMemory);
    }
  }
  autoscale_tick(now, sample_proc);
}

// A worker in rotation that has not answered a ping for heartbeat_timeout
// has a stuck event loop: it is aborted (a core) and replaced. Rack workers
// answer on their channel, node workers through the preload. One whose
// output rackd holds (blocked on logs) cannot answer and is not judged:
// its deadline starts over, and starts over again once rackd reads on.
void ManagedApp::check_heartbeats(Clock::time_point now) {
  if (cfg_->protocol != config::Protocol::Rack && cfg_->protocol != config::Protocol::Node) return;
  std::vector<Worker*> stuck;
  for (auto& [id, w] : workers_) {
    if (!w->lifecycle().in_rotation()) continue;
    if (w->blocked_on_logs()) w->restart_heartbeat(now);
    else if (w->judged_by_heartbeat() && now - w->last_pong() > w->cfg().heartbeat_timeout) stuck.push_back(w.get());
    else if (ping_due(now - w->last_pong(), w->cfg().heartbeat_timeout)) w->ping();
  }
  for (Worker* w : stuck) {
    w->fail_reason = "heartbeat timeout: no answer for " + std::to_string(w->cfg().heartbeat_timeout.count()) + " ms";
    spdlog::warn("{} slot {}: pid {} {}", name(), w->slot().index, w->pid(), w->fail_reason);
    w->abort_stuck();
  }
}

void ManagedApp::after_stall(const Stall& s) {
  for (auto& [id, w] : workers_) w->after_stall(s);
}

std::size_t ManagedApp::blocked_on_logs() const {
  return std::count_if(workers_.begin(), workers_.end(), [](auto& p) { return p.second->blocked_on_logs(); });
}

}  // namespace rack::master
