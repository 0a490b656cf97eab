// The worker's side of the busy board (rack/busy_board.h): under
// least-connections rackd passes RACK_BUSY_BOARD and RACK_BUSY_ENTRY, and
// the worker stamps its entry when a request handler starts
// (enter_handler) and clears it before its loop next waits for events (a
// prepare handle). Two stores per request, no system call, no message.
#pragma once

#include <uv.h>

#include <memory>

#include "rack/busy_board.h"

namespace rack::worker {

class BusyMark {
 public:
  // nullptr when the environment names no board, or it cannot be mapped
  // (logged): the worker then runs as before.
  static std::unique_ptr<BusyMark> from_environment(uv_loop_t* loop);
  ~BusyMark();
  BusyMark(const BusyMark&) = delete;
  BusyMark& operator=(const BusyMark&) = delete;

  void enter_handler() {
    if (entry_->busy_since_ns.load(std::memory_order_relaxed) == 0) entry_->busy_since_ns.store(now_ns(), std::memory_order_relaxed);
  }
  // Only where no handler can be running (the prepare handle does this
  // before every wait).
  void leave_handler() {
    if (entry_->busy_since_ns.load(std::memory_order_relaxed) != 0) entry_->busy_since_ns.store(0, std::memory_order_relaxed);
  }

 private:
  BusyMark(void* map, busy_board::Entry* entry, uv_loop_t* loop);
  static int64_t now_ns();
  void* map_;
  busy_board::Entry* entry_;
  uv_prepare_t* prepare_;
};

}  // namespace rack::worker
