// Issue 2: rackd, round-robin dispatch, crash restarts, rackctl, control socket.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "harness.h"

using namespace rack::test;

namespace {

rack::http::Client::Result get(const std::string& host, int port, const std::string& path) {
  auto c = rack::http::Client::tcp(host, port);
  c.set_timeout(std::chrono::milliseconds(5000));
  return c.request("GET", path, "", {{"Connection", "close"}});
}

}  // namespace

TEST_CASE("core: start, round-robin over 4 workers, status, stop and delete") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 4));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("web") != std::string::npos);  // the status table
  REQUIRE(rack.wait_ready("web", 4));
  auto [host, port] = rack.address("web");
  REQUIRE(port > 0);

  // 400 sequential new connections: every worker serves 100 ± 1.
  std::map<int, int> served;
  for (int i = 0; i < 400; ++i) {
    auto res = get(host, port, "/whoami");
    REQUIRE_MESSAGE(res.status == 200, res.error_text);
    auto j = nlohmann::json::parse(res.body);
    served[j["slot"].get<int>()]++;
  }
  REQUIRE(served.size() == 4);
  for (auto& kv : served) CHECK_MESSAGE(std::abs(kv.second - 100) <= 1, "slot " << kv.first << " served " << kv.second);

  // status --json is exactly GET /v1/status on the control socket.
  auto s = rack.ctl({"status", "--json"});
  auto via_socket = run({"/usr/bin/curl", "-s", "--unix-socket", rack.home() + "/rackd.sock", "http://rack/v1/status"});
  if (via_socket.exit_code == 0) {
    auto a = nlohmann::json::parse(s.out), b = nlohmann::json::parse(via_socket.out);
    // uptime/cpu move between the two calls; compare the shape and identities.
    for (auto* j : {&a, &b})
      for (auto& app : (*j)["apps"])
        for (auto& w : app["workers"]) w.erase("uptime_s"), w.erase("cpu_percent"), w.erase("rss_bytes");
    CHECK(a == b);
  }
  auto table = rack.ctl({"ls"});
  CHECK(table.exit_code == 0);
  for (auto col : {"app", "slot", "pid", "state", "uptime", "cpu", "mem"}) CHECK(table.out.find(col) != std::string::npos);

  CHECK(rack.ctl({"ping"}).exit_code == 0);
  auto pids = rack.pids("web");
  CHECK(rack.ctl({"stop", "web"}).exit_code == 0);
  for (pid_t p : pids) CHECK(wait_until([&] { return !pid_alive(p); }, 5s));
  CHECK(rack.app("web")["status"] == "stopped");
  CHECK(get(host, port, "/").error != rack::http::Client::Error::None);  // listener closed

  CHECK(rack.ctl({"restart", "web"}).exit_code == 0);
  CHECK(rack.wait_ready("web", 4));
  CHECK(rack.ctl({"delete", "all"}).exit_code == 0);
  CHECK(rack.status()["apps"].empty());
  CHECK(rack.ctl({"stop", "nope"}).exit_code == 1);
}

TEST_CASE("core: kill -9 of a worker under load: replaced, rackd stays up, others keep serving") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 2));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto at = rack.address("web");
  const std::string& host = at.first;
  const int port = at.second;
  auto before = rack.pids("web");
  pid_t rackd = rack.rackd_pid();

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::thread client([&] {
    while (!stop) {
      auto r = get(host, port, "/");
      (r.status == 200 ? ok : failed)++;
    }
  });
  std::this_thread::sleep_for(300ms);
  REQUIRE(kill(before[0], SIGKILL) == 0);
  bool replaced = wait_until([&] {
    auto now = rack.pids("web");
    return now.size() == 2 && std::find(now.begin(), now.end(), before[0]) == now.end();
  }, 10s);
  int ok_at_replace = ok;
  std::this_thread::sleep_for(500ms);
  stop = true;
  client.join();
  CHECK(replaced);
  CHECK(pid_alive(rackd));
  CHECK(ok > ok_at_replace);  // still serving after the replacement
  // One client, one request at a time: at most the request in flight on the
  // killed worker can fail.
  CHECK(failed <= 1);
  auto w = rack.app("web")["workers"];
  int restarts = 0;
  for (auto& x : w) restarts += x["restarts"].get<int>();
  CHECK(restarts == 1);
}

