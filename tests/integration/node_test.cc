// Issue 8: unmodified Node.js apps (cluster protocol), socket activation
// (protocol: inherit) and sd_notify readiness.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <atomic>

#include <sys/socket.h>
#include <sys/un.h>
#include <cstddef>
#include <cstring>
#include "harness.h"
#include "tools.h"

using namespace rack::test;

namespace {

std::string apps_dir() { return std::string(RACK_SOURCE_DIR) + "/tests/apps"; }

std::string node_app(const std::string& name, const std::string& script, int instances, const std::string& extra = "") {
  return "  - name: " + name + "\n    run: " + script + "\n    cwd: " + apps_dir() +
         "\n    protocol: node\n    listen: 127.0.0.1:0\n    instances: " + std::to_string(instances) + "\n" + extra;
}

std::set<pid_t> as_set(const std::vector<pid_t>& v) { return {v.begin(), v.end()}; }

// Holds the app's worker in a busy-wait of `ms` (GET /block) from a thread
// of its own, and returns once the worker is blocked: it reads nothing, its
// cluster channel included, until then.
std::thread block_worker(const std::pair<std::string, int>& at, int ms) {
  std::thread t([at, ms] { CHECK(http_get(at, "/block?ms=" + std::to_string(ms), 10s).status == 200); });
  std::this_thread::sleep_for(400ms);
  return t;
}

// `n` clients at once, each a GET / on a fresh connection.
struct Clients {
  Clients(const std::pair<std::string, int>& at, int n, std::chrono::milliseconds timeout) {
    for (int i = 0; i < n; ++i) threads.emplace_back([this, at, timeout] { ok += http_get(at, "/", timeout).status == 200; });
  }
  int join() {  // how many got a 200
    for (auto& t : threads) t.join();
    return ok;
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
};

}  // namespace

TEST_CASE("node: an unmodified http app gets round-robin, zero-failure reloads and crash restarts") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + node_app("web", "hello.js", 2))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2, 20s));
  auto [host, port] = rack.address("web");

  // Round-robin: 100 new connections split evenly.
  std::map<int, int> served;
  for (int i = 0; i < 100; ++i) {
    auto c = rack::http::Client::tcp(host, port);
    auto r = c.request("GET", "/whoami", "", {{"Connection", "close"}});
    REQUIRE_MESSAGE(r.status == 200, r.error_text);
    served[nlohmann::json::parse(r.body)["slot"].get<int>()]++;
  }
  CHECK(served.size() == 2);
  for (auto& [slot, n] : served) CHECK(std::abs(n - 50) <= 1);

  // Reload under load (keep-alive and close): nothing fails.
  auto old = as_set(rack.pids("web"));
  {
    BothLoads load(host, port);
    for (int i = 0; i < 2; ++i) {
      auto r = rack.ctl({"reload", "web"});
      CHECK_MESSAGE(r.exit_code == 0, r.err);
    }
    load.finish();
    // No kept-alive connection was closed under a client without a
    // `Connection: close` first (Rack's preload keeps node from destroying
    // them on disconnect), so even a client that never retries sees no error.
    CHECK(load.ka.silent_closes() == 0);
  }
  for (pid_t p : rack.pids("web")) CHECK(old.count(p) == 0);

  // Crash: restarted, and the app's stdout reached the log file.
  pid_t victim = rack.pids("web")[0];
  {
    auto c = rack::http::Client::tcp(host, port);
    for (int i = 0; i < 2; ++i) c.request("GET", "/crash", "", {{"Connection", "close"}}), c.close();
  }
  CHECK(wait_until([&] {
    auto p = rack.pids("web");
    return p.size() == 2 && std::find(p.begin(), p.end(), victim) == p.end();
  }, 10s));
  auto logs = rack.ctl({"logs", "web", "-n", "200"});
  CHECK(logs.out.find("listening pid") != std::string::npos);
}

