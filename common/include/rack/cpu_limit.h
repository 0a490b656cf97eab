// How many CPUs `instances: max` means: the CPUs this process may run on
// (affinity, cpusets), capped by its cgroup's CPU quota. In a container
// with `limits: {cpu: 2}` on a 64-core node, max is 2 workers, not 64.
//
//   unsigned n = rack::cpu::usable();   // reads /proc and /sys/fs/cgroup
//
// The reading is a pure function over a file reader, so the rules are
// tested with fake files:
//   auto files = [&](const std::string& p) -> std::optional<std::string> {...};
//   rack::cpu::cgroup_quota(files);     // 2.5 for cpu.max "250000 100000"
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rack::cpu {

// Returns the file's contents, or nullopt when it cannot be read.
using ReadFile = std::function<std::optional<std::string>(const std::string& path)>;

// The tightest CPU quota on the way from this process's cgroup up to the
// root, in CPUs: cgroup v2 `cpu.max` ("<quota> <period>" or "max <period>"),
// or cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (-1 = none).
// nullopt when there is no quota or nothing could be read. Paths come from
// /proc/self/cgroup ("0::/path" for v2, "N:cpu,cpuacct:/path" for v1),
// relative to `root` (/sys/fs/cgroup).
std::optional<double> cgroup_quota(const ReadFile& read, const std::string& root = "/sys/fs/cgroup");

// min(affinity, ceil(quota)), at least 1.
unsigned effective(unsigned affinity_cpus, std::optional<double> quota);

// effective(sched_getaffinity, cgroup_quota(real files)).
unsigned usable();

}  // namespace rack::cpu
