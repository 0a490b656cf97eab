#include "lifecycle/spawn.h"

#include "lifecycle/cgroup.h"
#include "lifecycle/guardian.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

extern char** environ;

namespace rack::master {

namespace {

// Everything the child needs is built before fork: between fork and exec
// only async-signal-safe calls are allowed.
std::vector<std::string> build_env(const SpawnRequest& req) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (!eq) continue;
    std::string name(*e, static_cast<size_t>(eq - *e));
    if (req.inherit_env || inherited_env_allowed(name)) merged[name] = eq + 1;
  }
  if (!req.inherit_env && !merged.count("PATH")) merged["PATH"] = kDefaultPath;
  for (const auto& [k, v] : req.env) merged[k] = v;
  merged.erase("LISTEN_PID");  // set in the child, once its pid is known
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const auto& [k, v] : merged) out.push_back(k + "=" + v);
  return out;
}

[[noreturn]] void child_fail(int report_fd, int err, int step) {
  int msg[2] = {err, step};
  (void)!::write(report_fd, msg, sizeof msg);
  _exit(127);
}

enum Step { kDup = 1, kChdir = 2, kExec = 3, kParent = 4, kCreds = 5 };

bool g_reset_scheduling = false;  // rackd switched itself to SCHED_BATCH
std::optional<rlimit> g_child_nofile;  // the limits rackd started with, when raise_nofile() raised them

// The pipe ends and /dev/null the child puts on 0..2, and where it reports
// a failed step.
struct ChildFds {
  int devnull, out, err, report;
};

// The forked child up to execve: only async-signal-safe calls. Does not
// return; a failed step is written to fds.report.
[[noreturn]] void exec_child(const SpawnRequest& req, ChildFds fds, pid_t parent, char* const* argv, char* const* envp,
                             char* listen_pid) {
  // Die with rackd; if rackd already died between fork and prctl,
  // getppid() has changed and the signal will never come: leave now.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) _exit(1);
  // A group of its own: every signal rackd sends reaches the whole tree
  // (guardian.h), and Ctrl-C at rackd's terminal goes to rackd, which
  // stops the workers in order.
  ::setpgid(0, 0);
  cgroup::join_self();  // and a cgroup, where rackd has them: setsid() does not leave it
  if (g_reset_scheduling) {
    sched_param none{};
    ::sched_setscheduler(0, SCHED_OTHER, &none);  // rackd's own SCHED_BATCH is not the app's
  }
  if (g_child_nofile) ::setrlimit(RLIMIT_NOFILE, &*g_child_nofile);
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
  // fd 3 may currently sit on 0..2; move it out of the way first.
  int fd3 = req.fd3;
  if (fd3 >= 0 && fd3 < 3) {
    fd3 = ::fcntl(fd3, F_DUPFD_CLOEXEC, 10);
    if (fd3 < 0) child_fail(fds.report, errno, kDup);
  }
  if (::dup2(fds.devnull, 0) < 0 || ::dup2(fds.out, 1) < 0 || ::dup2(fds.err, 2) < 0)
    child_fail(fds.report, errno, kDup);
  if (fd3 >= 0) {
    if (fd3 == 3) {
      ::fcntl(3, F_SETFD, 0);  // keep it across exec
    } else if (::dup2(fd3, 3) < 0) {
      child_fail(fds.report, errno, kDup);
    }
  }
  // Close everything else but the report pipe (cloexec; closes on exec).
  int keep_from = fd3 >= 0 ? 4 : 3;
  for (int fd = keep_from; fd < 1024; ++fd) {
    if (fd != fds.report) ::close(fd);
  }
  ::close_range(1024, ~0U, 0);
  // Groups, then the gid, then the uid: after setuid the others are out of reach.
  if (req.gid) {
    const gid_t* list = req.groups.empty() ? &*req.gid : req.groups.data();
    size_t n = req.groups.empty() ? 1 : req.groups.size();
    if (::setgroups(n, list) != 0 || ::setgid(*req.gid) != 0) child_fail(fds.report, errno, kCreds);
  }
  if (req.uid && ::setuid(*req.uid) != 0) child_fail(fds.report, errno, kCreds);
  if (!req.cwd.empty() && ::chdir(req.cwd.c_str()) != 0) child_fail(fds.report, errno, kChdir);
  if (req.set_listen_pid) {
    // Format our own pid by hand: snprintf is not async-signal-safe.
    char digits[16];
    int n = 0;
    for (pid_t p = ::getpid(); p > 0; p /= 10) digits[n++] = static_cast<char>('0' + p % 10);
    char* w = listen_pid + 11;
    while (n > 0) *w++ = digits[--n];
    *w = '\0';
  }
  ::execve(argv[0], argv, envp);
  child_fail(fds.report, errno, kExec);
}

