#include "lifecycle/guardian.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include <spdlog/spdlog.h>

#include "lifecycle/cgroup.h"
#include "lifecycle/proc_stats.h"

namespace rack::master::guardian {

namespace {

// One record per write: smaller than PIPE_BUF, so never torn.
struct Record {
  int32_t op;  // kWatch or kForget
  int32_t pgid;
};
constexpr int32_t kWatch = 1, kForget = 2;

// The guardian's table: a fixed array, because the guardian may be forked
// again from a rackd that runs threads (libuv's pool), and after such a
// fork only async-signal-safe calls are allowed: read, kill, _exit.
constexpr int kMaxGroups = 16384;
pid_t g_table[kMaxGroups];

// kill_fd: rack-<hash>/cgroup.kill (cgroup.h), -1 without cgroups.
[[noreturn]] void run(int rfd, int kill_fd) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE}) ::signal(sig, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Nothing of rackd's but the pipe: not the RACK_HOME lock, not a socket.
  // The pipe on fd 3, cgroup.kill on fd 4: both moved out of the way first.
  rfd = ::fcntl(rfd, F_DUPFD, 10);
  if (kill_fd >= 0) kill_fd = ::fcntl(kill_fd, F_DUPFD, 10);
  ::dup2(rfd, 3);
  rfd = 3;
  if (kill_fd >= 0) {
    ::dup2(kill_fd, 4);
    kill_fd = 4;
  }
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 0), ::dup2(devnull, 1), ::dup2(devnull, 2);
  }
  ::close_range(kill_fd >= 0 ? 5 : 4, ~0U, 0);
  ::prctl(PR_SET_NAME, "rackd-guardian");
  int used = 0;
  for (;;) {
    Record r;
    ssize_t n = ::read(rfd, &r, sizeof r);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof r)) break;  // EOF: rackd is gone
    if (r.op == kWatch && r.pgid > 1 && used < kMaxGroups) {
      g_table[used++] = r.pgid;
    } else if (r.op == kForget) {
      for (int i = 0; i < used; ++i) {
        if (g_table[i] == r.pgid) {
          g_table[i] = g_table[--used];
          break;
        }
      }
    }
  }
  for (int i = 0; i < used; ++i) ::kill(-g_table[i], SIGKILL);
  // Every worker's cgroup at once, descendants that left their group included.
  if (kill_fd >= 0) (void)!::write(kill_fd, "1", 1);
  _exit(0);
}

// rackd's side.
int g_fd = -1;                       // write end, non-blocking
pid_t g_pid = -1;
std::string g_file;                  // $RACK_HOME/worker-groups
std::map<pid_t, Group> g_groups;     // what the guardian and the file hold
bool g_full_logged = false;

void send(int32_t op, pid_t pgid) {
  if (g_fd < 0) return;
  Record r{op, static_cast<int32_t>(pgid)};
  // Never blocks the loop: a guardian that does not read (stopped) costs
  // its protection, not rackd's dispatch. The file still lists the group.
  if (::write(g_fd, &r, sizeof r) != static_cast<ssize_t>(sizeof r) && !std::exchange(g_full_logged, true))
    spdlog::warn("guardian (pid {}) does not read its pipe ({}); the groups are still listed in {}", g_pid,
                 std::strerror(errno), g_file);
}

void save() {
  if (g_file.empty()) return;
  std::string text;
  for (auto& [pgid, g] : g_groups)
    text += std::to_string(g.pgid) + " " + std::to_string(g.session) + " " + std::to_string(g.start_ticks) + "\n";
  std::string tmp = g_file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (ok) ::rename(tmp.c_str(), g_file.c_str());
  else ::unlink(tmp.c_str());
}

bool fork_guardian() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return false;
  int kill_fd = cgroup::open_kill_all();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(p[0]), ::close(p[1]);
    if (kill_fd >= 0) ::close(kill_fd);
    return false;
  }
  if (pid == 0) {
    ::close(p[1]);
    run(p[0], kill_fd);
  }
  ::close(p[0]);
  if (kill_fd >= 0) ::close(kill_fd);
  ::fcntl(p[1], F_SETFL, O_NONBLOCK);
  g_fd = p[1];
  g_pid = pid;
  g_full_logged = false;
  for (auto& [pgid, g] : g_groups) send(kWatch, pgid);
  return true;
}

}  // namespace

