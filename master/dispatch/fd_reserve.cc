#include "dispatch/fd_reserve.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include <spdlog/spdlog.h>

namespace rack::master::fd_reserve {

namespace {

int g_limit = std::numeric_limits<int>::max();
uint64_t g_pauses = 0;
std::chrono::steady_clock::time_point g_warned{};

}  // namespace

void refresh() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
      rl.rlim_cur > static_cast<rlim_t>(std::numeric_limits<int>::max())) {
    g_limit = std::numeric_limits<int>::max();
    return;
  }
  g_limit = static_cast<int>(rl.rlim_cur);
}

int reserve() { return std::min(kReserved, g_limit / 8); }

bool room_for(int fd, int keep) { return fd < g_limit - keep; }

bool has_room(int keep) {
  int probe = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
  if (probe < 0) return false;  // EMFILE (or no fd 0: then nothing is sane anyway)
  ::close(probe);
  return room_for(probe, keep);
}

void note_pause(const char* listener) {
  ++g_pauses;
  auto now = std::chrono::steady_clock::now();
  if (now - g_warned < std::chrono::seconds(10)) return;
  g_warned = now;
  spdlog::warn("{}: fewer than {} descriptors free below RLIMIT_NOFILE ({}), kept for respawns and log rotation; "
               "not accepting for 100 ms (the kernel backlog holds clients; {} pauses so far; raise ulimit -n / "
               "LimitNOFILE)",
               listener, reserve(), g_limit, g_pauses);
}

uint64_t pauses() { return g_pauses; }

}  // namespace rack::master::fd_reserve
