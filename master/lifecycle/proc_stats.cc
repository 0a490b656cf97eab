#include "lifecycle/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

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

std::optional<ProcSample> read_proc(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "re");
  if (!f) return std::nullopt;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name may contain spaces and parentheses: fields start after
  // the last ')'.
  char* p = std::strrchr(buf, ')');
  if (!p) return std::nullopt;
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

double cpu_percent(const ProcSample& before, const ProcSample& after, double wall_seconds) {
  if (wall_seconds <= 0) return 0;
  double d = after.cpu_seconds - before.cpu_seconds;
  return d < 0 ? 0 : 100.0 * d / wall_seconds;
}

}  // namespace rack::master
