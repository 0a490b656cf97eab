// The admin listener's probes, as Kubernetes uses them: /health (readiness,
// the apps meant to run), /health/<app>, /health/live (rackd's own loop),
// and SIGTERM: out of rotation first, serving on for rack.shutdown_delay.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

using namespace rack::test;

TEST_CASE("health: a stopped app is reported stopped and does not fail /health, and /health/live ignores the apps") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 2) +
                                                    hello_app("img", 1) +
                                                    "  - name: crash\n    run: [/bin/false]\n"
                                                    "    restart: {min_uptime: 5s, max_restarts: 2, backoff_initial: 10ms}\n");
  REQUIRE(rack.ctl({"start", eco, "--only", "web"}).exit_code == 0);
  REQUIRE(rack.ctl({"start", eco, "--only", "img"}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  REQUIRE(rack.wait_ready("img", 1));
  auto admin = rack.admin();
  CHECK(http_get(admin, "/health").status == 200);

  REQUIRE(rack.ctl({"stop", "img"}).exit_code == 0);
  auto h = http_get(admin, "/health");
  CHECK(h.status == 200);
  json j = json::parse(h.body);
  CHECK(j["checks"]["img"]["status"] == "stopped");
  CHECK(j["checks"]["web"]["status"] == "ok");
  // Stopped on purpose is not failing: 200, and the body says stopped.
  auto img = http_get(admin, "/health/img");
  CHECK(img.status == 200);
  CHECK(json::parse(img.body)["status"] == "stopped");
  CHECK(json::parse(img.body)["condition"] == "stopped");
  CHECK(json::parse(img.body)["ready_workers"] == 0);
  auto web = http_get(admin, "/health/web");
  CHECK(web.status == 200);
  CHECK(json::parse(web.body)["ready_workers"] == 2);
  CHECK(http_get(admin, "/health/nope").status == 404);
  CHECK(http_get(admin, "/health/live").status == 200);
  // The name is taken literally: "web%00" (an embedded NUL) is not "web",
  // and a name no app can have is a 400 saying why, not a 404.
  for (const char* path : {"/health/web%00", "/health/web%00x", "/health/", "/health/w.b"}) {
    auto bad = http_get(admin, path);
    CHECK_MESSAGE(bad.status == 400, path << " -> " << bad.status << " " << bad.body);
    CHECK_MESSAGE(bad.body.find("expected 1 to 64 letters, digits") != std::string::npos, path << " -> " << bad.body);
  }

  // An app meant to run that cannot: /health fails, /health/<app> names
  // it, and liveness stays up (restarting rackd would not help).
  rack.ctl({"start", eco, "--only", "crash"});  // exits 1 once start waits for readiness
  REQUIRE(wait_until([&] { return http_get(admin, "/health").status == 503; }, 10s));
  auto crash = http_get(admin, "/health/crash");
  CHECK(crash.status == 503);
  CHECK(json::parse(crash.body)["status"] == "error");
  CHECK(http_get(admin, "/health/web").status == 200);
  CHECK(http_get(admin, "/health/live").status == 200);
}

TEST_CASE("health: on SIGTERM readiness fails at once, the app serves through shutdown_delay, then rackd drains and exits") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\n  shutdown_delay: 2s\napps:\n" +
                                                    hello_app("web", 2));
  pid_t pid = fork();
  if (pid == 0) {
    setenv("RACK_HOME", rack.home().c_str(), 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1), dup2(devnull, 2);
    execl(bin("rackd").c_str(), "rackd", "--no-daemon", eco.c_str(), nullptr);
    _exit(127);
  }
  REQUIRE(rack.wait_ready("web", 2));
  auto admin = rack.admin();
  auto app = rack.address("web");
  REQUIRE(http_get(admin, "/health").status == 200);

  auto sent = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  REQUIRE(wait_until([&] { return http_get(admin, "/health").status == 503; }, 1s));
  CHECK(json::parse(http_get(admin, "/health").body)["status"] == "shutting down");
  CHECK(http_get(admin, "/health/live").status == 200);
  // Requests keep succeeding while the endpoints controller catches up.
  BothLoads load(app.first, app.second);
  std::this_thread::sleep_for(1200ms);
  CHECK(std::chrono::steady_clock::now() - sent < 2s);  // still inside the delay
  load.finish();
  CHECK(http_get(app, "/").status == 200);

  int st = 0;
  REQUIRE(wait_until([&] { return waitpid(pid, &st, WNOHANG) == pid; }, 20s));
  CHECK(std::chrono::steady_clock::now() - sent >= 2s);  // not before the delay ran out
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("health: a second SIGTERM during shutdown_delay drains at once") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\n  shutdown_delay: 60s\napps:\n" + hello_app("web", 1));
  pid_t pid = fork();
  if (pid == 0) {
    setenv("RACK_HOME", rack.home().c_str(), 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1), dup2(devnull, 2);
    execl(bin("rackd").c_str(), "rackd", "--no-daemon", eco.c_str(), nullptr);
    _exit(127);
  }
  REQUIRE(rack.wait_ready("web", 1));
  kill(pid, SIGTERM);
  std::this_thread::sleep_for(200ms);
  kill(pid, SIGTERM);
  int st = 0;
  REQUIRE(wait_until([&] { return waitpid(pid, &st, WNOHANG) == pid; }, 15s));
  CHECK(WEXITSTATUS(st) == 0);
}
