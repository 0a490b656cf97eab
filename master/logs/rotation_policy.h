// Log rotation decisions and the text formats they rest on, apart from any
// I/O so they can be tested with a fake clock (STYLE 4). log_file.cc and
// app_log.cc act on them.
//
//   std::string prefix;
//   append_line_prefix(prefix, now, 3);          // "2026-11-22T03:20:59.123Z [3] "
//   rotated_name("web.out", now, 0);             // "web.out.2026-11-22T03-20-59.123Z.log"
//   rotated_name("web.out", now, 1);             // "web.out.2026-11-22T03-20-59.123Z_1.log"
//   auto r = parse_rotated("web.out", "web.out.2026-11-22T03-20-59.123Z.log.gz");
//   for (auto& f : select_expired(files, cfg.keep, cfg.max_age, now)) unlink(...);
//
// Rotated names sort by time with plain `ls`: the timestamp has fixed width
// and the counter is joined with '_', which sorts after the '.' of ".log", so
// the second rotation within one millisecond lists after the first.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rack/config.h"

namespace rack::master {

using SysTime = std::chrono::system_clock::time_point;

// "2026-11-22T03:20:59.123Z" (UTC, milliseconds).
std::string format_iso_ms(SysTime t);

// Appends "2026-11-22T03:20:59.123Z [3] " to `out`: the prefix of a line
// when LogConfig::time is on. A slot < 0 (rackd's own output, a pre-spawn
// hook) is written as "[-]". A `date_format` (logs.date_format, checked)
// replaces the ISO stamp: "%F %T" gives "2026-11-22 04:20:59 [3] " in
// local time.
void append_line_prefix(std::string& out, SysTime t, int slot, std::string_view date_format = {});

// Recognises that prefix at the start of a line written by rackd.
struct LinePrefix {
  SysTime time;
  int slot = -1;
  std::size_t length = 0;  // bytes of the prefix, including the final space
};
// With a `date_format`, a stamp in that format, else (lines written before
// it was set) the ISO one.
std::optional<LinePrefix> parse_line_prefix(std::string_view line, std::string_view date_format = {});

// One rotated file of one stream, identified by its name.
struct RotatedFile {
  std::string name;        // file name inside the log directory
  SysTime time;            // when it was rotated, from the name
  unsigned counter = 0;    // orders rotations within one millisecond
  bool compressed = false; // ".log.gz"
};

// `base` is "<app>.out" or "<app>.err". The result has no ".gz".
std::string rotated_name(std::string_view base, SysTime t, unsigned counter);
// nullopt for anything else in the directory: the current file, another
// app's files ("web.out.out.…" when app is "web"), ".tmp" leftovers.
std::optional<RotatedFile> parse_rotated(std::string_view base, std::string_view name);

// Newest first; for one rotation, the plain file before its ".gz".
void sort_newest_first(std::vector<RotatedFile>& files);

// The files to delete: every rotation past the `keep` newest, and every one
// rotated before now - max_age. A rotation whose plain and ".gz" files both
// exist (compression was interrupted) counts once and both go together.
std::vector<RotatedFile> select_expired(std::vector<RotatedFile> files, unsigned keep,
                                        std::optional<config::Duration> max_age, SysTime now);

// rotate_every is on the clock, like logrotate's daily run or a cron line:
// rotations happen at multiples of `every` since the Unix epoch, in UTC
// (`1d` at midnight UTC, `1h` on the hour), whenever rackd started. The
// milliseconds from `now` to the next such boundary after `now`
// (a whole `every` when `now` is on one).
inline uint64_t ms_until_boundary(SysTime now, uint64_t every_ms) {
  if (every_ms == 0) return 0;
  auto since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  uint64_t into = static_cast<uint64_t>(since_epoch < 0 ? 0 : since_epoch) % every_ms;
  return every_ms - into;
}

// Whether a line of `line_bytes` must start a new file, given the bytes the
// file it would go to already holds (written or waiting). A line never goes
// to an empty file's successor, so a line longer than max_size gets a file of
// its own instead of rotating forever. max_size 0 turns size rotation off.
inline bool starts_new_file(uint64_t file_bytes, uint64_t line_bytes, uint64_t max_size) {
  return max_size > 0 && file_bytes > 0 && file_bytes + line_bytes > max_size;
}

}  // namespace rack::master
