// logs.date_format (rack/date_format.h): checked at load, written in local
// time, read back by `rackctl logs`; PM2's moment.js formats mapped to it.
#include <doctest/doctest.h>

#include <stdlib.h>
#include <time.h>

#include <chrono>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "logs/app_log.h"
#include "logs/rotation_policy.h"
#include "logs/stdout_sink.h"
#include "rack/config.h"
#include "rack/date_format.h"
#include "rack/pm2.h"

using namespace rack;
using namespace std::chrono;

namespace {

// Runs the test body with TZ set, then restores it.
struct ZoneFor {
  std::string old;
  bool had;
  explicit ZoneFor(const char* tz) : had(std::getenv("TZ") != nullptr) {
    if (had) old = std::getenv("TZ");
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ZoneFor() {
    had ? ::setenv("TZ", old.c_str(), 1) : ::unsetenv("TZ");
    ::tzset();
  }
};

// 2026-11-22T03:20:59.123Z
const date_format::SysTime kAt = sys_days(year(2026) / 11 / 22) + hours(3) + minutes(20) + seconds(59) + milliseconds(123);

std::string fmt(std::string_view f, date_format::SysTime t = kAt) {
  std::string out;
  date_format::append(out, f, t);
  return out;
}

}  // namespace

TEST_CASE("date_format: conversions in local time, with milliseconds and both offset forms") {
  ZoneFor tz("XYZ-5");  // POSIX: UTC+5
  CHECK(fmt("%Y-%m-%d %H:%M:%S") == "2026-11-22 08:20:59");
  CHECK(fmt("%F %T.%L %z") == "2026-11-22 08:20:59.123 +0500");
  CHECK(fmt("%y%m%d %H%M %:z") == "261122 0820 +05:00");
  CHECK(fmt("[%d/%m %%]") == "[22/11 %]");
  ZoneFor west("ABC+3:30");
  CHECK(fmt("%H:%M %z %:z") == "23:50 -0330 -03:30");
}

TEST_CASE("date_format: what is written is read back to the millisecond, with and without an offset") {
  ZoneFor tz("XYZ-5");
  for (std::string f : {"%F %T.%L %z", "%F %T.%L %:z", "%Y/%m/%d %H:%M:%S.%L", "%F %T.%L"}) {
    std::string s = fmt(f) + " [2] text";
    auto p = date_format::parse(s, f);
    REQUIRE_MESSAGE(p, f);
    CHECK(p->time == kAt);
    CHECK(s.substr(p->length) == " [2] text");
  }
  auto p = date_format::parse("2026-11-22 08:20:59", "%F %T");
  REQUIRE(p);
  CHECK(p->time == kAt - milliseconds(123));
  CHECK_FALSE(date_format::parse("2026-11-22 8:20:59", "%F %T"));
  CHECK_FALSE(date_format::parse("2026-13-22 08:20:59", "%F %T"));
  CHECK_FALSE(date_format::parse("2026-11-22", "%F %T"));
}

TEST_CASE("date_format: check names the conversion it refuses") {
  CHECK(date_format::check("%Y-%m-%d %H:%M:%S") == "");
  CHECK(date_format::check("%F %T.%L %:z") == "");
  CHECK(date_format::check("%Y %b").starts_with("%b is not a conversion logs.date_format can write and read back"));
  CHECK(date_format::check("%Y %").find("lone %") != std::string::npos);
  CHECK(date_format::check("%:x").starts_with("%:"));
  CHECK(date_format::check("").find("empty") != std::string::npos);
}

TEST_CASE("date_format: the line prefix and its parser use the format, and fall back to the ISO stamp") {
  ZoneFor tz("XYZ-5");
  std::string p;
  master::append_line_prefix(p, kAt, 3, "%F %T.%L %z");
  CHECK(p == "2026-11-22 08:20:59.123 +0500 [3] ");
  auto parsed = master::parse_line_prefix(p + "the line", "%F %T.%L %z");
  REQUIRE(parsed);
  CHECK(parsed->time == kAt);
  CHECK(parsed->slot == 3);
  CHECK(parsed->length == p.size());
  // A line written before the format was set.
  auto old = master::parse_line_prefix("2026-11-22T03:20:59.123Z [1] older", "%F %T.%L %z");
  REQUIRE(old);
  CHECK(old->time == kAt);
  CHECK(old->slot == 1);
  CHECK_FALSE(master::parse_line_prefix("2026-11-22 08:20:59.123 +0500 no slot", "%F %T.%L %z"));
}

TEST_CASE("date_format: the --no-daemon pretty stdout uses the app's format, JSON keeps the ISO time") {
  ZoneFor tz("XYZ-5");
  std::string f = "%F %T %z";
  master::LogLine l{"web", 0, master::LogStream::Out, kAt, "hi", f};
  CHECK(master::StdoutSink::format(l, master::StdoutSink::Format::Pretty) == "2026-11-22 08:20:59 +0500 web[0] out | hi");
  CHECK(master::StdoutSink::format(l, master::StdoutSink::Format::Json).find("\"time\":\"2026-11-22T03:20:59.123Z\"") !=
        std::string::npos);
  l.date_format = {};
  CHECK(master::StdoutSink::format(l, master::StdoutSink::Format::Pretty) == "2026-11-22T03:20:59.123Z web[0] out | hi");
}

TEST_CASE("date_format: PM2's moment.js tokens map, one that does not is named and nothing is set") {
  std::vector<std::string> unmapped;
  CHECK(date_format::from_moment("YYYY-MM-DD HH:mm Z", unmapped) == "%Y-%m-%d %H:%M %:z");
  CHECK(date_format::from_moment("YY/MM/DD HH:mm:ss.SSS ZZ", unmapped) == "%y/%m/%d %H:%M:%S.%L %z");
  CHECK(date_format::from_moment("[at] HH:mm [100%]", unmapped) == "at %H:%M 100%%");
  CHECK(unmapped.empty());
  CHECK(date_format::from_moment("MMM Do YYYY, h:mm:ss a", unmapped) == "");
  CHECK(unmapped == std::vector<std::string>{"MMM", "Do", "h", "a"});
}

TEST_CASE("date_format: an ecosystem's log_date_format becomes logs.date_format, or a warning naming the token") {
  auto eco = nlohmann::json::parse(R"({"apps": [
      {"name": "a", "script": "a.js", "log_date_format": "YYYY-MM-DD HH:mm:ss Z"},
      {"name": "b", "script": "b.js", "log_date_format": "dddd HH:mm"}]})");
  auto c = pm2::convert(eco, "ecosystem.config.js", {.env_name = "", .base_dir = "/srv", .cpus = 0});
  REQUIRE(c.errors.empty());
  YAML::Node apps = YAML::Load(c.yaml)["apps"];
  CHECK(apps[0]["logs"]["date_format"].as<std::string>() == "%Y-%m-%d %H:%M:%S %:z");
  CHECK_FALSE(apps[1]["logs"]["date_format"]);
  bool named = false;
  for (auto& w : c.warnings) named = named || (w.find("log_date_format") != std::string::npos && w.find("dddd") != std::string::npos);
  CHECK(named);
}

TEST_CASE("date_format: logs.date_format is loaded, and one that cannot be read back is refused with its line") {
  auto eco = config::load_string("apps:\n  - {name: a, run: [sh], logs: {date_format: \"%F %T.%L %:z\"}}\n", "/tmp/e.yaml");
  CHECK(eco.apps.at(0).logs.date_format == "%F %T.%L %:z");
  CHECK(config::load_string("apps:\n  - {name: a, run: [sh]}\n", "/tmp/e.yaml").apps.at(0).logs.date_format == "");
  try {
    config::load_string("apps:\n  - name: a\n    run: [sh]\n    logs: {date_format: \"%d %b\"}\n", "/tmp/e.yaml");
    FAIL("expected a ConfigError");
  } catch (const config::ConfigError& e) {
    std::string what = e.what();
    CHECK_MESSAGE(what.find("e.yaml:4") != std::string::npos, what);
    CHECK_MESSAGE(what.find("date_format") != std::string::npos, what);
    CHECK_MESSAGE(what.find("%b is not a conversion") != std::string::npos, what);
  }
}
