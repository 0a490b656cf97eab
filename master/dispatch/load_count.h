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
#pragma once

#include <cstdint>
#include <optional>

namespace rack::master {

class LoadCount {
 public:
  void handed() { ++handed_; }

  // `received`: the worker's count of connections received, as of the
  // report. Absent (a worker that reports only its open connections): the
  // report is taken to cover every hand-over so far.
  void reported(uint64_t active, std::optional<uint64_t> received) {
    active_ = active;
    // A count past what rackd handed (a restarted worker's stale number)
    // cannot cover more than everything.
    covered_ = received && *received < handed_ ? *received : handed_;
  }

  uint64_t value() const { return active_ + (handed_ - covered_); }
  uint64_t handed_total() const { return handed_; }

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  uint64_t handed_ = 0;   // every connection rackd gave this worker
  uint64_t active_ = 0;   // open connections, per the last report
  uint64_t covered_ = 0;  // hand-overs that report already counted
};

}  // namespace rack::master
