// Which ready worker gets the next connection, and where connections wait
// when no worker is ready. Pure: no sockets, no clock of its own.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "rack/config.h"

namespace rack::master {

enum class WorkerId : uint64_t {};

using Clock = std::chrono::steady_clock;

// How long a worker may be inside one handler before it counts as busy:
// ten times a plain request's handler here, a tenth of a CPU-heavy one.
inline constexpr std::chrono::microseconds kBusyAfter{1000};

struct Candidate {
  WorkerId id;
  uint64_t load = 0;  // least-connections: last reported load + handed since
  // least-connections: when the oldest hand-over the worker has not
  // reported was made (LoadCount::waiting_since); none when all reported.
  std::optional<Clock::time_point> waiting_since = std::nullopt;
  // least-connections: how long the worker has been inside one request
  // handler (its busy board entry, rack/busy_board.h); 0 when in none.
  std::chrono::nanoseconds busy_for{0};
  // least-connections: a connection rackd handed it that it has not yet
  // acknowledged taking.
  bool unacked = false;

  // In one handler for longer than kBusyAfter: its loop takes nothing
  // until that handler returns.
  bool busy() const { return busy_for > kBusyAfter; }
  // Cannot start on a connection this instant: inside a handler (however
  // briefly), or yet to take one handed to it.
  bool occupied() const { return busy_for.count() > 0 || unacked; }
};

// How long least-connections holds a connection in rackd while every
// worker is busy, waiting for the first to come free, before it hands it
// to a busy one anyway. Never more than half the app's queue timeout, so a
// held connection is handed on, not expired.
inline constexpr std::chrono::milliseconds kHoldAtMost{500};
inline Clock::duration hold_at_most(Clock::duration queue_timeout) {
  return std::min<Clock::duration>(kHoldAtMost, queue_timeout / 2);
}

// Pure: whether a worker whose board entry says `entry_pid` and
// `busy_since_ns` is busy at `now_ns` (steady_clock nanoseconds). An entry
// of another pid (not written yet, or a slot's other generation) says
// nothing; neither does a time in the future.
inline std::chrono::nanoseconds busy_for_at(int32_t entry_pid, int64_t busy_since_ns, int32_t pid, int64_t now_ns) {
  if (entry_pid != pid || pid <= 0 || busy_since_ns <= 0 || busy_since_ns > now_ns) return {};
  return std::chrono::nanoseconds(now_ns - busy_since_ns);
}
inline bool busy_at(int32_t entry_pid, int64_t busy_since_ns, int32_t pid, int64_t now_ns) {
  return busy_for_at(entry_pid, busy_since_ns, pid, now_ns) > kBusyAfter;
}

class Dispatcher {
 public:
  explicit Dispatcher(config::Dispatch policy) : policy_(policy) {}
  void set_policy(config::Dispatch policy) { policy_ = policy; }

  // `ready` in any order. Round-robin cycles through ids in ascending order
  // starting after the last pick, so every member of a stable set gets an
  // equal share and a joining or leaving worker does not reset the cycle.
  // Least-connections takes the lowest load; among equal loads, a worker
  // with no unreported hand-over, else the one whose oldest unreported
  // hand-over is the most recent (the others are likely stuck in a long
  // request); what is still tied goes round-robin. Before those ties, the
  // one inside its handler the shortest time (none: zero): a handler that
  // has run longer is likelier to be a long one.
  //
  // When some worker is busy and every other is busy or occupied (two or more),
  // least-connections picks none if `may_hold`: the connection waits in
  // rackd for the first worker to come free. Handed to a busy one, it
  // would wait for that one's handler to end however soon the others are
  // done; handed to an occupied one, it could land behind a long request
  // that has just begun. Not holding, with every worker busy, it picks the
  // one inside its handler the shortest time.
  std::optional<WorkerId> pick(std::span<const Candidate> ready, bool may_hold = false);

 private:
  config::Dispatch policy_;
  std::optional<WorkerId> last_;
};

// Accepted connections waiting for a ready worker: bounded in count and in
// time. Past the bound the caller stops accepting, so the kernel backlog
// holds the rest instead of rackd growing without limit.
class ConnQueue {
 public:
  ConnQueue(std::size_t capacity, Clock::duration timeout) : capacity_(capacity), timeout_(timeout) {}
  void configure(std::size_t capacity, Clock::duration timeout) {
    capacity_ = capacity;
    timeout_ = timeout;
  }

  bool full() const { return items_.size() >= capacity_; }
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }

  // Queues at the back (new connections) or the front (connections a dead
  // or draining worker gave back: they have waited longest).
  void push_back(int fd, Clock::time_point now) { items_.push_back({fd, now + timeout_}); }
  void push_front(int fd, Clock::time_point now) { items_.push_front({fd, now + timeout_}); }
  std::optional<int> front() const { return items_.empty() ? std::nullopt : std::optional<int>(items_.front().fd); }
  // When the front connection was queued: its deadline less the timeout
  // (an upgrade carries the deadline only).
  std::optional<Clock::time_point> front_since() const {
    if (items_.empty()) return std::nullopt;
    return items_.front().deadline - timeout_;
  }
  std::optional<int> pop();
  // Removes and returns the fds whose deadline has passed.
  std::vector<int> expire(Clock::time_point now);
  std::vector<int> take_all();

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  struct Item {
    int fd;
    Clock::time_point deadline;
  };
  std::deque<Item> items_;
  std::size_t capacity_;
  Clock::duration timeout_;
};

}  // namespace rack::master
