// Per-process figures from /proc, for status and metrics. Works for any
// pid, whatever the worker speaks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace rack::master {

struct ProcSample {
  double cpu_seconds = 0;     // utime + stime
  uint64_t rss_bytes = 0;
  uint64_t open_fds = 0;
  double start_time_s = 0;    // since the epoch
};

std::optional<ProcSample> read_proc(pid_t pid);

// CPU % between two samples taken `wall_seconds` apart (100 = one core).
double cpu_percent(const ProcSample& before, const ProcSample& after, double wall_seconds);

}  // namespace rack::master
