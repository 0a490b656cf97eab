#include "lifecycle/proc_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <charconv>
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

uint64_t count_fds(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/fd", static_cast<int>(pid));
  uint64_t n = 0;
  if (DIR* d = ::opendir(path)) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
  }
  return n;
}

}  // namespace

// /proc/<pid>/stat from the last ')' on, read from `fd` at offset 0 into
// `buf`. The command name may contain spaces and parentheses, so the
// fields start after the last ')'.
static std::optional<std::string_view> stat_text(int fd, std::span<char> buf) {
  ssize_t n = ::pread(fd, buf.data(), buf.size() - 1, 0);
  if (n <= 0) return std::nullopt;  // the process ended (ESRCH), or the pid is another's now
  buf[static_cast<std::size_t>(n)] = '\0';
  const char* p = std::strrchr(buf.data(), ')');
  if (!p || p[1] == '\0') return std::nullopt;
  return std::string_view(p, buf.data() + n - p);
}

static int open_stat(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  return ::open(path, O_RDONLY | O_CLOEXEC);
}

// open/read, not stdio: fopen allocates a buffer per file.
static std::optional<std::string> stat_fields(pid_t pid) {
  int fd = open_stat(pid);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  auto text = stat_text(fd, buf);
  ::close(fd);
  return text ? std::optional<std::string>(*text) : std::nullopt;
}

std::optional<ProcSample> read_proc(pid_t pid) {
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  auto fields = stat_fields(pid);
  if (!fields) return std::nullopt;
  auto e = parse_stat(pid, *fields, ticks, page, boot_time_s());
  if (!e) return std::nullopt;
  e->sample.open_fds = count_fds(pid);
  return e->sample;
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

std::optional<ProcEntry> parse_stat(pid_t pid, std::string_view from_paren, double ticks_per_s,
                                    uint64_t page_bytes, double boot_s) {
  if (from_paren.size() < 3 || from_paren[0] != ')' || from_paren[1] != ' ') return std::nullopt;
  // Fields 3 on, space-separated: state ppid pgrp session tty tpgid flags
  // minflt cminflt majflt cmajflt utime stime cutime cstime priority nice
  // threads itrealvalue starttime vsize rss. Read by hand: sscanf was a
  // fifth of an idle rackd's /proc scan (every process, every second).
  std::string_view rest = from_paren.substr(2);
  std::array<std::string_view, 22> f{};
  std::size_t got = 0;
  while (got < f.size() && !rest.empty()) {
    auto sp = rest.find_first_of(" \n");
    f[got++] = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
  }
  auto num = [](std::string_view v, auto& out) {
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc{} && end == v.data() + v.size();
  };
  int pgrp = 0;
  unsigned long utime = 0, stime = 0;
  unsigned long long starttime = 0;
  long rss_pages = 0;
  bool ok = got == f.size() && num(f[2], pgrp) && num(f[11], utime) && num(f[12], stime) && num(f[19], starttime) &&
            num(f[21], rss_pages);
  if (!ok || ticks_per_s <= 0) return std::nullopt;
  ProcEntry e;
  e.pid = pid;
  e.pgrp = pgrp;
  e.sample.cpu_user_seconds = utime / ticks_per_s;
  e.sample.cpu_system_seconds = stime / ticks_per_s;
  e.sample.cpu_seconds = (utime + stime) / ticks_per_s;
  e.sample.rss_bytes = rss_pages > 0 ? static_cast<uint64_t>(rss_pages) * page_bytes : 0;
  e.sample.start_time_s = boot_s + starttime / ticks_per_s;
  return e;
}

ProcGroups aggregate_groups(std::span<const ProcEntry> entries) {
  ProcGroups out;
  for (const auto& e : entries) {
    auto& g = out[e.pgrp];
    g.sample.cpu_seconds += e.sample.cpu_seconds;
    g.sample.cpu_user_seconds += e.sample.cpu_user_seconds;
    g.sample.cpu_system_seconds += e.sample.cpu_system_seconds;
    g.sample.rss_bytes += e.sample.rss_bytes;
    g.sample.open_fds += e.sample.open_fds;
    if (e.pid == e.pgrp) g.sample.start_time_s = e.sample.start_time_s;
    g.members.push_back(e.pid);
  }
  return out;
}

std::vector<ProcEntry> ProcScanner::scan(const std::unordered_set<pid_t>& keep_open_groups) {
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const double boot = boot_time_s();
  std::vector<ProcEntry> out;
  std::unordered_map<pid_t, int> still_open;
  char buf[1024];
  for (pid_t pid : list_pids()) {
    int fd = -1;
    std::optional<std::string_view> text;
    if (auto it = open_.find(pid); it != open_.end()) {
      fd = it->second;
      open_.erase(it);
      text = stat_text(fd, buf);
    }
    if (!text) {  // not open yet, or the process it was open for has ended
      if (fd >= 0) ::close(fd);
      fd = open_stat(pid);
      if (fd < 0) continue;  // ended in between
      text = stat_text(fd, buf);
    }
    auto e = text ? parse_stat(pid, *text, ticks, page, boot) : std::nullopt;
    if (e) out.push_back(*e);
    if (e && keep_open_groups.contains(e->pgrp)) still_open.emplace(pid, fd);
    else ::close(fd);
  }
  close_all();  // the processes that are gone
  open_ = std::move(still_open);
  return out;
}

void ProcScanner::close_all() {
  for (auto& [pid, fd] : open_) ::close(fd);
  open_.clear();
}

std::vector<ProcEntry> scan_proc() { return ProcScanner().scan({}); }

std::optional<ProcSample> group_sample(const ProcGroups& groups, pid_t pgid, bool with_fds) {
  auto it = groups.find(pgid);
  if (it == groups.end()) return std::nullopt;
  ProcSample s = it->second.sample;
  if (with_fds)
    for (pid_t pid : it->second.members) s.open_fds += count_fds(pid);
  return s;
}

std::optional<ProcSample> read_proc_group(pid_t pgid) {
  auto entries = scan_proc();
  return group_sample(aggregate_groups(entries), pgid);
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
