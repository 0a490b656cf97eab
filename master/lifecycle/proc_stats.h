// Per-process figures from /proc, for status and metrics. Works for any
// pid, whatever the worker speaks; a worker's figures are its whole
// process group's (read_proc_group).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

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

// Who a process is, from /proc/<pid>/stat.
struct ProcIdentity {
  pid_t pid = 0;
  char state = 0;  // R, S, D, Z (zombie: gone but not reaped), ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  unsigned long long start_ticks = 0;  // since boot, in clock ticks: with the pid, names one process
};
std::optional<ProcIdentity> read_identity(pid_t pid);
// Every pid in /proc.
std::vector<pid_t> list_pids();

// A worker is its process group: the figures summed over every process in
// group `pgid` (the worker and whatever it started that stayed in its
// group), with the leader's start time. Empty when no process is left.
std::optional<ProcSample> read_proc_group(pid_t pgid);

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

// OOM kills since boot, over the whole machine (/proc/vmstat oom_kill;
// a cgroup's own OOM kills count there too). nullopt when unreadable.
// Taken when a worker starts and again when a SIGKILL rackd did not send
// ended it: no OOM kill in between means someone killed it.
std::optional<uint64_t> oom_kills();

}  // namespace rack::master
