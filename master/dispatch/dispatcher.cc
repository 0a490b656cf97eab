#include "dispatch/dispatcher.h"

#include <algorithm>

namespace rack::master {

std::optional<WorkerId> Dispatcher::pick(std::span<const Candidate> ready) {
  if (ready.empty()) return std::nullopt;
  const Candidate* best = nullptr;
  if (policy_ == config::Dispatch::LeastConnections) {
    // Ties go round-robin so an idle pool still spreads connections.
    for (const auto& c : ready) {
      if (!best || c.load < best->load) best = &c;
    }
    uint64_t min_load = best->load;
    const Candidate* next = nullptr;
    const Candidate* first = nullptr;
    for (const auto& c : ready) {
      if (c.load != min_load) continue;
      if (!first || c.id < first->id) first = &c;
      if (last_ && c.id > *last_ && (!next || c.id < next->id)) next = &c;
    }
    best = next ? next : first;
  } else {
    const Candidate* next = nullptr;
    const Candidate* first = nullptr;
    for (const auto& c : ready) {
      if (!first || c.id < first->id) first = &c;
      if (last_ && c.id > *last_ && (!next || c.id < next->id)) next = &c;
    }
    best = next ? next : first;
  }
  last_ = best->id;
  return best->id;
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

std::optional<Clock::time_point> ConnQueue::next_deadline() const {
  std::optional<Clock::time_point> d;
  for (const auto& i : items_) {
    if (!d || i.deadline < *d) d = i.deadline;
  }
  return d;
}

std::vector<int> ConnQueue::take_all() {
  std::vector<int> out;
  for (const auto& i : items_) out.push_back(i.fd);
  items_.clear();
  return out;
}

}  // namespace rack::master
