// What least-connections counts for one worker: the connections it last
// reported holding, plus the ones rackd handed it that the report does not
// cover yet. Pure: the Worker feeds it hand-overs and reports.
//
// The race it closes: a worker's Load report and rackd's next Conn cross on
// the channel. The report says "0 open" although a connection is already on
// its way; forgetting everything handed before the report arrived (as a
// plain "handed since the last report" did) made an idle-looking worker
// that is not idle, and a busy one look no busier than it. So a report
// carries how many connections the worker had received when it was sent,
// and only the hand-overs beyond that number are added to it.
//
// It also keeps when the oldest uncovered hand-over was made (waiting_since),
// which breaks ties between equal counts: a worker reports when a
// connection closes, so one whose hand-over has gone unreported for 5 ms is
// most likely busy (its loop stuck in a long request), while one handed a
// connection 0.1 ms ago has simply not answered yet.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

namespace rack::master {

class LoadCount {
 public:
  using Clock = std::chrono::steady_clock;

  void handed(Clock::time_point at) {
    ++handed_;
    // Times of the uncovered hand-overs, oldest first, up to kTimed of
    // them: a worker that reports rarely (round-robin, which reports only
    // on pings) must not grow this. Past the bound, the first untimed
    // hand-over's time stands for the rest until everything is covered.
    if (untimed_since_) return;
    if (times_.size() < kTimed) times_.push_back(at);
    else untimed_since_ = at;
  }

  // A hand-over the worker refused (node: accepted:false): it went to
  // another worker, and the worker's count of received never includes it.
  void refused() {
    if (handed_ == covered_) return;
    --handed_;
    if (times_.size() > handed_ - covered_) times_.pop_back();
    if (handed_ == covered_) {
      times_.clear();
      untimed_since_.reset();
    }
  }

  // `received`: the worker's count of connections received, as of the
  // report. Absent (a worker that reports only its open connections): the
  // report is taken to cover every hand-over so far.
  void reported(uint64_t active, std::optional<uint64_t> received) {
    active_ = active;
    // A count past what rackd handed (a restarted worker's stale number)
    // cannot cover more than everything.
    uint64_t covered = received && *received < handed_ ? *received : handed_;
    for (uint64_t n = covered > covered_ ? covered - covered_ : 0; n > 0 && !times_.empty(); --n) times_.pop_front();
    covered_ = covered;
    if (covered_ == handed_) {
      times_.clear();
      untimed_since_.reset();
    }
  }

  uint64_t value() const { return active_ + (handed_ - covered_); }
  uint64_t handed_total() const { return handed_; }

  // When the oldest hand-over no report covers yet was made; nullopt when
  // every hand-over is covered (or, after an upgrade, when those carried
  // over have no recorded time).
  std::optional<Clock::time_point> waiting_since() const {
    if (!times_.empty()) return times_.front();
    return handed_ > covered_ ? untimed_since_ : std::nullopt;
  }

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  static constexpr std::size_t kTimed = 64;
  uint64_t handed_ = 0;   // every connection rackd gave this worker
  uint64_t active_ = 0;   // open connections, per the last report
  uint64_t covered_ = 0;  // hand-overs that report already counted
  std::deque<Clock::time_point> times_;  // of hand-overs covered_+1, covered_+2, ...
  std::optional<Clock::time_point> untimed_since_;
};

}  // namespace rack::master
