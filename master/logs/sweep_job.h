// The housekeeping of an AppLog's rotated files (rotated_files.h), run off
// the loop on a thread of its own at the lowest priority:
//
//   auto alive = std::make_shared<SweepAlive>();
//   alive->reschedule = [this] { schedule_sweep(); };    // cleared by the owner's destructor
//   if (alive->running) alive->again = true;             // one job at a time per app
//   else launch_sweep(new SweepJob{{}, loop, alive, dir, {"web.out", "web.err"}, keep, max_age, compress, now, {}});
//
// The job logs what the sweep found back on the loop and frees itself.
#pragma once

#include <uv.h>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "logs/rotated_files.h"

namespace rack::master {

// Shared with queued thread-pool work. The work never touches its owner;
// its completion (on the loop) calls reschedule only if it is still set,
// which the owner's destructor clears. Both run on the loop, so there is no
// race. The sweep flags live here, not in the owner, so a sweep requested
// while one runs still happens when the AppLog is destroyed in between
// (rackd shutting down right after a rotation).
struct SweepAlive {
  std::function<void()> reschedule;  // a new job with the owner's current config
  bool running = false;  // one sweep job at a time per app
  bool again = false;    // requested while running
};

// Housekeeping of rotated files, off the loop. Everything it reads is
// copied in, so a reload or ~AppLog while it runs changes nothing for it.
struct SweepJob {
  union {
    uv_async_t async;  // on a thread of its own: "done", to the loop
    uv_work_t req;     // no thread to be had: on the pool
  };
  uv_loop_t* loop;
  std::shared_ptr<SweepAlive> alive;
  std::string dir;
  std::array<std::string, 2> bases;
  unsigned keep;
  std::optional<config::Duration> max_age;
  bool compress;
  SysTime now;
  std::array<SweepResult, 2> results;
};

// Takes ownership of `job`; sets job->alive->running until it is done.
void launch_sweep(SweepJob* job);

}  // namespace rack::master
