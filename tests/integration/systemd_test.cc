// rackd under systemd, played by the test: a NOTIFY_SOCKET of our own and
// WATCHDOG_USEC in rackd's environment, as systemd sets them for
// Type=notify with WatchdogSec=.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <sstream>

#include "harness.h"

using namespace rack::test;

namespace {

// The receiving end of sd_notify: one datagram per message.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  // The next message within `timeout`, or "".
  std::string next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // Reads until a message containing `what`; counts the watchdog pings seen.
  std::string until(const std::string& what, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      std::string m = next(std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()));
      if (m == "WATCHDOG=1") ++pings;
      if (m.find(what) != std::string::npos) return m;
    }
    return "";
  }
  int pings = 0;

 private:
  std::string path_;
  int fd_ = -1;
};

pid_t start_rackd(Rack& rack, const std::string& eco, const std::vector<std::string>& env) {
  pid_t pid = fork();
  if (pid == 0) {
    setenv("RACK_HOME", rack.home().c_str(), 1);
    for (auto& e : env) putenv(const_cast<char*>(e.c_str()));
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1), dup2(devnull, 2);
    execl(bin("rackd").c_str(), "rackd", "--no-daemon", eco.c_str(), nullptr);
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  int st = 0;
  if (!wait_until([&] { return waitpid(pid, &st, WNOHANG) == pid; }, timeout)) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

std::string environ_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("systemd: READY=1 once the apps are ready, RELOADING=1 and READY=1 around a reload, STOPPING=1, watchdog pings") {
  Rack rack;
  NotifySocket sd(rack.home() + "/notify");
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\n  shutdown_delay: 0s\napps:\n" +
                                                    hello_app("web", 2, "    ready_timeout: 10s\n"));
  std::string notify = "NOTIFY_SOCKET=" + rack.home() + "/notify";
  pid_t pid = start_rackd(rack, eco, {notify, "WATCHDOG_USEC=200000"});

  std::string ready = sd.until("READY=1", 15s);
  REQUIRE(ready != "");
  // Both workers were ready when rackd said so (none can have become ready since: they were started together).
  CHECK(rack.pids("web").size() == 2);
  CHECK(ready.find("STATUS=1 app: 1 online") != std::string::npos);

  // Pings at WATCHDOG_USEC/2 (100 ms): a second holds several.
  sd.pings = 0;
  sd.until("never sent", 1s);
  CHECK(sd.pings >= 3);

  // The workers do not get rackd's systemd variables.
  for (pid_t w : rack.pids("web")) {
    std::string env = environ_of(w);
    CHECK(env.find("NOTIFY_SOCKET=") == std::string::npos);
    CHECK(env.find("WATCHDOG_USEC=") == std::string::npos);
  }

  auto reload = std::async(std::launch::async, [&] { return rack.ctl({"reload", eco}); });
  std::string reloading = sd.until("RELOADING=1", 15s);
  REQUIRE(reloading != "");
  auto at = reloading.find("MONOTONIC_USEC=");
  REQUIRE(at != std::string::npos);
  CHECK(std::stoll(reloading.substr(at + 15)) > 0);
  std::string again = sd.until("READY=1", 30s);
  CHECK(again != "");
  CHECK(reload.get().exit_code == 0);

  kill(pid, SIGTERM);
  CHECK(sd.until("STOPPING=1", 10s) != "");
  CHECK(wait_exit(pid, 20s) == 0);
}

// The installed unit's ExecReload is `rackctl reload all`: systemd must
// hear RELOADING=1 from it (and from `rackctl reload <app>`) or `systemctl
// reload` shows nothing, and with Type=notify-reload never returns.
TEST_CASE("systemd: rackctl reload all and reload <app> send RELOADING=1, then READY=1 with the new workers ready") {
  Rack rack;
  NotifySocket sd(rack.home() + "/notify");
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\n  shutdown_delay: 0s\napps:\n" +
                                                    hello_app("web", 2, "    ready_timeout: 10s\n"));
  pid_t pid = start_rackd(rack, eco, {"NOTIFY_SOCKET=" + rack.home() + "/notify"});
  REQUIRE(sd.until("READY=1", 15s) != "");
  REQUIRE(rack.wait_ready("web", 2));

  for (std::string target : {"all", "web"}) {
    CAPTURE(target);
    std::vector<pid_t> before = rack.pids("web");
    int64_t sent_after = monotonic_usec();
    auto reload = std::async(std::launch::async, [&] { return rack.ctl({"reload", target}); });
    std::string reloading = sd.until("RELOADING=1", 15s);
    int64_t got_by = monotonic_usec();
    REQUIRE(reloading != "");
    CHECK(reloading.find("STATUS=reloading " + target) != std::string::npos);
    // MONOTONIC_USEC is rackd's CLOCK_MONOTONIC when the reload started.
    auto at = reloading.find("MONOTONIC_USEC=");
    REQUIRE(at != std::string::npos);
    int64_t usec = std::stoll(reloading.substr(at + 15));
    CHECK(usec >= sent_after);
    CHECK(usec <= got_by);
    std::string ready = sd.until("READY=1", 30s);
    REQUIRE(ready != "");
    // READY=1 comes when the reload is over: every ready worker is new.
    std::vector<pid_t> after = rack.pids("web");
    CHECK(after.size() == 2);
    for (pid_t p : after) CHECK(std::find(before.begin(), before.end(), p) == before.end());
    CHECK(reload.get().exit_code == 0);
  }

  kill(pid, SIGTERM);
  CHECK(sd.until("STOPPING=1", 10s) != "");
  CHECK(wait_exit(pid, 20s) == 0);
}

TEST_CASE("systemd: a stopped loop stops the watchdog pings, and they resume with it") {
  Rack rack;
  NotifySocket sd(rack.home() + "/notify");
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\n  shutdown_delay: 0s\napps:\n" + hello_app("web", 1));
  pid_t pid = start_rackd(rack, eco, {"NOTIFY_SOCKET=" + rack.home() + "/notify", "WATCHDOG_USEC=100000"});
  REQUIRE(sd.until("READY=1", 15s) != "");
  kill(pid, SIGSTOP);
  while (sd.next(100ms) != "") {}  // what was sent before the stop
  sd.pings = 0;
  sd.until("never sent", 600ms);
  CHECK(sd.pings == 0);
  kill(pid, SIGCONT);
  sd.until("never sent", 600ms);
  CHECK(sd.pings >= 2);
  kill(pid, SIGTERM);
  CHECK(wait_exit(pid, 20s) == 0);
}

TEST_CASE("systemd: without NOTIFY_SOCKET rackd sends nothing and runs as before") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\n  shutdown_delay: 0s\napps:\n" + hello_app("web", 1));
  pid_t pid = start_rackd(rack, eco, {"WATCHDOG_USEC=100000"});
  CHECK(rack.wait_ready("web", 1));
  kill(pid, SIGTERM);
  CHECK(wait_exit(pid, 20s) == 0);
}
