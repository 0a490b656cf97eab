// Per-process figures from /proc, for status and metrics. Works for any
// pid, whatever the worker speaks; a worker's figures are its whole
// process group's. rackd reads /proc once per sample for every worker
// (scan_proc, aggregate_groups), not once per worker: with 400 workers on
// a host of 500 processes that is 500 stat reads a second, not 200,000.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
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

// One process as a /proc scan saw it. sample.open_fds is left 0: counting
// descriptors means listing /proc/<pid>/fd, worth it only for workers.
struct ProcEntry {
  pid_t pid = 0;
  pid_t pgrp = 0;
  ProcSample sample;
};
// Parses /proc/<pid>/stat from the ')' that ends the command name on
// (stat_text must start there). Pure; nullopt for a malformed line.
// `ticks_per_s` and `page_bytes` come from sysconf, `boot_s` from btime.
std::optional<ProcEntry> parse_stat(pid_t pid, std::string_view from_paren, double ticks_per_s,
                                    uint64_t page_bytes, double boot_s);

// A process group's totals, and its members (whose descriptors
// group_sample counts).
struct GroupTotals {
  ProcSample sample;
  std::vector<pid_t> members;
};
using ProcGroups = std::unordered_map<pid_t, GroupTotals>;

// Pure: the entries summed per process group (CPU times and RSS), with the
// leader's start time (0 when the leader has gone and only others remain).
ProcGroups aggregate_groups(std::span<const ProcEntry> entries);

// Every process in /proc, each stat file read once. Processes that end
// during the scan are left out.
std::vector<ProcEntry> scan_proc();

// scan_proc, once a second for every worker: it keeps the stat files of
// the processes in `keep_open_groups` (the workers' groups) open from one
// scan to the next and reads them again with pread, so an idle host's
// scan costs a read per process, not an open, a read and a close. One
// descriptor per worker process. A process that ended reads nothing, and
// its pid, if taken again, is opened afresh.
class ProcScanner {
 public:
  ProcScanner() = default;
  ProcScanner(const ProcScanner&) = delete;
  ProcScanner& operator=(const ProcScanner&) = delete;
  ~ProcScanner() { close_all(); }

  std::vector<ProcEntry> scan(const std::unordered_set<pid_t>& keep_open_groups);
  std::size_t open_files() const { return open_.size(); }

 private:
  void close_all();
  std::unordered_map<pid_t, int> open_;
};

// Group `pgid`'s figures from one scan, with the open descriptors of its
// members counted now unless `with_fds` is false (then open_fds is 0).
// Empty when the scan saw no process in the group.
std::optional<ProcSample> group_sample(const ProcGroups& groups, pid_t pgid, bool with_fds = true);

// A worker is its process group: the figures summed over every process in
// group `pgid` (the worker and whatever it started that stayed in its
// group), with the leader's start time. Empty when no process is left.
// Scans all of /proc: for one group now and then; rackd's periodic
// sample scans once for every worker (Supervisor::tick).
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
