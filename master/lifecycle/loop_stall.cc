#include "lifecycle/loop_stall.h"

namespace rack::master {

std::optional<Stall> StallDetector::ran(std::chrono::steady_clock::time_point now) {
  std::optional<Stall> stall;
  // A clock read before the last one (two callers racing to it) is no gap.
  if (last_ && now - *last_ > gap_) stall = Stall{*last_, now};
  if (!last_ || now > *last_) last_ = now;
  return stall;
}

namespace loop_stall {

namespace {

StallDetector& detector() {
  static StallDetector d(kGap);
  return d;
}

std::function<void(const Stall&)>& handler() {
  static std::function<void(const Stall&)> h;
  return h;
}

}  // namespace

void on_stall(std::function<void(const Stall&)> h) { handler() = std::move(h); }

void check(std::chrono::steady_clock::time_point now) {
  auto stall = detector().ran(now);
  if (stall && handler()) handler()(*stall);
}

}  // namespace loop_stall

}  // namespace rack::master
