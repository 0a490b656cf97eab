// The time zone a cron_restart schedule is read in (cron_tz): UTC, rackd's
// local time, or a named zone read from the system's TZif files.
//
//   std::string error;
//   auto berlin = rack::cron::Zone::parse("Europe/Berlin", error);  // /usr/share/zoneinfo/Europe/Berlin
//   long offset = berlin->offset_at(time(nullptr));                  // 3600 in winter, 7200 in summer
//
// A named zone is read once, when the config loads, and never through the
// process's TZ: rackd serves apps in several zones at once, and setenv is
// not safe in a threaded process. Times past the file's last transition
// follow its POSIX TZ footer ("CET-1CEST,M3.5.0,M10.5.0/3").
#pragma once

#include <time.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rack::cron {

inline constexpr const char* kZoneInfoDir = "/usr/share/zoneinfo";

class Zone {
 public:
  struct Rules;  // a named zone's transitions and footer rule

  static Zone utc() { return Zone(); }
  static Zone local();
  // "utc", "local", or a name like "Europe/Berlin" read from `dir`;
  // nullopt with `error` naming what was wrong.
  static std::optional<Zone> parse(std::string_view name, std::string& error, const std::string& dir = kZoneInfoDir);
  // A named zone from the bytes of a TZif file.
  static std::optional<Zone> from_tzif(std::string name, std::string_view bytes, std::string& error);

  // "utc", "local" or the zone's name: what cron_tz says.
  const std::string& name() const { return name_; }
  bool operator==(const Zone& other) const { return name_ == other.name_; }

  // Seconds east of UTC at `t` (3600 for Berlin in winter).
  long offset_at(time_t t) const;

 private:
  Zone() = default;
  std::string name_ = "utc";
  bool local_ = false;
  std::shared_ptr<const Rules> rules_;
};

}  // namespace rack::cron
