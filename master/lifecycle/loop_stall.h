// Stalls of rackd's own loop, and the deadlines that must not count them.
//
// rackd's loop turns at least every tick (250 ms). A much longer gap means
// it did not run at all: SIGSTOP, a VM pause, a swap storm, a callback
// that blocked. Meanwhile the workers ran on and answered, but their
// answers wait unread in the channels. A deadline that judges a worker
// (heartbeat_timeout, ready_timeout, min_uptime) counts only time the loop
// ran, so every such deadline moves by the stall's length before anyone
// is judged.
//
// The race: on SIGCONT libuv runs the expired timers before it reads any
// socket, in the order they were due, so a worker's ready timer can fire
// before the tick that would notice the stall. Every callback that judges
// a worker therefore calls loop_stall::check() first; whichever runs first
// after a stall reports it, once, to the handler (the Supervisor), which
// moves every deadline.
//
//   StallDetector d(1500ms);
//   if (auto s = d.ran(now)) shift_deadlines(*s);   // s->length()
#pragma once

#include <chrono>
#include <functional>
#include <optional>

namespace rack::master {

struct Stall {
  std::chrono::steady_clock::time_point began;  // the loop's last turn before it
  std::chrono::steady_clock::time_point ended;  // the turn that noticed it
  std::chrono::steady_clock::duration length() const { return ended - began; }
};

// Pure: told when the loop ran, says when a stall just ended.
class StallDetector {
 public:
  explicit StallDetector(std::chrono::milliseconds gap) : gap_(gap) {}
  // The loop ran at `now`. The stall that ended now, if the loop had not
  // run for more than `gap` before it; reported once.
  std::optional<Stall> ran(std::chrono::steady_clock::time_point now);

 private:
  std::chrono::milliseconds gap_;
  std::optional<std::chrono::steady_clock::time_point> last_;
};

// The one detector of rackd's loop.
namespace loop_stall {

// Far longer than the tick's period, far shorter than any deadline a user
// can sensibly set.
inline constexpr std::chrono::milliseconds kGap{1500};

// Who moves the deadlines (Supervisor::after_stall); cleared with {}.
void on_stall(std::function<void(const Stall&)> handler);
// The loop runs now: reports a stall that just ended to the handler.
void check(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

}  // namespace loop_stall

}  // namespace rack::master