TEST_CASE("node: connections queued while every worker is full go out as soon as one answers") {
  // rackd hands a node worker at most 2 connections it has not answered
  // for; the rest wait in the app's queue. A worker whose event loop is
  // blocked answers none, so 100 clients fill it and the queue; once it
  // answers, the queue must drain then, not when queue_timeout (10 s)
  // expires the waiting connections.
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + node_app("web", "hello.js", 1))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1, 20s));
  auto at = rack.address("web");
  std::thread blocker = block_worker(at, 1500);
  Clients clients(at, 100, 6s);
  CHECK(wait_until([&] { return rack.app("web")["queue"].get<int>() > 0; }, 3s));  // some had to wait
  CHECK(clients.join() == 100);
  blocker.join();
  CHECK(rack.app("web")["queue"] == 0);
}

TEST_CASE("node: a queued connection expires after queue_timeout even while the worker stays blocked") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" +
                                                           node_app("web", "hello.js", 1, "    queue: {timeout: 1s}\n"))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1, 20s));
  auto at = rack.address("web");
  auto start = std::chrono::steady_clock::now();
  std::thread blocker = block_worker(at, 5000);
  Clients clients(at, 100, 10s);
  CHECK(wait_until([&] { return rack.app("web")["queue"].get<int>() > 0; }, 3s));
  // Every queued connection, the oldest included, is closed after 1 s
  // (+ the 250 ms tick), long before the worker is back at 5 s.
  CHECK(wait_until([&] { return rack.app("web")["queue"].get<int>() == 0; }, 3s));
  CHECK(std::chrono::steady_clock::now() - start < 4500ms);
  clients.join();
  blocker.join();
}

TEST_CASE("node: rackd out of file descriptors backs off, then serves everyone") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + node_app("web", "hello.js", 1))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1, 20s));
  auto at = rack.address("web");
  // Room for 24 more descriptors: the connections a blocked worker cannot
  // take pile up in rackd's queue until accept4 fails with EMFILE.
  pid_t rackd = rack.rackd_pid();
  std::size_t open_fds = fd_count(rackd);
  rlimit old{}, tight{};
  REQUIRE(::prlimit(rackd, RLIMIT_NOFILE, nullptr, &old) == 0);
  tight.rlim_cur = tight.rlim_max = static_cast<rlim_t>(open_fds + 24);
  REQUIRE(::prlimit(rackd, RLIMIT_NOFILE, &tight, nullptr) == 0);

  std::thread blocker = block_worker(at, 1500);
  CHECK(Clients(at, 150, 15s).join() == 150);  // the kernel backlog held the rest meanwhile
  blocker.join();
  std::ifstream log(rack.home() + "/rackd.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  // rackd stops accepting while a few descriptors are still free (the fd
  // reserve, dispatch/fd_reserve.h), or at EMFILE if it gets there first.
  CHECK((text.find("accept() failed: Too many open files") != std::string::npos ||
         text.find("not accepting for 100 ms") != std::string::npos));
  ::prlimit(rackd, RLIMIT_NOFILE, &old, nullptr);
  CHECK(http_get(at, "/").status == 200);
}

TEST_CASE("node: a worker whose app closed its server gets no more connections") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                                                           node_app("web", "hello.js", 2))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2, 20s));
  auto at = rack.address("web");
  auto admin = rack.admin();
  auto requeued = [&] {
    auto m = http_get(admin, "/metrics");
    return metric_sample(m.body, R"(rack_connections_requeued_total{app="web"})").value_or(-1);
  };
  auto closed = http_get(at, "/close-server");
  REQUIRE(closed.status == 200);
  std::this_thread::sleep_for(300ms);  // node's {act: close} reaches rackd
  double before = requeued();
  std::set<int> slots;
  for (int i = 0; i < 20; ++i) {
    auto r = http_get(at, "/whoami");
    REQUIRE(r.status == 200);
    slots.insert(nlohmann::json::parse(r.body)["slot"].get<int>());
  }
  CHECK(slots.size() == 1);  // the other worker serves all of them
  // ... handed to it directly, not first to the closed one that refuses
  // them (node answers accepted: false) and then on.
  CHECK(requeued() == before);
}

