// Hostile clients of rackd's own listeners (the control socket and the
// admin port): slow bodies, connection floods, descriptor exhaustion.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "harness.h"

using namespace rack::test;

namespace {

int connect_tcp(const std::pair<std::string, int>& at) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(at.second));
  ::inet_pton(AF_INET, at.first.c_str(), &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& s) { (void)!::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

// What the server sent until it closed (or `timeout` passed); "" if nothing.
std::string read_reply(int fd, std::chrono::milliseconds timeout = 5s) {
  std::string out;
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.find("\r\n\r\n") != std::string::npos && out.find("Connection: close") != std::string::npos &&
        out.find('}') != std::string::npos)
      break;
  }
  return out;
}

// The peer closed (EOF or reset) without our waiting.
bool closed_by_peer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
  }
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

}  // namespace

TEST_CASE("hostile: a request body trickled a byte a second is cut at the whole-request deadline on both listeners") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 1));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  const std::string head = "POST /v1/start HTTP/1.1\r\nHost: rack\r\nContent-Type: application/json\r\n"
                           "Content-Length: 200\r\n\r\n";
  int control = connect_unix(rack.home() + "/rackd.sock");
  int admin = connect_tcp(rack.admin());
  REQUIRE(control >= 0);
  REQUIRE(admin >= 0);
  auto start = std::chrono::steady_clock::now();
  send_all(control, head);
  send_all(admin, head);
  // Each byte comes well inside the 30 s between-bytes timeout: only a
  // deadline for the whole request ends this.
  bool control_cut = false, admin_cut = false;
  std::chrono::duration<double> control_at{}, admin_at{};
  while (std::chrono::steady_clock::now() - start < 25s && !(control_cut && admin_cut)) {
    if (!control_cut) send_all(control, "{");
    if (!admin_cut) send_all(admin, "{");
    std::this_thread::sleep_for(1s);
    if (!control_cut && (control_cut = closed_by_peer(control))) control_at = std::chrono::steady_clock::now() - start;
    if (!admin_cut && (admin_cut = closed_by_peer(admin))) admin_at = std::chrono::steady_clock::now() - start;
  }
  CHECK(control_cut);
  CHECK(admin_cut);
  // The deadline is 10 s from the first byte (plus a loaded machine's slack).
  CHECK_MESSAGE(control_at.count() < 16, control_at.count());
  CHECK_MESSAGE(admin_at.count() < 16, admin_at.count());
  CHECK(control_at.count() > 8);
  ::close(control);
  ::close(admin);
  CHECK(rack.ctl({"ping"}).exit_code == 0);
}

TEST_CASE("hostile: past the admin listener's 256 connections clients get 503, and room again once they go") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 1));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1));
  auto admin = rack.admin();
  std::vector<int> idle;
  for (int i = 0; i < 256; ++i) {
    int fd = connect_tcp(admin);
    REQUIRE(fd >= 0);
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(500ms);  // rackd accepts them all
  int busy = 0;
  std::string sample;
  for (int i = 0; i < 8; ++i) {
    int fd = connect_tcp(admin);
    REQUIRE(fd >= 0);
    send_all(fd, "GET /health HTTP/1.1\r\nHost: rack\r\n\r\n");
    std::string reply = read_reply(fd);
    if (reply.rfind("HTTP/1.1 503", 0) == 0 && reply.find("too many connections (256)") != std::string::npos) ++busy;
    else sample = reply;
    ::close(fd);
  }
  CHECK_MESSAGE(busy == 8, "got instead: " << sample);
  // The control socket has a cap of its own: rackctl is not locked out.
  CHECK(rack.ctl({"ping"}).exit_code == 0);
  for (int fd : idle) ::close(fd);
  CHECK(wait_until([&] { return http_get(admin, "/health").status == 200; }, 5s));
}

TEST_CASE("hostile: at the descriptor limit the admin flood waits in the backlog and a killed worker still respawns") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 2));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  REQUIRE(rack.wait_ready("web", 2));
  // rackd raises its own soft limit at start; an operator's prlimit lowers
  // it again, and rackd reads the new limit on its next tick.
  rlimit low{200, 200};
  REQUIRE(::prlimit(rack.rackd_pid(), RLIMIT_NOFILE, &low, nullptr) == 0);
  std::this_thread::sleep_for(500ms);
  auto admin = rack.admin();
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i) {
    int fd = connect_tcp(admin);
    if (fd >= 0) flood.push_back(fd);
  }
  std::this_thread::sleep_for(1s);
  // rackctl still gets through (the control socket keeps half the reserve).
  std::vector<pid_t> before = rack.pids("web");
  REQUIRE(before.size() == 2);
  ::kill(before[0], SIGKILL);
  bool respawned = wait_until([&] {
    auto now = rack.pids("web");
    return now.size() == 2 && now[0] != before[0] && now[1] != before[0];
  }, 15s);
  CHECK_MESSAGE(respawned, rack.status().dump());
  for (int fd : flood) ::close(fd);
  // Room again: the app and the admin port serve (what waited in the
  // backlog meanwhile is served too).
  CHECK(wait_until([&] { return http_get(rack.address("web"), "/").status == 200; }, 10s));
  CHECK(wait_until([&] { return http_get(admin, "/metrics").status == 200; }, 10s));
  auto m = http_get(admin, "/metrics");
  CHECK(metric_sample(m.body, "rack_fd_reserve_pauses_total").value_or(0) > 0);
}