std::string failed_step(const SpawnRequest& req, int step) {
  return step == kChdir ? "chdir " + req.cwd
         : step == kExec ? "execve " + req.argv[0]
         : step == kCreds ? "setgroups/setgid/setuid to uid " + std::to_string(req.uid ? int(*req.uid) : -1) +
                                " gid " + std::to_string(req.gid ? int(*req.gid) : -1)
                          : "dup2";
}

}  // namespace

bool inherited_env_allowed(std::string_view name) {
  static constexpr std::string_view kMinimalEnv[] = {"PATH", "HOME", "USER",  "LOGNAME", "SHELL",
                                                     "TMPDIR", "TZ", "LANG", "LANGUAGE"};
  for (std::string_view allowed : kMinimalEnv)
    if (name == allowed) return true;
  return name.starts_with("LC_");
}

std::string adopt_batch_scheduling() {
  if (const char* e = std::getenv("RACK_SCHED_BATCH"); e && std::string_view(e) == "0")
    return "scheduling: SCHED_OTHER kept (RACK_SCHED_BATCH=0)";
  int policy = ::sched_getscheduler(0);
  if (policy != SCHED_OTHER)
    return "scheduling: policy " + std::to_string(policy) + " set from outside kept, for rackd and its workers";
  sched_param none{};
  if (::sched_setscheduler(0, SCHED_BATCH, &none) != 0)
    return std::string("scheduling: SCHED_BATCH refused (") + std::strerror(errno) + "); SCHED_OTHER kept";
  g_reset_scheduling = true;
  return "scheduling: the loop runs SCHED_BATCH; workers start SCHED_OTHER";
}

std::optional<uint64_t> nofile_target(uint64_t soft, uint64_t hard) {
  uint64_t want = std::min(hard, kNofileCap);
  return want > soft ? std::optional<uint64_t>(want) : std::nullopt;
}

std::string raise_nofile() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return std::string("RLIMIT_NOFILE: ") + std::strerror(errno);
  auto want = nofile_target(rl.rlim_cur, rl.rlim_max);
  if (!want) return "RLIMIT_NOFILE: soft limit " + std::to_string(rl.rlim_cur) + " kept";
  rlimit raised{static_cast<rlim_t>(*want), rl.rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0)
    return "RLIMIT_NOFILE: raising the soft limit " + std::to_string(rl.rlim_cur) + " failed: " + std::strerror(errno);
  g_child_nofile = rl;
  return "RLIMIT_NOFILE: soft limit raised from " + std::to_string(rl.rlim_cur) + " to " + std::to_string(*want) +
         " for rackd's own descriptors; workers start with " + std::to_string(rl.rlim_cur);
}

bool resets_scheduling() { return g_reset_scheduling; }
void set_resets_scheduling(bool on) { g_reset_scheduling = on; }

int spawn(const SpawnRequest& req, Spawned& out, std::string& what) {
  std::vector<std::string> env = build_env(req);
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  // Room for LISTEN_PID=<pid>, written by the child.
  char listen_pid[32] = "LISTEN_PID=";
  if (req.set_listen_pid) {
    envp.back() = listen_pid;
    envp.push_back(nullptr);
  }
  std::vector<std::string> argv_store = req.argv;
  std::vector<char*> argv;
  for (auto& s : argv_store) argv.push_back(s.data());
  argv.push_back(nullptr);

  int outp[2], errp[2], report[2];
  if (::pipe2(outp, O_CLOEXEC) != 0) return what = "pipe", -errno;
  if (::pipe2(errp, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(outp[0]), ::close(outp[1]);
    return what = "pipe", -e;
  }
  if (::pipe2(report, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(outp[0]), ::close(outp[1]), ::close(errp[0]), ::close(errp[1]);
    return what = "pipe", -e;
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid == 0) {
    exec_child(req, ChildFds{devnull, outp[1], errp[1], report[1]}, parent, argv.data(), envp.data(), listen_pid);
  }

  int fork_errno = errno;
  if (pid > 0) cgroup::started(pid);
  ::close(outp[1]);
  ::close(errp[1]);
  ::close(report[1]);
  if (devnull >= 0) ::close(devnull);
  if (pid < 0) {
    ::close(outp[0]), ::close(errp[0]), ::close(report[0]);
    return what = "fork", -fork_errno;
  }
  // Wait until the child has exec'd (EOF: the cloexec pipe closed) or told
  // us why it could not. This is the only blocking step and it is short.
  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(report[0], msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof msg)) {
    ::close(outp[0]), ::close(errp[0]);
    int status;
    ::waitpid(pid, &status, 0);
    what = failed_step(req, msg[1]);
    return -msg[0];
  }
  ::fcntl(outp[0], F_SETFL, ::fcntl(outp[0], F_GETFL) | O_NONBLOCK);
  ::fcntl(errp[0], F_SETFL, ::fcntl(errp[0], F_GETFL) | O_NONBLOCK);
  guardian::watch(pid);  // the child leads its own group since before exec
  out.pid = pid;
  out.out = outp[0];
  out.err = errp[0];
  return 0;
}

}  // namespace rack::master