TEST_CASE("node: listen on another port is mapped to the app's socket, wait_ready waits for process.send('ready')") {
  Rack rack;
  // The app binds a UDP socket before its server, and opens a second server
  // on another port after it: both are refused (ENOTSUP) and the first HTTP
  // server still gets the app's socket. It says ready 6 s after listening (--no-wait: start returns before that).
  REQUIRE(rack.ctl({"start", "--no-wait", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" +
                                                           node_app("web", "hello.js", 1,
                                                                    "    wait_ready: true\n    ready_timeout: 30s\n    env: {PORT: '3999', "
                                                                    "WAIT_READY: '6000', DGRAM: '1', SECOND_PORT: '3998'}\n"))})
              .exit_code == 0);
  auto logs_have = [&](const std::string& what) {
    return rack.ctl({"logs", "web", "-n", "50"}).out.find(what) != std::string::npos;
  };
  // Listening is not ready with wait_ready: it stays starting until the message.
  REQUIRE(wait_until([&] { return logs_have("listening pid"); }, 20s));
  CHECK(rack.app("web")["workers"][0]["state"] == "starting");
  REQUIRE(rack.wait_ready("web", 1, 20s));
  auto [host, port] = rack.address("web");
  auto c = rack::http::Client::tcp(host, port);
  auto r = c.request("GET", "/", "", {});
  CHECK(r.status == 200);
  CHECK(r.body == "hello\n");  // the first server's answer
  CHECK(wait_until([&] { return logs_have("dgram: ENOTSUP") && logs_have("second server: ENOTSUP"); }, 5s));
  CHECK_FALSE(logs_have("second server: listening"));
  CHECK_FALSE(logs_have("dgram: listening"));
}

