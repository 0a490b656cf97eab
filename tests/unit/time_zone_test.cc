// cron_tz: named zones read from TZif files (rack/time_zone.h), and cron
// schedules in them across DST changes. Needs tzdata (scripts/install-deps).
#include <doctest/doctest.h>

#include <stdlib.h>
#include <time.h>

#include "rack/config.h"
#include "rack/cron.h"

using namespace rack::cron;
using clock_type = std::chrono::system_clock;

namespace {

time_t utc(int y, int mo, int d, int h, int mi, int s = 0) {
  struct tm tm {};
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
  return timegm(&tm);
}

Zone zone(const char* name) {
  std::string error;
  auto z = Zone::parse(name, error);
  REQUIRE_MESSAGE(z, error);
  return *z;
}

time_t next(const std::string& spec, time_t from, const Zone& z) {
  std::string error;
  auto s = Schedule::parse(spec, error);
  REQUIRE_MESSAGE(s, error);
  auto n = s->next_after(clock_type::from_time_t(from), z);
  REQUIRE(n);
  return clock_type::to_time_t(*n);
}

// glibc's answer for `name`, through TZ (only this test process sets it).
long glibc_offset(const char* name, time_t t) {
  ::setenv("TZ", name, 1);
  ::tzset();
  struct tm tm {};
  localtime_r(&t, &tm);
  return tm.tm_gmtoff;
}

}  // namespace

TEST_CASE("cron_tz: a named zone's offsets agree with glibc's, in the file's table and past it") {
  const char* saved = std::getenv("TZ");
  std::string old = saved ? saved : "";
  // Past 2037 the offsets come from the file's POSIX TZ footer alone.
  for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
                           "America/Sao_Paulo", "Pacific/Chatham", "UTC"}) {
    Zone z = zone(name);
    CHECK(z.name() == name);
    int differ = 0;
    for (time_t t = utc(1975, 1, 1, 0, 0); t < utc(2065, 1, 1, 0, 0); t += 6 * 86400 + 3607) {
      if (z.offset_at(t) != glibc_offset(name, t) && differ++ < 3)
        FAIL_CHECK(name << " at " << t << ": " << z.offset_at(t) << " but glibc says " << glibc_offset(name, t));
    }
    CHECK_MESSAGE(differ == 0, name);
  }
  if (saved) ::setenv("TZ", old.c_str(), 1);
  else ::unsetenv("TZ");
  ::tzset();
  Zone berlin = zone("Europe/Berlin");
  CHECK(berlin.offset_at(utc(2026, 1, 15, 12, 0)) == 3600);
  CHECK(berlin.offset_at(utc(2026, 7, 15, 12, 0)) == 7200);
  CHECK(berlin.offset_at(utc(2045, 7, 15, 12, 0)) == 7200);
}

TEST_CASE("cron_tz: a schedule runs at the zone's local time, summer and winter") {
  Zone berlin = zone("Europe/Berlin");
  CHECK(next("0 3 * * *", utc(2026, 1, 15, 12, 0), berlin) == utc(2026, 1, 16, 2, 0));  // CET, UTC+1
  CHECK(next("0 3 * * *", utc(2026, 7, 15, 12, 0), berlin) == utc(2026, 7, 16, 1, 0));  // CEST, UTC+2
  CHECK(next("0 9 * * mon", utc(2026, 7, 15, 12, 0), zone("America/New_York")) == utc(2026, 7, 20, 13, 0));
  CHECK(next("0 0 1 * *", utc(2026, 7, 15, 12, 0), zone("Asia/Kolkata")) == utc(2026, 7, 31, 18, 30));
  // Local midnight on New Year in Sydney is still 2026 in UTC.
  CHECK(next("0 0 1 1 *", utc(2026, 7, 1, 0, 0), zone("Australia/Sydney")) == utc(2026, 12, 31, 13, 0));
}

