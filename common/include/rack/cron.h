// cron_restart schedules: 5 fields (minute hour day-of-month month
// day-of-week) or 6 (a seconds field first, as PM2's node-cron takes).
//
//   std::string error;
//   auto s = rack::cron::Schedule::parse("0 3 * * mon-fri", error);
//   auto next = s->next_after(std::chrono::system_clock::now(), rack::cron::Zone::utc());
//
// Each field: *, a number, a-b, lists (1,15), steps (*/10, 8-18/2); month
// and weekday names (jan, mon); weekday 7 is Sunday too. When both
// day-of-month and day-of-week are restricted, a day matching either runs
// (Vixie cron's rule). Times are read in a Zone (rack/time_zone.h): UTC,
// rackd's local time, or a named zone. Across a DST change a time is run
// once: one the clock skips (02:30 when 02:00 jumps to 03:00) runs at the
// jump, one the clock passes twice (02:30 when 03:00 goes back to 02:00)
// runs the first time only.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "rack/time_zone.h"

namespace rack::cron {

class Schedule {
 public:
  // nullopt with `error` ("field 2 (hour): 24 is out of range 0-23").
  static std::optional<Schedule> parse(std::string_view text, std::string& error);

  // The first time strictly after `t` that matches, to the second; nullopt
  // when none comes within 5 years (a date like Feb 30).
  std::optional<std::chrono::system_clock::time_point> next_after(std::chrono::system_clock::time_point t,
                                                                  const Zone& zone) const;

 private:
  // The first wall-clock time strictly after `wall` that matches (both as
  // seconds since the epoch of a clock with no offset and no DST).
  std::optional<time_t> next_wall_time(time_t wall, time_t limit) const;

  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1-31
  std::bitset<13> months_;  // 1-12
  std::bitset<7> weekdays_; // 0 = Sunday
  bool any_day_ = true, any_weekday_ = true;
};

}  // namespace rack::cron