TEST_CASE("core: a worker that exits at start ends errored with the reason, other apps unaffected") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml",
      "rack:\n  admin: off\napps:\n" + hello_app("good", 1) +
      "  - name: bad\n    run: [" + bin("rack-hello") + ", --exit-at-start]\n    protocol: rack\n"
      "    listen: 127.0.0.1:0\n    restart: {max_restarts: 3, backoff_initial: 10ms, min_uptime: 1s}\n");
  auto started = rack.ctl({"start", eco});
  CHECK(started.exit_code == 1);  // start waits, and says which slot failed and why
  // Depending on how fast the slot burns its restarts, rackctl sees either its
  // first exit or the errored verdict that quotes it; both name slot and reason.
  auto said = started.err.find("bad slot 0 failed to start: ");
  CHECK_MESSAGE(said != std::string::npos, started.err);
  CHECK_MESSAGE(started.err.find("exit code 1", said) < started.err.find('\n', said), started.err);
  bool errored = wait_until([&] {
    auto w = rack.app("bad")["workers"];
    return !w.empty() && w[0]["state"] == "errored";
  }, 15s);
  REQUIRE(errored);
  auto w = rack.app("bad")["workers"][0];
  CHECK(w["last_exit"].get<std::string>().find("exit code 1") != std::string::npos);
  CHECK(w["restarts"] == 3);
  CHECK(rack.wait_ready("good", 1));
  auto [host, port] = rack.address("good");
  CHECK(get(host, port, "/").status == 200);
  auto table = rack.ctl({"status"});
  CHECK(table.out.find("errored") != std::string::npos);
}

TEST_CASE("core: a worker that never signals ready is a failed start, not a success") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml",
      "rack:\n  admin: off\napps:\n  - name: mute\n    run: [" + bin("rack-hello") + ", --never-ready]\n"
      "    protocol: rack\n    listen: 127.0.0.1:0\n    ready_timeout: 300ms\n"
      "    restart: {max_restarts: 1, backoff_initial: 10ms, min_uptime: 2s}\n");
  REQUIRE(rack.ctl({"start", "--no-wait", eco}).exit_code == 0);
  CHECK(wait_until([&] {
    auto w = rack.app("mute")["workers"];
    return !w.empty() && w[0]["state"] == "errored";
  }, 10s));
  CHECK(rack.app("mute")["workers"][0]["last_exit"].get<std::string>().find("no ready signal") != std::string::npos);
}

TEST_CASE("core: bad configs exit 2 naming file:line and key, and start nothing") {
  Rack rack;
  struct Case {
    const char* what;
    std::string yaml;
    std::string expect;  // a substring of the message
  };
  std::string hello = bin("rack-hello");
  // A port that is certainly in use: our own listening socket.
  int busy = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(busy, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(busy, 1) == 0);
  socklen_t len = sizeof a;
  getsockname(busy, reinterpret_cast<sockaddr*>(&a), &len);
  int busy_port = ntohs(a.sin_port);

  std::vector<Case> cases = {
      {"yaml syntax", "apps:\n  - name: web\n    run: [x\n", ":3:"},
      {"unknown key", "apps:\n  - name: web\n    run: [" + hello + "]\n    instnces: 2\n", "did you mean \"instances\""},
      {"wrong type", "apps:\n  - name: web\n    run: [" + hello + "]\n    instances: lots\n", "apps[0].instances"},
      {"missing run", "apps:\n  - name: web\n    instances: 2\n", "run"},
      {"duplicate", "apps:\n  - name: web\n    run: [" + hello + "]\n  - name: web\n    run: [" + hello + "]\n", "duplicate"},
      {"no executable", "apps:\n  - name: web\n    run: [/nonexistent/bin/app]\n", "apps[0].run"},
      {"port in use", "rack:\n  admin: off\napps:\n  - name: ok\n    run: [" + hello + "]\n    protocol: rack\n    listen: 127.0.0.1:0\n"
                      "  - name: web\n    run: [" + hello + "]\n    protocol: rack\n    listen: 127.0.0.1:" +
                      std::to_string(busy_port) + "\n", ":11:"},
  };
  for (auto& c : cases) {
    CAPTURE(c.what);
    std::string path = rack.write_file("bad.yaml", c.yaml);
    auto r = rack.ctl({"start", path});
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find("bad.yaml:") != std::string::npos, r.err);
    CHECK_MESSAGE(r.err.find(c.expect) != std::string::npos, r.err);
    // Nothing started: no app is known to rackd (if it runs at all).
    CHECK(rack.status().value("apps", nlohmann::json::array()).empty());
  }
  close(busy);
}

