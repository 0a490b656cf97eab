#include "dispatch/dispatcher.h"

#include <algorithm>
#include <limits>

namespace rack::master {

std::optional<WorkerId> Dispatcher::pick(std::span<const Candidate> ready, bool may_hold) {
  if (ready.empty()) return std::nullopt;
  // Least-connections narrows the field to the least loaded; among those,
  // as among all for round-robin, the turn goes round so an idle pool
  // still spreads connections.
  bool by_load = policy_ == config::Dispatch::LeastConnections;
  auto any = [&](auto pred) { return std::any_of(ready.begin(), ready.end(), pred); };
  auto all = [&](auto pred) { return std::all_of(ready.begin(), ready.end(), pred); };
  // One worker leaves no choice to wait for.
  if (by_load && may_hold && ready.size() > 1 && any([](const Candidate& c) { return c.busy(); }) &&
      all([](const Candidate& c) { return c.occupied(); }))  // a busy one is occupied too
    return std::nullopt;
  // least-connections passes over a worker busy in one handler while any
  // other is not: its loop takes nothing until the handler returns.
  bool skip_busy = by_load && any([](const Candidate& c) { return !c.busy(); });
  // Every one busy (an overloaded host can keep a short handler from
  // running for a millisecond too): the one in its handler the shortest
  // time. A handler that has run long is the likeliest to run on.
  if (by_load && !skip_busy) {
    const Candidate* shortest = &*std::min_element(ready.begin(), ready.end(), [](const Candidate& a, const Candidate& b) {
      return a.busy_for != b.busy_for ? a.busy_for < b.busy_for : a.load < b.load;
    });
    last_ = shortest->id;
    return last_;
  }
  // The field: round-robin takes every worker; least-connections the
  // least loaded of those not busy, then of those the one in its handler
  // the shortest time, then the freshest oldest unreported hand-over.
  auto counted = [&](const Candidate& c) { return !skip_busy || !c.busy(); };
  uint64_t least = std::numeric_limits<uint64_t>::max();
  auto briefest = std::chrono::nanoseconds::max();
  std::optional<Clock::time_point> freshest;  // none waiting beats any time
  if (by_load) {
    for (const auto& c : ready)
      if (counted(c)) least = std::min(least, c.load);
    for (const auto& c : ready)
      if (counted(c) && c.load == least) briefest = std::min(briefest, c.busy_for);
    bool first_tied = true;
    for (const auto& c : ready) {
      if (!counted(c) || c.load != least || c.busy_for != briefest) continue;
      if (first_tied || (freshest && (!c.waiting_since || *c.waiting_since > *freshest))) freshest = c.waiting_since;
      first_tied = false;
    }
  }
  auto in_field = [&](const Candidate& c) {
    return !by_load || (counted(c) && c.load == least && c.busy_for == briefest && c.waiting_since == freshest);
  };
  const Candidate* next = nullptr;   // the lowest id after the last pick
  const Candidate* first = nullptr;  // the lowest id: the cycle wraps to it
  for (const auto& c : ready) {
    if (!in_field(c)) continue;
    if (!first || c.id < first->id) first = &c;
    if (last_ && c.id > *last_ && (!next || c.id < next->id)) next = &c;
  }
  last_ = (next ? next : first)->id;
  return last_;
}

std::optional<int> ConnQueue::pop() {
  if (items_.empty()) return std::nullopt;
  int fd = items_.front().fd;
  items_.pop_front();
  return fd;
}

std::vector<int> ConnQueue::expire(Clock::time_point now) {
  std::vector<int> out;
  // Items returned to the front may carry later deadlines than those behind
  // them, so scan the whole (bounded) queue rather than only the front.
  auto it = std::remove_if(items_.begin(), items_.end(), [&](const Item& i) {
    if (i.deadline > now) return false;
    out.push_back(i.fd);
    return true;
  });
  items_.erase(it, items_.end());
  return out;
}

std::vector<int> ConnQueue::take_all() {
  std::vector<int> out;
  for (const auto& i : items_) out.push_back(i.fd);
  items_.clear();
  return out;
}

}  // namespace rack::master
