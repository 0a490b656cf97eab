// The rotated files of one stream ("web.out.<time>.log[.gz]"): listing
// them, and the housekeeping that deletes and compresses them off the loop.
//
//   SweepResult r;
//   sweep_rotated(dir, "web.out", cfg.keep, cfg.max_age, cfg.compress, now, r);
//   for (const RotatedFile& f : list_rotated(dir, "web.out")) ...  // newest first
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "logs/rotation_policy.h"

namespace rack::master {

// Housekeeping for one stream's rotated files, run on the thread pool: drops
// leftovers of interrupted compressions, deletes what select_expired picks,
// then gzips the rest when `compress`. Touches only the file system and its
// arguments. Returns messages for the loop to log.
struct SweepResult {
  std::vector<std::string> warnings;
  unsigned compressed = 0;
  unsigned deleted = 0;
};
void sweep_rotated(const std::string& dir, const std::string& base, unsigned keep,
                   std::optional<config::Duration> max_age, bool compress, SysTime now,
                   SweepResult& out);
// The same in an open, already checked directory.
void sweep_rotated_at(int dirfd, const std::string& dir, const std::string& base, unsigned keep,
                      std::optional<config::Duration> max_age, bool compress, SysTime now, SweepResult& out);

// The calling thread only (on Linux, scheduling policy, nice and ioprio are
// per thread): SCHED_IDLE and the lowest best-effort I/O priority, lower
// still than Debian's logrotate.service (Nice=19, IOSchedulingPriority=7).
// SCHED_IDLE rather than nice 19, because nice only weighs a thread against
// the others of its autogroup (rackd's session), not against the apps in
// theirs, and because the scheduler counts a CPU that runs only SCHED_IDLE
// work as idle: a woken loop or app is placed there and preempts the
// compression at once, instead of queueing behind another busy thread.
// Failures are ignored: the work then runs at nice 19, or at normal priority.
void lower_this_thread_priority_for_housekeeping();

// Rotated files of `base` in `dir`, newest first.
std::vector<RotatedFile> list_rotated(const std::string& dir, const std::string& base);
// The same for many bases with one read of the directory: `names` are
// dir_names(dir), sorted.
std::vector<std::string> dir_names(const std::string& dir);
std::vector<RotatedFile> list_rotated(const std::vector<std::string>& names, const std::string& base);

}  // namespace rack::master