TEST_CASE("core: rackd killed with SIGKILL leaves no worker alive") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 3) +
                                                    "  - name: plain\n    run: [/bin/sleep, '1000']\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 3));
  REQUIRE(wait_until([&] { return rack.pids("plain").size() == 1; }, 5s));
  auto pids = rack.pids("web");
  pids.push_back(rack.pids("plain")[0]);
  pid_t rackd = rack.rackd_pid();
  REQUIRE(kill(rackd, SIGKILL) == 0);
  for (pid_t p : pids) CHECK_MESSAGE(wait_until([&] { return !pid_alive(p); }, 3s), "pid " << p << " survived");
}

TEST_CASE("core: rackd --no-daemon runs in the foreground and stops gracefully on SIGTERM") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 2));
  pid_t pid = fork();
  if (pid == 0) {
    setenv("RACK_HOME", rack.home().c_str(), 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1), dup2(devnull, 2);
    execl(bin("rackd").c_str(), "rackd", "--no-daemon", eco.c_str(), nullptr);
    _exit(127);
  }
  REQUIRE(rack.wait_ready("web", 2));
  auto workers = rack.pids("web");
  auto admin = rack.status()["rackd"]["admin"].get<std::string>();
  auto colon = admin.rfind(':');
  auto health = get(admin.substr(0, colon), std::stoi(admin.substr(colon + 1)), "/health");
  CHECK(health.status == 200);
  CHECK(health.body.find("\"web\"") != std::string::npos);
  kill(pid, SIGTERM);
  int st = 0;
  bool exited = wait_until([&] { return waitpid(pid, &st, WNOHANG) == pid; }, 15s);
  REQUIRE(exited);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  for (pid_t w : workers) CHECK(!pid_alive(w));
}

TEST_CASE("core: rackd --no-daemon exits non-zero when an app cannot start") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "apps:\n  - name: web\n    run: [/nonexistent]\n");
  auto r = run({bin("rackd"), "--no-daemon", eco}, {"RACK_HOME=" + rack.home()}, 10s);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("eco.yaml:3") != std::string::npos);
}

TEST_CASE("core: rackd's loop runs SCHED_BATCH, its workers the policy rackd started with, RACK_SCHED_BATCH=0 and a policy set from outside are kept") {
  // rackd inherits our policy: the default one, whatever the runner had.
  sched_param none{};
  REQUIRE(sched_setscheduler(0, SCHED_OTHER, &none) == 0);
  enum class Start { Default, OptOut, Idle };
  for (Start how : {Start::Default, Start::OptOut, Start::Idle}) {
    CAPTURE(static_cast<int>(how));
    Rack rack;
    std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 2));
    std::vector<std::string> argv = {bin("rackd"), "--home", rack.home(), eco};
    // A policy set from outside (here SCHED_IDLE with chrt) is kept, by rackd and its workers.
    if (how == Start::Idle) argv.insert(argv.begin(), {"/usr/bin/chrt", "--idle", "0"});
    auto r = run(argv, {how == Start::OptOut ? "RACK_SCHED_BATCH=0" : "RACK_SCHED_BATCH=1"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    REQUIRE(rack.wait_ready("web", 2));
    pid_t rackd = rack.rackd_pid();
    REQUIRE(rackd > 0);
    int expect = how == Start::Default ? SCHED_BATCH : how == Start::OptOut ? SCHED_OTHER : SCHED_IDLE;
    CHECK(sched_getscheduler(rackd) == expect);
    for (pid_t w : rack.pids("web")) CHECK(sched_getscheduler(w) == (how == Start::Idle ? SCHED_IDLE : SCHED_OTHER));
  }
}

TEST_CASE("core: the control socket is 0600 and refuses peers of another uid") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 1))}).exit_code == 0);
  std::string sock = rack.home() + "/rackd.sock";
  struct stat st {};
  REQUIRE(stat(sock.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  if (getuid() != 0) {
    MESSAGE("not root: cannot test a foreign uid");
    return;
  }
  // Open the file mode up so the connect succeeds, and check that rackd
  // itself refuses the peer by its credentials.
  chmod(sock.c_str(), 0666);
  chmod(rack.home().c_str(), 0755);
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, sock.c_str(), sizeof sun.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) _exit(3);
    const char req[] = "GET /v1/status HTTP/1.1\r\nHost: rack\r\n\r\n";
    (void)!write(fd, req, sizeof req - 1);
    char buf[512] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    (void)!write(p[1], buf, n > 0 ? n : 0);
    _exit(0);
  }
  close(p[1]);
  char buf[512] = {0};
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  int wst = 0;
  waitpid(pid, &wst, 0);
  REQUIRE(WEXITSTATUS(wst) == 0);
  std::string answer(buf, n > 0 ? n : 0);
  CHECK(answer.find("403") != std::string::npos);
  CHECK(answer.find("\"apps\"") == std::string::npos);
  chmod(sock.c_str(), 0600);
  CHECK(rack.ctl({"ping"}).exit_code == 0);
}

