// cron_restart schedules (rack/cron.h), against fixed UTC times.
#include <doctest/doctest.h>

#include <time.h>

#include "rack/cron.h"

using namespace rack::cron;
using clock_type = std::chrono::system_clock;

namespace {

clock_type::time_point utc(int y, int mo, int d, int h, int mi, int s = 0) {
  struct tm tm {};
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
  return clock_type::from_time_t(timegm(&tm));
}

clock_type::time_point next(const std::string& spec, clock_type::time_point from) {
  std::string error;
  auto s = Schedule::parse(spec, error);
  REQUIRE_MESSAGE(s, error);
  auto n = s->next_after(from, Zone::utc());
  REQUIRE(n);
  return *n;
}

std::string error_of(const std::string& spec) {
  std::string error;
  CHECK_FALSE(Schedule::parse(spec, error));
  return error;
}

}  // namespace

TEST_CASE("cron: the next time of 5- and 6-field schedules") {
  auto from = utc(2026, 12, 3, 6, 30, 15);  // a Thursday
  CHECK(next("0 3 * * *", from) == utc(2026, 12, 4, 3, 0));
  CHECK(next("*/15 * * * *", from) == utc(2026, 12, 3, 6, 45));
  CHECK(next("30 6 * * *", from) == utc(2026, 12, 4, 6, 30));  // strictly after
  CHECK(next("0 0 1 * *", from) == utc(2027, 1, 1, 0, 0));
  CHECK(next("0 9 * * mon-fri", utc(2026, 12, 4, 10, 0)) == utc(2026, 12, 7, 9, 0));  // Friday 10:00 -> Monday
  CHECK(next("0 0 * * 7", from) == utc(2026, 12, 6, 0, 0));  // 7 is Sunday
  CHECK(next("0 12 15 jun *", from) == utc(2027, 6, 15, 12, 0));
  CHECK(next("*/20 * * * * *", from) == utc(2026, 12, 3, 6, 30, 20));
  CHECK(next("0 8-18/4 * * *", from) == utc(2026, 12, 3, 8, 0));
  CHECK(next("0 0 29 2 *", from) == utc(2028, 2, 29, 0, 0));
  // Day of month and day of week both restricted: either matches.
  CHECK(next("0 0 13 * fri", utc(2026, 12, 4, 1, 0)) == utc(2026, 12, 11, 0, 0));
  std::string error;
  CHECK_FALSE(Schedule::parse("0 0 30 2 *", error)->next_after(from, Zone::utc()));  // never
}

TEST_CASE("cron: mistakes name the field and what is wrong") {
  CHECK(error_of("0 3 * *") == "expected 5 fields (minute hour day month weekday) or 6 (seconds first), got 4");
  CHECK(error_of("0 24 * * *") == "field 2 (hour): 24 is out of range 0-23");
  CHECK(error_of("0 3 * foo *") == "field 4 (month): expected a number or a name, got \"foo\"");
  CHECK(error_of("*/0 * * * *") == "field 1 (minute): bad step in \"*/0\"");
  CHECK(error_of("10-5 * * * *") == "field 1 (minute): range \"10-5\" goes backwards");
  CHECK(error_of("") .starts_with("expected 5 fields"));
}
