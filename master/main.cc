// rackd — the Rack master daemon.
//
//   rackd [--home DIR] [ecosystem.yaml]              detach, then serve
//   rackd --no-daemon [--home DIR] [ecosystem.yaml]  foreground (systemd, containers)
//   rackd --version
//   rackd --adopt-state FD --previous-image FD       what an upgrade execs (upgrade/exec.h)
//   rackd --check-state FD                           its pre-flight: check the state, adopt nothing
//
// rackctl starts the detached form on demand. Exit codes: 0 stopped
// cleanly, 1 could not run (another rackd owns RACK_HOME, socket error),
// 2 configuration error or an app could not start, 3 (--no-daemon) an app
// ended errored (rack.exit_on_errored; docs/states.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <spdlog/spdlog.h>

#include "rack/config.h"
#include "rack/logging.h"
#include "rack/version.h"
#include "node/preload.h"
#include "lifecycle/cgroup.h"
#include "lifecycle/guardian.h"
#include "lifecycle/spawn.h"
#include "rack/version.h"
#include "supervisor.h"
#include "upgrade/exec.h"
#include "upgrade/state.h"
#include "upgrade/state_check.h"

namespace {

struct Args {
  bool foreground = false;
  bool stdout_logs = true;  // with --no-daemon: app lines on stdout too
  std::string home;
  std::string ecosystem;
  int adopt_state = -1;     // an upgrade: the state's memfd
  int previous_image = -1;  // the image that wrote it, to go back to
  std::string upgrade_failed;
};

int fd_arg(const char* s) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  return end && *end == '\0' && v >= 0 && v < (1 << 20) ? static_cast<int>(v) : -1;
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "rackd: %s\nusage: rackd [--no-daemon [--no-stdout-logs]] [--home DIR] [ecosystem.yaml]\n       rackd --version\n", msg);
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--no-daemon" || s == "-n") a.foreground = true;
    else if (s == "--home" && i + 1 < argc) a.home = argv[++i];
    else if (s == "--no-stdout-logs") a.stdout_logs = false;
    else if (s == "--version") {
      std::printf("%s\n", rack::master::upgrade::version_line().c_str());
      std::exit(0);
    }
    else if (s == "--adopt-state" && i + 1 < argc) a.adopt_state = fd_arg(argv[++i]);
    else if (s == "--check-state" && i + 1 < argc) std::exit(rack::master::upgrade::check_state_main(fd_arg(argv[++i])));
    else if (s == "--previous-image" && i + 1 < argc) a.previous_image = fd_arg(argv[++i]);
    else if (s == "--upgrade-failed" && i + 1 < argc) a.upgrade_failed = argv[++i];
    else if (s == "--help" || s == "-h") usage("the Rack master daemon");
    else if (!s.empty() && s[0] == '-') usage(("unknown option " + s).c_str());
    else if (a.ecosystem.empty()) a.ecosystem = s;
    else usage("more than one ecosystem file given");
  }
  if (const char* e = std::getenv("RACK_STDOUT_LOGS"); e && (std::string_view(e) == "off" || std::string_view(e) == "0" ||
                                                             std::string_view(e) == "no"))
    a.stdout_logs = false;
  if (a.home.empty()) {
    const char* env = std::getenv("RACK_HOME");
    const char* home = std::getenv("HOME");
    a.home = env && *env ? env : std::string(home ? home : "/tmp") + "/.rack";
  }
  return a;
}

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

// Before any worker: what a rackd killed with its guardian left behind
// is ended (guardian.h checks each pid, cgroup.h kills only its own
// cgroup), and the cgroup is made before the guardian, which takes its
// cgroup.kill along.
void contain_workers(const std::string& home) {
  if (auto line = rack::master::guardian::end_leftovers(home); !line.empty()) spdlog::warn("{}", line);
  spdlog::info("{}", rack::master::cgroup::setup(home, rack::master::cgroup::Leftovers::End));
  spdlog::info("{}", rack::master::guardian::start(home));
}

}  // namespace

int main(int argc, char** argv) {
  rack::master::upgrade::image();  // this image's start time
  Args args = parse_args(argc, argv);
  if (args.adopt_state >= 0) return rack::master::upgrade::resume(args.adopt_state, args.previous_image, args.upgrade_failed);
  std::error_code ec;
  std::filesystem::create_directories(args.home + "/logs", ec);
  if (ec) {
    std::fprintf(stderr, "rackd: cannot create %s: %s\n", args.home.c_str(), ec.message().c_str());
    return 1;
  }
  ::chmod(args.home.c_str(), 0700);

  // Config errors are reported before detaching, on the caller's terminal.
  std::optional<rack::config::Ecosystem> eco;
  if (!args.ecosystem.empty()) {
    try {
      eco = rack::config::load_file(args.ecosystem);
    } catch (const rack::config::ConfigError& e) {
      std::fprintf(stderr, "rackd: %s\n", e.what());
      return 2;
    }
  }

  rack::log::Options log_opt;
  try {
    log_opt = rack::log::options_from_env(args.foreground || !::isatty(1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rackd: %s\n", e.what());
    return 2;
  }

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
  rack::master::upgrade::set_lock_fd(lock);

  contain_workers(args.home);
  sweep_stale_segments();
  spdlog::info("{}", rack::master::adopt_batch_scheduling());
  spdlog::info("{}", rack::master::raise_nofile());
  std::string preload_err;
  if (!rack::master::node_preload::install(args.home, preload_err))
    spdlog::warn("node workers run without Rack's preload (their reloads may fail requests): {}", preload_err);
  uv_loop_t* loop = uv_default_loop();
  rack::master::Supervisor sup(loop, {args.home, args.foreground, rack::master::SystemdNotifier::from_environment(),
                                     args.foreground && args.stdout_logs});
  std::string err;
  if (sup.open_control(err) != 0) {
    spdlog::critical("{}", err);
    std::fprintf(stderr, "rackd: %s\n", err.c_str());
    report(ready_fd, 1);
    return 1;
  }
  if (eco) {
    auto r = sup.start(*eco, "");
    if (!r.error.empty()) {
      spdlog::critical("cannot start {}: {}", eco->path, r.error);
      std::fprintf(stderr, "rackd: %s\n", r.error.c_str());
      report(ready_fd, 2);
      return 2;
    }
  }
  spdlog::info("rackd {} serving {} (pid {})", rack::kVersionLine, args.home, ::getpid());
  report(ready_fd, 0);
  sup.notify_ready_when_settled();
  int code = sup.run();
  rack::master::cgroup::teardown();
  ::unlink((args.home + "/rackd.pid").c_str());
  return code;
}