TEST_CASE("cron_tz: spring forward, a time the clock skips runs once, at the jump") {
  Zone berlin = zone("Europe/Berlin");
  // 2026-03-29: at 01:00 UTC, 02:00 CET becomes 03:00 CEST; 02:30 never shows.
  time_t jump = utc(2026, 3, 29, 1, 0);
  time_t first = next("30 2 * * *", utc(2026, 3, 28, 12, 0), berlin);
  CHECK(first == jump);
  CHECK(next("30 2 * * *", first, berlin) == utc(2026, 3, 30, 0, 30));  // 02:30 CEST the day after
  CHECK(next("30 2 * * *", utc(2026, 3, 27, 12, 0), berlin) == utc(2026, 3, 28, 1, 30));  // 02:30 CET the day before
  // Times either side of the gap are where they were.
  CHECK(next("30 1 * * *", utc(2026, 3, 28, 12, 0), berlin) == utc(2026, 3, 29, 0, 30));
  CHECK(next("30 3 * * *", utc(2026, 3, 28, 12, 0), berlin) == utc(2026, 3, 29, 1, 30));
  // Every 20 minutes: 01:40 CET, then the skipped 02:00-02:40 once at the jump, then 03:20 CEST.
  time_t t = next("*/20 * * * *", utc(2026, 3, 29, 0, 30), berlin);
  CHECK(t == utc(2026, 3, 29, 0, 40));
  t = next("*/20 * * * *", t, berlin);
  CHECK(t == jump);
  CHECK(next("*/20 * * * *", t, berlin) == utc(2026, 3, 29, 1, 20));
  // Past the file's table (the footer rule): 2045-03-26, the same jump.
  CHECK(next("30 2 * * *", utc(2045, 3, 25, 12, 0), berlin) == utc(2045, 3, 26, 1, 0));
}

TEST_CASE("cron_tz: fall back, a time the clock shows twice runs the first time only") {
  Zone berlin = zone("Europe/Berlin");
  // 2026-10-25: at 01:00 UTC, 03:00 CEST goes back to 02:00 CET; 02:30 shows twice.
  time_t first = next("30 2 * * *", utc(2026, 10, 24, 12, 0), berlin);
  CHECK(first == utc(2026, 10, 25, 0, 30));  // 02:30 CEST
  CHECK(next("30 2 * * *", first, berlin) == utc(2026, 10, 26, 1, 30));  // not 02:30 CET the same night
  // A rackd that looks in the second pass (02:10 CET) does not run it again either.
  CHECK(next("30 2 * * *", utc(2026, 10, 25, 1, 10), berlin) == utc(2026, 10, 26, 1, 30));
  CHECK(next("30 3 * * *", utc(2026, 10, 24, 12, 0), berlin) == utc(2026, 10, 25, 2, 30));
  CHECK(next("30 2 * * *", utc(2045, 10, 28, 12, 0), berlin) == utc(2045, 10, 29, 0, 30));
  CHECK(next("30 2 * * *", utc(2045, 10, 29, 0, 30), berlin) == utc(2045, 10, 30, 1, 30));
}

TEST_CASE("cron_tz: an unknown or malformed zone is a clear error") {
  std::string error;
  CHECK_FALSE(Zone::parse("Europe/Berln", error));
  CHECK(error.starts_with("no time zone named \"Europe/Berln\" in /usr/share/zoneinfo (expected utc, local"));
  CHECK_FALSE(Zone::parse("../../etc/passwd", error));
  CHECK(error == "expected utc, local (rackd's TZ) or a zone name like Europe/Berlin, got \"../../etc/passwd\"");
  CHECK_FALSE(Zone::parse("/etc/localtime", error));
  CHECK_FALSE(Zone::parse("Europe", error));  // a directory
  CHECK(error.starts_with("no time zone named \"Europe\""));
  CHECK_FALSE(Zone::parse("Europe/Berlin", error, "/nonexistent"));
  CHECK_FALSE(Zone::from_tzif("x", "TZif2 but not really", error));
  CHECK(error == "not TZif data (RFC 8536), or cut short");
  CHECK(Zone::parse("utc", error)->name() == "utc");
  CHECK(Zone::parse("local", error)->name() == "local");
}

TEST_CASE("cron_tz: the config names the zone, and an unknown one fails the load") {
  auto eco = rack::config::load_string(
      "apps:\n  - {name: a, run: [sh], cron_restart: \"0 3 * * *\", cron_tz: Europe/Berlin}\n", "/tmp/eco.yaml");
  CHECK(eco.apps.at(0).cron_zone.name() == "Europe/Berlin");
  CHECK(eco.apps.at(0).cron_zone.offset_at(utc(2026, 7, 1, 0, 0)) == 7200);
  std::string what;
  try {
    rack::config::load_string("apps:\n  - {name: a, run: [sh], cron_restart: \"0 3 * * *\", cron_tz: Mars/Olympus}\n",
                              "/tmp/eco.yaml");
  } catch (const rack::config::ConfigError& e) {
    what = e.what();
  }
  CHECK_MESSAGE(what.find("apps[0].cron_tz: no time zone named \"Mars/Olympus\"") != std::string::npos, what);
}
