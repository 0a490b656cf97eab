// rackd — the Rack master daemon. Its options, environment, signals and
// exit codes are defined in daemon_options.cc (rackd --help, man 8 rackd):
//
//   rackd [--home DIR] [ecosystem.yaml]              detach, then serve
//   rackd --no-daemon [--home DIR] [ecosystem.yaml]  foreground (systemd, containers)
//   rackd --adopt-state FD --previous-image FD       what an upgrade execs (upgrade/exec.h)
//   rackd --check-state FD                           its pre-flight: check the state, adopt nothing
//
// rackctl starts the detached form on demand.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>

#include "rack/config.h"
#include "rack/logging.h"
#include "rack/version.h"
#include "node/preload.h"
#include "lifecycle/cgroup.h"
#include "lifecycle/guardian.h"
#include "lifecycle/spawn.h"
#include "daemon_options.h"
#include "supervisor.h"
#include "upgrade/exec.h"
#include "upgrade/state.h"
#include "upgrade/state_check.h"

namespace {

// One rackd per RACK_HOME: an flock on rackd.pid, held for our lifetime.
int lock_home(const std::string& home) {
  std::string path = home + "/rackd.pid";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "rackd: cannot open %s: %s\n", path.c_str(), std::strerror(errno));
    return -1;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    (void)!::read(fd, buf, sizeof buf - 1);
    std::fprintf(stderr, "rackd: already running for %s (pid %s)\n", home.c_str(), buf);
    ::close(fd);
    return -1;
  }
  (void)!::ftruncate(fd, 0);
  std::string pid = std::to_string(::getpid()) + "\n";
  (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return fd;
}

// Detaches: the parent waits on a pipe until the child is serving (or has
// failed) and exits with the child's verdict, so `rackd && rackctl ...`
// and rackctl's auto-start both see real errors.
int daemonize(const std::string& home, int& ready_fd) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return 1;
  pid_t pid = ::fork();
  if (pid < 0) return 1;
  if (pid > 0) {
    ::close(p[1]);
    char code = 1;
    ssize_t n = ::read(p[0], &code, 1);
    std::_Exit(n == 1 ? code : 1);
  }
  ::close(p[0]);
  ::setsid();
  int devnull = ::open("/dev/null", O_RDWR);
  std::string log = home + "/rackd.log";
  int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  ::dup2(devnull, 0);
  // stdout/stderr to rackd.log keeps anything a library prints.
  if (logfd >= 0) {
    ::dup2(logfd, 1);
    ::dup2(logfd, 2);
    ::close(logfd);
  }
  if (devnull > 2) ::close(devnull);
  ready_fd = p[1];
  return -1;
}

// Shared segments are named rack-<uid>-<rackd pid>-<app>; a rackd that was
// killed with SIGKILL could not remove its own. Remove those of our uid
// whose rackd is gone.
void sweep_stale_segments() {
  std::string prefix = "rack-" + std::to_string(::getuid()) + "-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
    std::string name = e.path().filename();
    if (name.rfind(prefix, 0) != 0) continue;
    long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) ::unlink(e.path().c_str());
  }
}

void report(int ready_fd, char code) {
  if (ready_fd < 0) return;
  (void)!::write(ready_fd, &code, 1);
  ::close(ready_fd);
}

// What can fail before detaching, reported on the caller's terminal: the
// home directory (1), the ecosystem file and the log settings (2).
int prepare(const rack::master::DaemonArgs& args, std::optional<rack::config::Ecosystem>& eco,
            rack::log::Options& log_opt) {
  std::error_code ec;
  std::filesystem::create_directories(args.home + "/logs", ec);
  if (ec) {
    std::fprintf(stderr, "rackd: cannot create %s: %s\n", args.home.c_str(), ec.message().c_str());
    return 1;
  }
  ::chmod(args.home.c_str(), 0700);
  try {
    if (!args.ecosystem.empty()) eco = rack::config::load_file(args.ecosystem);
    log_opt = rack::log::options_from_env(args.foreground || !::isatty(1));
  } catch (const std::exception& e) {  // ConfigError, or LOG_LEVEL / LOG_FORMAT
    std::fprintf(stderr, "rackd: %s\n", e.what());
    return 2;
  }
  return 0;
}

// Before any worker: what a rackd killed with its guardian left behind
// is ended (guardian.h checks each pid, cgroup.h kills only its own
// cgroup), and the cgroup is made before the guardian, which takes its
// cgroup.kill along. Then the machinery every worker relies on.
void start_services(const std::string& home) {
  if (auto line = rack::master::guardian::end_leftovers(home); !line.empty()) spdlog::warn("{}", line);
  spdlog::info("{}", rack::master::cgroup::setup(home, rack::master::cgroup::Leftovers::End));
  spdlog::info("{}", rack::master::guardian::start(home));
  sweep_stale_segments();
  spdlog::info("{}", rack::master::adopt_batch_scheduling());
  spdlog::info("{}", rack::master::raise_nofile());
  std::string preload_err;
  if (!rack::master::node_preload::install(home, preload_err))
    spdlog::warn("node workers run without Rack's preload (their reloads may fail requests): {}", preload_err);
}

// Opens the control socket and starts the file's apps: 0, or rackd's exit code.
int open_and_start(rack::master::Supervisor& sup, const std::optional<rack::config::Ecosystem>& eco) {
  std::string err;
  if (sup.open_control(err) != 0) {
    spdlog::critical("{}", err);
    std::fprintf(stderr, "rackd: %s\n", err.c_str());
    return 1;
  }
  if (!eco) return 0;
  auto r = sup.start(*eco, "");
  if (r.error.empty()) return 0;
  spdlog::critical("cannot start {}: {}", eco->path, r.error);
  std::fprintf(stderr, "rackd: %s\n", r.error.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  namespace master = rack::master;
  master::upgrade::image();  // this image's start time
  master::DaemonArgs args;
  if (auto code = master::parse_daemon_args(argc, argv, args, std::cout, std::cerr)) return *code;
  if (args.check_state >= 0) return master::upgrade::check_state_main(args.check_state);
  if (args.adopt_state >= 0) return master::upgrade::resume(args.adopt_state, args.previous_image, args.upgrade_failed);

  std::optional<rack::config::Ecosystem> eco;
  rack::log::Options log_opt;
  if (int rc = prepare(args, eco, log_opt); rc != 0) return rc;
  int ready_fd = -1;
  if (!args.foreground) {
    int rc = daemonize(args.home, ready_fd);
    if (rc >= 0) return rc;
    if (!std::getenv("LOG_FORMAT")) log_opt.format = rack::log::Format::Json;
    log_opt.file = args.home + "/rackd.log";
  }
  log_opt.name = "rackd";
  rack::log::init(log_opt);

  int lock = lock_home(args.home);
  if (lock < 0) {
    report(ready_fd, 1);
    return 1;
  }
  master::upgrade::set_lock_fd(lock);
  start_services(args.home);
  master::Supervisor sup(uv_default_loop(), {args.home, args.foreground, master::SystemdNotifier::from_environment(),
                                             args.foreground && args.stdout_logs, args.admin});
  if (int rc = open_and_start(sup, eco); rc != 0) {
    report(ready_fd, static_cast<char>(rc));
    return rc;
  }
  spdlog::info("rackd {} serving {} (pid {})", rack::kVersionLine, args.home, ::getpid());
  report(ready_fd, 0);
  sup.notify_ready_when_settled();
  int code = sup.run();
  master::cgroup::teardown();
  ::unlink((args.home + "/rackd.pid").c_str());
  return code;
}