TEST_CASE("node: an express app from npm is balanced and its prom-client metrics survive a crash") {
  if (!std::filesystem::exists(apps_dir() + "/node_modules/express")) {
    FAIL("tests/apps/node_modules is missing: run `npm install` in tests/apps (scripts/test does)");
  }
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                                                           node_app("api", "express_app.js", 2) + node_app("plain", "hello.js", 1) +
                                                           node_app("agg", "express_app.js", 1,
                                                                    "    env: {AGGREGATOR: '1'}\n"))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("api", 2, 20s));
  auto [host, port] = rack.address("api");
  std::map<int, int> served;
  for (int i = 0; i < 40; ++i) {
    auto c = rack::http::Client::tcp(host, port);
    auto r = c.request("GET", "/", "", {{"Connection", "close"}});
    REQUIRE(r.status == 200);
    served[nlohmann::json::parse(r.body)["slot"].get<int>()]++;
  }
  CHECK(served.size() == 2);
  for (auto& [slot, n] : served) CHECK(n == 20);


  // prom-client's counters, merged across the workers on rackd's /metrics
  // (rackd asks with prom-client's own cluster request).
  auto admin = rack.admin();
  const std::string hits = R"(express_hits_total{app="api",route="/"})";
  auto merged = [&]() -> double {
    auto r = http_get(admin, "/metrics");
    return r.status == 200 ? metric_sample(r.body, hits).value_or(-1) : -1;
  };
  REQUIRE_MESSAGE(wait_until([&] { return merged() == 40; }, 10s), "merged " << merged());
  auto text = http_get(admin, "/metrics").body;
  CHECK(metric_sample(text, R"(rack_metrics_stale_workers{app="api"})") == 0.0);
  // The app without prom-client is answered by Rack's preload: never stale.
  CHECK(metric_sample(text, R"(rack_metrics_stale_workers{app="plain"})") == 0.0);
  // An app that constructs an AggregatorRegistry (written for node's cluster
  // module) is answered by prom-client itself, once.
  REQUIRE(rack.wait_ready("agg", 1, 20s));
  auto agg = rack.address("agg");
  for (int i = 0; i < 3; ++i) REQUIRE(http_get(agg, "/").status == 200);
  CHECK(wait_until([&] {
    return metric_sample(http_get(admin, "/metrics").body, R"(express_hits_total{app="agg",route="/"})") == 3.0;
  }, 10s));

  // A crash: the merged counter keeps what the crashed worker last reported,
  // and goes on counting with its replacement.
  pid_t victim = rack.pids("api")[0];
  http_get({host, port}, "/crash");
  REQUIRE(wait_until([&] {
    auto p = rack.pids("api");
    return p.size() == 2 && std::find(p.begin(), p.end(), victim) == p.end();
  }, 10s));
  CHECK(merged() >= 40);
  for (int i = 0; i < 10; ++i) REQUIRE(http_get({host, port}, "/").status == 200);
  CHECK_MESSAGE(wait_until([&] { return merged() == 50; }, 10s), "merged " << merged());

  // Reload under load, keep-alive and close (on a path that counts no
  // hits): nothing fails, the merged counter does not go back, and the
  // app's own output is in its log.
  auto old = as_set(rack.pids("api"));
  {
    BothLoads load(host, port, 4, "/missing");
    auto r = rack.ctl({"reload", "api"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    load.finish(/*any_status=*/true);  // express's 404s: answered, none failed
    CHECK(load.ka.ok() + load.close.ok() == 0);
  }
  for (pid_t p : rack.pids("api")) CHECK(old.count(p) == 0);
  CHECK(merged() == 50);
  for (int i = 0; i < 5; ++i) REQUIRE(http_get({host, port}, "/").status == 200);
  CHECK_MESSAGE(wait_until([&] { return merged() == 55; }, 10s), "merged " << merged());
  CHECK(rack.ctl({"logs", "api", "-n", "50"}).out.find("express listening pid") != std::string::npos);
}

TEST_CASE("node: socket activation (inherit) for node and python apps, reloaded under load") {
  Rack rack;
  std::string eco = "rack:\n  admin: off\napps:\n"
                    "  - name: js\n    run: [node, inherit.js]\n    cwd: " + apps_dir() +
                    "\n    protocol: inherit\n    listen: 127.0.0.1:0\n    instances: 2\n    restart: {min_uptime: 300ms}\n"
                    "  - name: py\n    run: [python3, inherit.py]\n    cwd: " + apps_dir() +
                    "\n    protocol: inherit\n    listen: 127.0.0.1:0\n    instances: 2\n    ready: {http: /}\n";
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  for (auto name : {"js", "py"}) {
    CAPTURE(name);
    REQUIRE(rack.wait_ready(name, 2, 20s));
    auto [host, port] = rack.address(name);
    auto old = as_set(rack.pids(name));
    Load load(host, port, Load::Mode::Close, 4);
    for (int i = 0; i < 2; ++i) {
      auto r = rack.ctl({"reload", name});
      CHECK_MESSAGE(r.exit_code == 0, r.err);
    }
    std::this_thread::sleep_for(300ms);
    load.stop();
    CHECK_MESSAGE(load.failed() == 0, load.first_error());
    CHECK(load.non2xx() == 0);
    CHECK(load.ok() > 0);
    for (pid_t p : rack.pids(name)) CHECK(old.count(p) == 0);
  }
}

TEST_CASE("node: an sd_notify app becomes ready only when it says READY=1") {
  Rack rack;
  std::string trigger = rack.home() + "/say-ready";
  std::string eco = "rack:\n  admin: off\napps:\n  - name: svc\n    run: [python3, notify.py, " + trigger +
                    "]\n    cwd: " + apps_dir() + "\n    ready: notify\n    ready_timeout: 30s\n"
                    "    restart: {min_uptime: 200ms}\n";
  REQUIRE(rack.ctl({"start", "--no-wait", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  // Alive for far longer than min_uptime, and still not ready: alive is not ready.
  std::this_thread::sleep_for(500ms);
  auto w = rack.app("svc")["workers"];
  REQUIRE(w.size() == 1);
  CHECK(w[0]["state"] == "starting");
  // READY=1 from a process that is not the worker (this test) is not believed.
  {
    std::ifstream environ("/proc/" + std::to_string(w[0]["pid"].get<int>()) + "/environ");
    std::string var, addr;
    while (std::getline(environ, var, '\0'))
      if (var.rfind("NOTIFY_SOCKET=", 0) == 0) addr = var.substr(14);
    REQUIRE(addr.size() > 1);
    REQUIRE(addr[0] == '@');
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path + 1, addr.data() + 1, addr.size() - 1);
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    const char msg[] = "READY=1\n";
    ssize_t sent = ::sendto(fd, msg, sizeof msg - 1, 0, reinterpret_cast<sockaddr*>(&sun),
                            static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + addr.size()));
    ::close(fd);
    CHECK(sent == static_cast<ssize_t>(sizeof msg - 1));
    std::this_thread::sleep_for(300ms);
    CHECK(rack.app("svc")["workers"][0]["state"] == "starting");
  }
  std::ofstream(trigger) << "now";
  CHECK(rack.wait_ready("svc", 1, 10s));
  CHECK(rack.ctl({"logs", "svc"}).out.find("sent READY=1") != std::string::npos);
}

TEST_CASE("node: with no listen, rackd binds the port the app's server asks for, and it reloads with 0 failures") {
  Rack rack;
  int port = free_port();
  // No listen: key. hello.js calls server.listen(process.env.PORT); every
  // worker asks for the same port and shares the one listener, as under
  // node's own cluster primary. A second server on another port is refused.
  std::string eco = "rack:\n  admin: 127.0.0.1:0\napps:\n  - name: web\n    run: hello.js\n    cwd: " + apps_dir() +
                    "\n    protocol: node\n    instances: 2\n    env: {PORT: " + std::to_string(port) +
                    ", SECOND_PORT: " + std::to_string(free_port()) + "}\n";
  auto r = rack.ctl({"start", rack.write_file("eco.yaml", eco)});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  REQUIRE(rack.wait_ready("web", 2, 20s));
  CHECK(rack.app("web")["listen"] == "0.0.0.0:" + std::to_string(port));
  std::pair<std::string, int> at{"127.0.0.1", port};

  std::set<int> slots;
  for (int i = 0; i < 10; ++i) {
    auto res = http_get(at, "/whoami");
    REQUIRE_MESSAGE(res.status == 200, res.error_text);
    slots.insert(nlohmann::json::parse(res.body)["slot"].get<int>());
  }
  CHECK(slots.size() == 2);  // dispatched by rackd over both workers
  CHECK(http_get(rack.admin(), "/health/web").status == 200);
  CHECK(wait_until([&] {
    return rack.ctl({"logs", "web", "-n", "50"}).out.find("second server: ENOTSUP") != std::string::npos;
  }, 5s));

  auto old = as_set(rack.pids("web"));
  {
    BothLoads load("127.0.0.1", port);
    for (int i = 0; i < 2; ++i) {
      auto rr = rack.ctl({"reload", "web"});
      CHECK_MESSAGE(rr.exit_code == 0, rr.err);
    }
    load.finish();
  }
  for (pid_t p : rack.pids("web")) CHECK(old.count(p) == 0);
  CHECK(rack.app("web")["listen"] == "0.0.0.0:" + std::to_string(port));

  // Stopped, the port is free; started again, the first worker binds it again.
  REQUIRE(rack.ctl({"stop", "web"}).exit_code == 0);
  CHECK(http_get(at, "/", 1s).status != 200);
  REQUIRE(rack.ctl({"restart", "web"}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2, 20s));
  CHECK(http_get(at, "/").status == 200);
}

TEST_CASE("node: rackctl loglevel reaches node workers through the preload, and is refused for inherit and none") {
  Rack rack;
  std::string eco = "rack:\n  admin: off\napps:\n" + node_app("web", "hello.js", 2) +
                    "  - name: bg\n    run: [sleep, '60']\n"
                    "  - name: py\n    run: [python3, inherit.py]\n    cwd: " + apps_dir() +
                    "\n    protocol: inherit\n    listen: 127.0.0.1:0\n    ready: {http: /}\n";
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2, 20s));
  auto r = rack.ctl({"loglevel", "web", "debug"});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  // Both workers got the event, with process.env.LOG_LEVEL already set.
  CHECK(wait_until([&] {
    std::string out = rack.ctl({"logs", "web", "-n", "100"}).out;
    std::size_t first = out.find("loglevel debug LOG_LEVEL=debug");
    return first != std::string::npos && out.find("loglevel debug LOG_LEVEL=debug", first + 1) != std::string::npos;
  }, 5s));

  REQUIRE(rack.wait_ready("py", 1, 20s));
  for (auto [name, protocol] : {std::pair{"bg", "none"}, std::pair{"py", "inherit"}}) {
    r = rack.ctl({"loglevel", name, "debug"});
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.err.find(std::string(name) + " is protocol " + protocol + ": rackd has no channel to its workers") !=
                      std::string::npos,
                  r.err);
  }
}
