// ManagedApp's connections: each accepted one goes to a ready worker the
// Dispatcher picks (dispatch/dispatcher.h), or waits in the bounded
// ConnQueue; a full queue pauses the listener until there is room again.
// A node app with no `listen` gets its listener from its first worker's
// server (on_node_server).
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "app/app.h"
#include "dispatch/sockname.h"
#include "node/cluster_query.h"
#include "rack/json.h"

namespace rack::master {

void ManagedApp::on_conn_returned(Worker& w, int fd) {
  ++counters_.connections_requeued;
  enqueue(fd, true);
  drain_queue();
}

void ManagedApp::on_capacity(Worker&) {
  // Without this, connections queued while every worker was full would
  // wait for an unrelated event (a worker starting or ending) or expire,
  // and every new one would queue behind them.
  if (!queue_.empty()) drain_queue();
}

void ManagedApp::on_accept(int fd) {
  if (!queue_.empty() || !hand(fd)) enqueue(fd, false);
}

bool ManagedApp::hand(int fd) {
  candidates_.clear();
  bool by_load = cfg_->dispatch == config::Dispatch::LeastConnections;
  auto now = by_load ? Clock::now() : Clock::time_point{};
  for (auto& [i, s] : slots_) {
    Worker* w = s->current;
    if (!w || !w->lifecycle().in_rotation()) continue;
    auto busy_for = by_load ? w->busy_for(now) : std::chrono::nanoseconds{};
    candidates_.push_back({w->id(), w->load(), w->load_waiting_since(), busy_for > kBusyAfter, busy_for});
  }
  while (!candidates_.empty()) {
    auto pick = dispatcher_.pick(candidates_);
    auto it = workers_.find(*pick);
    if (it != workers_.end() && it->second->give(fd)) {
      ++counters_.connections_dispatched;
      return true;
    }
    std::erase_if(candidates_, [&](const Candidate& c) { return c.id == *pick; });
  }
  return false;
}

void ManagedApp::enqueue(int fd, bool front) {
  if (stopped_) {
    ::close(fd);
    return;
  }
  if (front) queue_.push_front(fd, Clock::now());
  else queue_.push_back(fd, Clock::now());
  if (queue_.full()) listener_.pause();
}

void ManagedApp::drain_queue() {
  // Popped only once handed: one that stays keeps its deadline.
  while (auto fd = queue_.front()) {
    if (!hand(*fd)) break;
    queue_.pop();
  }
  // `queue_size: 0` is always full: resume once it is empty.
  if ((!queue_.full() || queue_.empty()) && listener_.paused() && !stopped_ && dispatches()) listener_.resume();
}

// As node's own cluster primary: the first server asked for is bound, and
// every worker asking for the same address shares it, across reloads and
// crash restarts. Rack hands out one listener per app, so a worker asking
// for another address gets ENOTSUP (its listen() emits 'error').
int ManagedApp::on_node_server(Worker& w, const nlohmann::json& query, nlohmann::json& sockname) {
  std::string why;
  auto asked = node_cluster::requested_address(query, why);
  if (!asked) {
    spdlog::warn("{} slot {}: pid {} asked for a server rackd cannot bind: {}; Rack dispatches TCP only", name(),
                 w.slot().index, w.pid(), json_input::clip(why));
    return -ENOTSUP;
  }
  if (stopped_) return -ECANCELED;
  if (listener_.fd() < 0) {
    std::string error;
    if (int rc = listener_.bind(*asked, error); rc < 0) {
      spdlog::error("{} slot {}: pid {} asked for a server on {}: {}", name(), w.slot().index, w.pid(), asked->str(),
                    error);
      return rc;
    }
    spdlog::info("{}: listening on {}, the address pid {} asked for (no listen: in the config)", name(),
                 listener_.bound_address(), w.pid());
  }
  auto bound = master::sockname(listener_.fd());
  if (!bound) return -EBADF;
  if (!node_cluster::shares(*asked, config::ListenAddr{bound->host, bound->port})) {
    spdlog::warn("{} slot {}: pid {} asked for a server on {}, but the app listens on {} (the address its first "
                 "worker asked for); Rack serves one address per app, so that listen() fails with ENOTSUP. Use "
                 "the same address in every worker, or set listen: in the app's config",
                 name(), w.slot().index, w.pid(), asked->str(), listener_.bound_address());
    return -ENOTSUP;
  }
  sockname = node_address(bound);
  return 0;
}

}  // namespace rack::master