TEST_CASE("core: protocol none runs any program, supervised and restarted") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml",
      "rack:\n  admin: off\napps:\n  - name: sleeper\n    run: /bin/sleep 1000\n    instances: 2\n"
      "    restart: {min_uptime: 200ms}\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(wait_until([&] { return rack.pids("sleeper").size() == 2; }, 5s));
  auto before = rack.pids("sleeper");
  kill(before[1], SIGKILL);
  CHECK(wait_until([&] {
    auto now = rack.pids("sleeper");
    return now.size() == 2 && std::find(now.begin(), now.end(), before[1]) == now.end();
  }, 5s));
  CHECK(rack.ctl({"kill"}).exit_code == 0);
  for (pid_t p : rack.pids("sleeper")) CHECK(!pid_alive(p));
  for (pid_t p : before) CHECK(wait_until([&] { return !pid_alive(p); }, 3s));
}

TEST_CASE("core: rackd --version, rackctl --version, ping and status carry the one version CMake sets") {
  const std::string version = RACK_PROJECT_VERSION;  // project(VERSION) in CMakeLists.txt
  Rack rack;
  auto d = run({bin("rackd"), "--version"}, {"RACK_HOME=" + rack.home()}, 10s);
  auto c = run({bin("rackctl"), "--version"}, {"RACK_HOME=" + rack.home()}, 10s);
  CHECK(d.exit_code == 0);
  CHECK(c.exit_code == 0);
  REQUIRE(d.out.rfind("rackd " + version, 0) == 0);
  REQUIRE(c.out.rfind("rackctl " + version, 0) == 0);
  // The same line after the program's name: "0.1.0" or "0.1.0 (<git revision>)".
  // rackd adds the upgrade state versions it reads: " reads state 1".
  std::string line = c.out.substr(8);
  std::string rackd_line = d.out.substr(6);
  CHECK_MESSAGE(rackd_line.rfind(line.substr(0, line.size() - 1) + " reads state ", 0) == 0, d.out);
  CHECK((line == version + "\n" || line.rfind(version + " (", 0) == 0));
  struct stat st{};
  CHECK(::stat((rack.home() + "/rackd.sock").c_str(), &st) != 0);  // --version started nothing

  auto started = rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 1))});
  REQUIRE_MESSAGE(started.exit_code == 0, started.err);
  auto ping = rack::http::Client::unix_socket(rack.home() + "/rackd.sock").request("GET", "/v1/ping", "", {});
  REQUIRE(ping.status == 200);
  CHECK(json::parse(ping.body)["version"] == version);
  CHECK(rack.status()["rackd"]["version"] == version);
}

TEST_CASE("core: RACK_ADMIN places the admin listener an ecosystem leaves unset, and the file's rack.admin wins") {
  // The suite's main sets RACK_ADMIN=127.0.0.1:0 for every rackd it starts.
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "apps:\n" + hello_app("web", 1))}).exit_code == 0);
  auto at = rack.admin();
  CHECK(at.second > 0);
  CHECK(at.second != 9650);
  CHECK(http_get(at, "/health").status == 200);

  // A port already taken: the start fails and names where it came from.
  Rack busy;
  auto r = run({bin("rackctl"), "start", busy.write_file("eco.yaml", "apps:\n" + hello_app("web", 1))},
               {"RACK_HOME=" + busy.home(), "RACK_ADMIN=" + at.first + ":" + std::to_string(at.second)});
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.err.find("RACK_ADMIN") != std::string::npos, r.err);

  Rack off;
  r = run({bin("rackctl"), "start", off.write_file("eco.yaml", "apps:\n" + hello_app("web", 1))},
          {"RACK_HOME=" + off.home(), "RACK_ADMIN=off"});
  CHECK(r.exit_code == 0);
  CHECK(off.admin().second == 0);

  Rack file;
  REQUIRE(file.ctl({"start", file.write_file("eco.yaml", "rack: {admin: off}\napps:\n" + hello_app("web", 1))})
              .exit_code == 0);
  CHECK(file.admin().second == 0);
}