std::string start(const std::string& home) {
  g_file = home + "/worker-groups";
  if (!fork_guardian())
    return std::string("guardian: fork failed (") + std::strerror(errno) +
           "); worker trees outlive a SIGKILL of rackd until the next start ends them";
  return std::string("process trees: one process group per worker") + (cgroup::enabled() ? ", in its cgroup" : " (no cgroup)") +
         "; guardian pid " + std::to_string(g_pid) + " ends them if rackd dies";
}

pid_t pid() { return g_pid; }

const char* containment() { return cgroup::enabled() ? "cgroup" : "process-group"; }

void watch(pid_t pgid) {
  Group g;
  g.pgid = pgid;
  if (auto id = read_identity(pgid)) {
    g.session = id->session;
    g.start_ticks = id->start_ticks;
  }
  g_groups[pgid] = g;
  send(kWatch, pgid);
  save();
}

Handover handover() {
  Handover h{g_fd, g_pid, {}};
  for (auto& [pgid, g] : g_groups) h.groups.push_back(g);
  return h;
}

void adopt(const std::string& home, const Handover& h) {
  g_file = home + "/worker-groups";
  g_fd = h.fd;
  g_pid = h.pid;
  g_groups.clear();
  for (const Group& g : h.groups) g_groups[g.pgid] = g;
}

bool reaped(pid_t pid) {
  if (pid == g_pid && pid > 0) {
    // Killed from outside. Without it a SIGKILL of rackd would leave the
    // trees behind: start another, and give it every group.
    ::close(g_fd);
    g_fd = g_pid = -1;
    bool ok = fork_guardian();
    spdlog::warn("guardian (pid {}) ended; {}", pid,
                 ok ? "started a new one, pid " + std::to_string(g_pid) : std::string("could not start a new one"));
    return true;
  }
  auto it = g_groups.find(pid);
  if (it == g_groups.end()) return false;
  // The leader is reaped: its pid cannot belong to a new group while
  // members of this one are alive, so this reaches only what it left.
  if (::kill(-pid, SIGKILL) == 0) spdlog::info("pid {} ended; SIGKILL to what was left of its process group", pid);
  cgroup::ended(pid);
  g_groups.erase(it);
  send(kForget, pid);
  save();
  return true;
}

std::vector<Group> parse_groups(const std::string& text) {
  std::vector<Group> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    long long pgid = 0, session = 0;
    unsigned long long ticks = 0;
    char extra = 0;
    if (std::sscanf(line.c_str(), "%lld %lld %llu %c", &pgid, &session, &ticks, &extra) != 3) continue;
    if (pgid <= 1 || session <= 0 || pgid > 1 << 22) continue;  // a garbled line ends nothing
    out.push_back({static_cast<pid_t>(pgid), static_cast<pid_t>(session), ticks});
  }
  return out;
}

std::string end_leftovers(const std::string& home) {
  std::string path = home + "/worker-groups";
  std::ifstream f(path);
  if (!f) return "";
  std::stringstream ss;
  ss << f.rdbuf();
  auto groups = parse_groups(ss.str());
  ::unlink(path.c_str());
  if (groups.empty()) return "";
  auto pids = list_pids();
  unsigned ended = 0, skipped = 0;
  for (const Group& g : groups) {
    // A live leader must be the very process rackd started; another
    // program under a reused pid leads a group of its own: leave it.
    if (auto leader = read_identity(g.pgid); leader && leader->start_ticks != g.start_ticks) {
      ++skipped;
      continue;
    }
    for (pid_t p : pids) {
      auto id = read_identity(p);
      if (!id || id->state == 'Z' || id->pgrp != g.pgid || id->session != g.session || id->start_ticks < g.start_ticks)
        continue;
      if (::kill(p, SIGKILL) == 0) ++ended;
    }
  }
  if (ended == 0 && skipped == 0) return "";
  return "ended " + std::to_string(ended) + " leftover process(es) of " + std::to_string(groups.size()) +
         " worker group(s) a previous rackd left in " + path +
         (skipped ? "; " + std::to_string(skipped) + " group(s) skipped: their pid now belongs to another process" : "");
}

}  // namespace rack::master::guardian
