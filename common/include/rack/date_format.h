// logs.date_format: the time at the start of each log line, strftime-style,
// in rackd's local time (as PM2's log_date_format is), for people whose
// tools expect a given shape. Unset, lines keep the ISO-8601 UTC stamp.
//
//   std::string err = rack::date_format::check("%Y-%m-%d %H:%M:%S");  // "" = valid
//   std::string out;
//   rack::date_format::append(out, "%F %T.%L %z", now);  // "2026-12-07 03:20:59.123 +0100"
//   auto p = rack::date_format::parse("2026-12-07 03:20:59.123 +0100 [0] hi", "%F %T.%L %z");
//   // p->time == now (to the millisecond), p->length == 29
//
//   std::vector<std::string> unmapped;
//   rack::date_format::from_moment("YYYY-MM-DD HH:mm Z", unmapped);  // "%Y-%m-%d %H:%M %:z"
//
// Only conversions that can be read back are accepted, so `rackctl logs`
// still finds each line's time and slot in the files:
//   %Y year  %y 2-digit year  %m month  %d day  %H hour  %M minute  %S second
//   %L milliseconds  %z +hhmm  %:z +hh:mm  %F = %Y-%m-%d  %T = %H:%M:%S  %% a '%'
// Without %z a stamp read back is taken as local time; without a date, as
// today's.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rack::date_format {

using SysTime = std::chrono::system_clock::time_point;

// "" when `format` is usable, else what is wrong with it (names the
// conversion and lists the ones accepted).
std::string check(std::string_view format);

// Appends `t` as `format` (checked) says, in local time.
void append(std::string& out, std::string_view format, SysTime t);

struct Parsed {
  SysTime time;
  std::size_t length = 0;  // bytes of `text` the stamp took
};
// Reads a stamp written by append(format, ...) at the start of `text`.
std::optional<Parsed> parse(std::string_view text, std::string_view format);

// PM2's log_date_format (moment.js tokens: YYYY YY MM DD HH mm ss SSS Z
// ZZ, [literal] text) as a date_format. A token with no equivalent here
// (MMM, dddd, A, hh, ...) is added to `unmapped` and the result is then "".
std::string from_moment(std::string_view moment, std::vector<std::string>& unmapped);

}  // namespace rack::date_format
