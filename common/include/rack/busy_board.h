// The busy board: one shared-memory file per app in which each rack worker
// says, with two stores and no message, whether its event loop is inside a
// request handler and since when. rackd reads it when it picks a worker for
// a connection (least-connections): a worker that has been in one handler
// for more than a millisecond (a CPU-heavy request: its loop cannot accept
// anything meanwhile) is passed over while another worker is free, however
// their connection counts compare. A count cannot tell a 10 ms request from
// a 0.1 ms one; the board can, at the moment of the choice.
//
// Layout: kEntries entries of one cache line each. A worker writes the
// entry of its slot and generation parity (a reload's old and new worker of
// a slot use two), its pid first. rackd trusts an entry only when the pid is
// its worker's, and a worker can only misstate its own business: the worst
// a wrong value does is move connections between the app's workers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rack::busy_board {

struct alignas(64) Entry {
  std::atomic<int32_t> pid{0};
  // steady_clock (CLOCK_MONOTONIC) nanoseconds at which the worker's loop
  // entered a request handler; 0 once it went back to waiting for events.
  std::atomic<int64_t> busy_since_ns{0};
};
static_assert(sizeof(Entry) == 64);
static_assert(std::atomic<int64_t>::is_always_lock_free && std::atomic<int32_t>::is_always_lock_free,
              "shared between processes: the atomics must be lock-free");

inline constexpr std::size_t kEntries = 1024;
inline constexpr std::size_t kBytes = kEntries * sizeof(Entry);

// The entry a worker of `slot` and `generation` writes.
inline std::size_t entry_of(int slot, uint64_t generation) {
  return (static_cast<std::size_t>(slot < 0 ? 0 : slot) * 2 + generation % 2) % kEntries;
}

}  // namespace rack::busy_board
