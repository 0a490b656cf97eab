#include "lifecycle/proc_stats.h"

#include <dirent.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

namespace rack::master {

namespace {

double boot_time_s() {
  static double boot = [] {
    std::ifstream f("/proc/stat");
    std::string key;
    double v = 0;
    while (f >> key) {
      if (key == "btime") {
        f >> v;
        break;
      }
    }
    return v;
  }();
  return boot;
}

}  // namespace

// /proc/<pid>/stat from its third field on. The command name may contain
// spaces and parentheses, so the fields start after the last ')'.
static std::optional<std::string> stat_fields(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "re");
  if (!f) return std::nullopt;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (!p || p[1] == '\0') return std::nullopt;
  return std::string(p);
}

std::optional<ProcSample> read_proc(pid_t pid) {
  auto fields = stat_fields(pid);
  if (!fields) return std::nullopt;
  const char* p = fields->c_str();
  char path[64];
  unsigned long utime = 0, stime = 0;
  unsigned long long starttime = 0;
  long rss_pages = 0;
  // Fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime stime cutime cstime priority nice threads itrealvalue
  // starttime vsize rss
  int got = std::sscanf(p + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu %*u %ld",
                        &utime, &stime, &starttime, &rss_pages);
  if (got != 4) return std::nullopt;
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const long page = ::sysconf(_SC_PAGESIZE);
  ProcSample s;
  s.cpu_user_seconds = utime / ticks;
  s.cpu_system_seconds = stime / ticks;
  s.cpu_seconds = (utime + stime) / ticks;
  s.rss_bytes = static_cast<uint64_t>(rss_pages) * page;
  s.start_time_s = boot_time_s() + starttime / ticks;
  std::snprintf(path, sizeof path, "/proc/%d/fd", static_cast<int>(pid));
  if (DIR* d = ::opendir(path)) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++s.open_fds;
    }
    ::closedir(d);
  }
  return s;
}

std::optional<ProcIdentity> read_identity(pid_t pid) {
  auto fields = stat_fields(pid);
  if (!fields) return std::nullopt;
  const char* p = fields->c_str();
  ProcIdentity id;
  id.pid = pid;
  int ppid = 0, pgrp = 0, session = 0;
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice threads itrealvalue starttime
  int got = std::sscanf(p + 2, "%c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                        &id.state, &ppid, &pgrp, &session, &id.start_ticks);
  if (got != 5) return std::nullopt;
  id.ppid = ppid, id.pgrp = pgrp, id.session = session;
  return id;
}

std::vector<pid_t> list_pids() {
  std::vector<pid_t> out;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      long v = std::strtol(e->d_name, &end, 10);
      if (v > 0 && end && *end == '\0') out.push_back(static_cast<pid_t>(v));
    }
    ::closedir(d);
  }
  return out;
}

std::optional<ProcSample> read_proc_group(pid_t pgid) {
  std::optional<ProcSample> sum;
  for (pid_t pid : list_pids()) {
    auto id = read_identity(pid);
    if (!id || id->pgrp != pgid) continue;
    auto s = read_proc(pid);
    if (!s) continue;  // ended in between
    if (!sum) sum = ProcSample{};
    sum->cpu_seconds += s->cpu_seconds;
    sum->rss_bytes += s->rss_bytes;
    sum->open_fds += s->open_fds;
    if (pid == pgid) sum->start_time_s = s->start_time_s;
  }
  return sum;
}

double cpu_percent(const ProcSample& before, const ProcSample& after, double wall_seconds) {
  if (wall_seconds <= 0) return 0;
  double d = after.cpu_seconds - before.cpu_seconds;
  return d < 0 ? 0 : 100.0 * d / wall_seconds;
}

namespace {

// The lowest limit in `file` of the cgroup at `path` and its parents under
// `root`. cgroup v2 writes "max" for none, v1 a number near 2^63.
std::optional<uint64_t> lowest_limit(const std::string& root, std::string path, const char* file) {
  std::optional<uint64_t> lowest;
  for (;;) {
    std::ifstream f(root + (path == "/" ? "" : path) + "/" + file);
    std::string v;
    if (f >> v && v != "max") {
      char* end = nullptr;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (end && *end == '\0' && n < (1ull << 62) && (!lowest || n < *lowest)) lowest = n;
    }
    if (path.empty() || path == "/") break;
    auto cut = path.rfind('/');
    path = cut == 0 || cut == std::string::npos ? "/" : path.substr(0, cut);
  }
  return lowest;
}

}  // namespace

std::optional<uint64_t> cgroup_memory_limit() {
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  std::optional<uint64_t> lowest;
  auto take = [&](std::optional<uint64_t> v) {
    if (v && (!lowest || *v < *lowest)) lowest = v;
  };
  while (std::getline(self, line)) {
    if (line.rfind("0::", 0) == 0) take(lowest_limit("/sys/fs/cgroup", line.substr(3), "memory.max"));
    auto v1 = line.find(":memory:");
    if (v1 != std::string::npos)
      take(lowest_limit("/sys/fs/cgroup/memory", line.substr(v1 + 8), "memory.limit_in_bytes"));
  }
  return lowest;
}

unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return static_cast<unsigned>(CPU_COUNT(&set));
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

}  // namespace rack::master

namespace rack::master {

std::optional<uint64_t> oom_kills() {
  std::FILE* f = std::fopen("/proc/vmstat", "re");
  if (!f) return std::nullopt;
  char name[64];
  unsigned long long v = 0;
  std::optional<uint64_t> out;
  while (std::fscanf(f, "%63s %llu", name, &v) == 2) {
    if (std::string_view(name) == "oom_kill") {
      out = v;
      break;
    }
  }
  std::fclose(f);
  return out;
}

}  // namespace rack::master
