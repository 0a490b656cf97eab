// ManagedApp's connections: each accepted one goes to a ready worker the
// Dispatcher picks (dispatch/dispatcher.h), or waits in the bounded
// ConnQueue; a full queue pauses the listener until there is room again.
#include <unistd.h>

#include <algorithm>

#include "app/app.h"

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
  for (auto& [i, s] : slots_) {
    Worker* w = s->current;
    if (w && w->lifecycle().in_rotation()) candidates_.push_back({w->id(), w->load(), w->load_waiting_since()});
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

}  // namespace rack::master
