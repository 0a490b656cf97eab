// Per-process figures from /proc, for status and metrics. Works for any
// pid, whatever the worker speaks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace rack::master {

struct ProcSample {
  double cpu_seconds = 0;     // utime + stime
  double cpu_user_seconds = 0;
  double cpu_system_seconds = 0;
  uint64_t rss_bytes = 0;
  uint64_t open_fds = 0;
  double start_time_s = 0;    // since the epoch
};

std::optional<ProcSample> read_proc(pid_t pid);

// CPU % between two samples taken `wall_seconds` apart (100 = one core).
double cpu_percent(const ProcSample& before, const ProcSample& after, double wall_seconds);

}  // namespace rack::master

namespace rack::master {

// The memory limit of the cgroup (v2) rackd runs in, the lowest one on the
// way up to the root; nullopt when none is set ("max") or cgroup v2 is not
// mounted. Workers share rackd's cgroup, so it bounds them too.
std::optional<uint64_t> cgroup_memory_limit();

// CPUs rackd may run on (its affinity mask), at least 1.
unsigned usable_cpus();

}  // namespace rack::master
