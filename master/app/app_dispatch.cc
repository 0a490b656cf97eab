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
#include "uv_handle.h"

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
  Handed h = queue_.empty() ? hand(fd, true) : holding() ? Handed::Held : Handed::No;
  if (h == Handed::Yes) return;
  enqueue(fd, false);
  if (h != Handed::Held) return;
  ++counters_.connections_held;
  hold_poll(true);
}

ManagedApp::Handed ManagedApp::hand(int fd, bool may_hold) {
  candidates_.clear();
  bool by_load = cfg_->dispatch == config::Dispatch::LeastConnections;
  auto now = by_load ? Clock::now() : Clock::time_point{};
  for (auto& [i, s] : slots_) {
    Worker* w = s->current;
    if (!w || !w->lifecycle().in_rotation()) continue;
    candidates_.push_back({w->id(), w->load(), w->load_waiting_since(),
                           by_load ? w->busy_for(now) : std::chrono::nanoseconds{}, w->has_unacked()});
  }
  while (!candidates_.empty()) {
    auto pick = dispatcher_.pick(candidates_, may_hold);
    if (!pick) return Handed::Held;
    auto it = workers_.find(*pick);
    if (it != workers_.end() && it->second->give(fd)) {
      ++counters_.connections_dispatched;
      return Handed::Yes;
    }
    std::erase_if(candidates_, [&](const Candidate& c) { return c.id == *pick; });
  }
  return Handed::No;
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
  // Popped only once handed: one that stays keeps its deadline. The front
  // one is held while every worker is busy, up to hold_at_most().
  auto now = Clock::now();
  auto hold = hold_at_most(cfg_->queue_timeout);
  Handed h = Handed::Yes;
  while (auto fd = queue_.front()) {
    h = hand(*fd, now - *queue_.front_since() < hold);
    if (h != Handed::Yes) break;
    queue_.pop();
  }
  hold_poll(h == Handed::Held);
  // `queue_size: 0` is always full: resume once it is empty.
  if ((!queue_.full() || queue_.empty()) && listener_.paused() && !stopped_ && dispatches()) listener_.resume();
}

// While a connection is held for a busy worker, the board is read again
// every millisecond: a worker that comes free sends nothing (it clears its
// entry with a store, and its Load report can come before that store).
bool ManagedApp::holding() const {
  return hold_timer_ && uv_is_active(reinterpret_cast<const uv_handle_t*>(hold_timer_));
}

void ManagedApp::hold_poll(bool on) {
  if (!on) {
    if (hold_timer_) uv_timer_stop(hold_timer_);
    return;
  }
  if (!hold_timer_) {
    hold_timer_ = new_handle<uv_timer_t>(this);
    uv_timer_init(ctx_.loop, hold_timer_);
  }
  if (holding()) return;
  uv_timer_start(hold_timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<ManagedApp*>(t->data)) self->drain_queue();
  }, 1, 1);
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
