// Fault semantics: app status from the slots, process trees, availability
// while workers die, stalls. Real rackd, real signals.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>

#include "harness.h"

using namespace rack::test;

TEST_CASE("faults: app status is online, degraded, errored and stopped as the slots are") {
  Rack rack;
  std::string quick = "    restart: {min_uptime: 1s, max_restarts: 2, backoff_initial: 10ms}\n";
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("good", 2) +
                      "  - name: bad\n    run: [" + bin("rack-hello") + ", --exit-at-start]\n    protocol: rack\n" +
                      "    listen: 127.0.0.1:0\n    instances: 2\n" + quick);
  rack.ctl({"start", "--no-wait", eco});
  REQUIRE(rack.wait_ready("good", 2));
  CHECK(wait_until([&] { return rack.app("good")["status"] == "online"; }, 5s));
  // Every slot of `bad` exits at start: more than max_restarts quick exits each.
  CHECK(wait_until([&] { return rack.app("bad")["status"] == "errored"; }, 10s));

  // Slot 1 of `half` exits at start, slot 0 serves.
  std::string half = rack.write_file(
      "half.yaml", "apps:\n  - name: half\n    run: [/bin/sh, -c, 'test \"$RACK_INSTANCE\" = 1 && exit 3; exec " +
                       bin("rack-hello") + "']\n    protocol: rack\n    listen: 127.0.0.1:0\n    instances: 2\n" + quick);
  rack.ctl({"start", "--no-wait", half});
  CHECK(wait_until([&] { return rack.app("half")["status"] == "degraded"; }, 10s));
  CHECK(rack.pids("half").size() == 1);

  CHECK(rack.ctl({"stop", "good"}).exit_code == 0);
  CHECK(rack.app("good")["status"] == "stopped");
  auto table = rack.ctl({"ls"}).out;
  // Each row names its app, then the app's status.
  CHECK(table.find("\nbad   errored ") != std::string::npos);
  CHECK(table.find("\nhalf  degraded ") != std::string::npos);
  CHECK(table.find("\ngood  stopped ") != std::string::npos);
}

TEST_CASE("faults: rackctl start waits, exits 1 naming the slot, the reason and its last stderr lines") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("good", 2) +
                      "  - name: boom\n    run: [/bin/sh, -c, 'echo cannot open database >&2; exit 3']\n"
                      "    protocol: none\n    restart: {backoff_initial: 1s}\n");
  auto r = rack.ctl({"start", eco});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("boom slot 0 failed to start: exit code 3") != std::string::npos, r.err);
  CHECK(r.err.find("cannot open database") != std::string::npos);
  CHECK(r.err.find("good") == std::string::npos);  // the good app is not blamed
  // When every slot becomes ready, start says nothing on stderr and exits 0.
  std::string ok = rack.write_file("ok.yaml", "apps:\n" + hello_app("fine", 2));
  auto r2 = rack.ctl({"start", ok});
  CHECK(r2.exit_code == 0);
  CHECK(rack.pids("fine").size() == 2);  // ready when start returned, not later
}

TEST_CASE("faults: a worker that is never ready counts toward max_restarts and ends errored") {
  Rack rack;
  // ready_timeout (700 ms) is past min_uptime (200 ms): before, each miss
  // counted as a healthy run and the slot restarted forever.
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n  - name: mute\n    run: [" + bin("rack-hello") +
                      ", --never-ready]\n    protocol: rack\n    listen: 127.0.0.1:0\n    ready_timeout: 700ms\n" +
                      "    restart: {max_restarts: 2, backoff_initial: 10ms, min_uptime: 200ms}\n");
  auto r = rack.ctl({"start", eco});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no ready signal") != std::string::npos);
  CHECK(wait_until([&] { return rack.app("mute")["status"] == "errored"; }, 10s));
  CHECK(rack.app("mute")["workers"][0]["restarts"] == 2);
}

TEST_CASE("faults: a worker killed after a healthy run restarts at once, not after a backoff") {
  Rack rack;
  // A backoff this long would leave the slot empty for the whole test.
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" +
                      hello_app("web", 1, "    restart: {min_uptime: 300ms, backoff_initial: 20s, backoff_max: 30s}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(400ms);  // past min_uptime
    auto before = rack.pids("web");
    REQUIRE(before.size() == 1);
    REQUIRE(kill(before[0], SIGKILL) == 0);
    CHECK(wait_until([&] {
      auto now = rack.pids("web");
      return now.size() == 1 && now[0] != before[0];
    }, 10s));
  }
  auto app = rack.app("web");
  CHECK(app["status"] == "online");
  CHECK(app["workers"][0]["restarts"] == 3);
}

TEST_CASE("faults: the only worker of an app killed young restarts at once: one attempt stays in flight") {
  Rack rack;
  // min_uptime is long: every kill is a quick exit, which backs off 20 s,
  // except that no other worker is ready or starting.
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" +
                      hello_app("web", 1, "    restart: {min_uptime: 60s, backoff_initial: 20s, backoff_max: 30s, max_restarts: 5}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  auto before = rack.pids("web");
  REQUIRE(before.size() == 1);
  REQUIRE(kill(before[0], SIGKILL) == 0);
  CHECK(wait_until([&] {
    auto now = rack.pids("web");
    return now.size() == 1 && now[0] != before[0];
  }, 10s));
}

namespace {

// An app whose every slot exits at start and gives up after two quick exits.
std::string errored_app(const std::string& name) {
  return "  - name: " + name + "\n    run: [" + bin("rack-hello") +
         ", --exit-at-start]\n    protocol: rack\n    listen: 127.0.0.1:0\n"
         "    restart: {min_uptime: 1s, max_restarts: 2, backoff_initial: 10ms}\n";
}

}  // namespace

TEST_CASE("faults: rackd --no-daemon stops every app and exits 3 when an app ends errored") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\n  shutdown_delay: 0s\napps:\n" +
                                                    hello_app("good", 1) + errored_app("bad"));
  auto r = run({bin("rackd"), "--no-daemon", "--no-stdout-logs", "--home", rack.home(), eco}, {}, 30s);
  CHECK_MESSAGE(r.exit_code == 3, r.err);
  CHECK(r.err.find("bad: errored") != std::string::npos);
  CHECK(r.err.find("all apps stopped") != std::string::npos);  // gracefully, not by dying
}

TEST_CASE("faults: rackd --no-daemon with rack.exit_on_errored false keeps serving beside an errored app") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\n  shutdown_delay: 0s\n  exit_on_errored: false\n"
                                                "apps:\n" + hello_app("good", 1) + errored_app("bad"));
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(bin("rackd").c_str(), "rackd", "--no-daemon", "--home", rack.home().c_str(), eco.c_str(), nullptr);
    _exit(127);
  }
  REQUIRE(pid > 0);
  CHECK(wait_until([&] { return rack.app("bad")["status"] == "errored"; }, 15s));
  std::this_thread::sleep_for(1s);  // several ticks past it
  int st = 0;
  CHECK(waitpid(pid, &st, WNOHANG) == 0);  // still running
  CHECK(rack.app("good")["status"] == "online");
  rack.ctl({"kill"});
  CHECK(wait_until([&] { return waitpid(pid, &st, WNOHANG) == pid; }, 20s));
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("faults: rackctl describe shows command, cwd, env keys but not values, logs, policy and each slot's last exit") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" +
                      hello_app("web", 2, "    env: {SECRET_TOKEN: hunter2-value, LOG_LEVEL: info}\n"
                                          "    restart: {min_uptime: 300ms, max_restarts: 7}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  std::this_thread::sleep_for(400ms);
  pid_t victim = 0;
  json workers = rack.app("web")["workers"];
  for (auto& w : workers)
    if (w["slot"] == 0) victim = w["pid"].get<pid_t>();
  REQUIRE(victim > 0);
  REQUIRE(kill(victim, SIGKILL) == 0);
  REQUIRE(wait_until([&] { return rack.pids("web").size() == 2 && !pid_alive(victim); }, 10s));

  auto text = rack.ctl({"describe", "web"});
  REQUIRE(text.exit_code == 0);
  const std::string& out = text.out;
  CHECK(out.find(bin("rack-hello")) != std::string::npos);
  CHECK(out.find("SECRET_TOKEN") != std::string::npos);
  CHECK(out.find("LOG_LEVEL") != std::string::npos);
  CHECK(out.find("hunter2-value") == std::string::npos);
  CHECK(out.find(rack.home() + "/logs/web.out.log") != std::string::npos);
  CHECK(out.find(rack.home() + "/logs/web.err.log") != std::string::npos);
  CHECK(out.find("min_uptime 300ms, max_restarts 7") != std::string::npos);
  // A cgroup per worker where rackd can create one, else process groups.
  std::string containment = rack.status()["rackd"]["containment"].get<std::string>();
  REQUIRE((containment == "process-group" || containment == "cgroup"));
  CHECK(out.find(containment) != std::string::npos);
  CHECK_MESSAGE(out.find("last exit: signal SIGKILL (not sent by rackd") != std::string::npos, out);
  CHECK(out.find("last exit: none") != std::string::npos);  // slot 1 never ended

  auto j = json::parse(rack.ctl({"describe", "web", "--json"}).out);
  CHECK(j["cwd"] == rack.home());
  CHECK(j["env_keys"] == json::array({"LOG_LEVEL", "SECRET_TOKEN"}));
  CHECK(j.dump().find("hunter2") == std::string::npos);
  REQUIRE(j["slots"].size() == 2);
  CHECK(j["slots"][0]["last_exit"]["pid"] == victim);
  // No OOM kill happened meanwhile (/proc/vmstat): killed from outside.
  CHECK(j["slots"][0]["last_exit"]["cause"] == "outside_signal");
  CHECK(j["slots"][0]["state"] == "ready");
  CHECK(j["slots"][1]["last_exit"].is_null());
  CHECK(j["containment"] == containment);

  auto missing = rack.ctl({"describe", "nosuch"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("no app named \"nosuch\"") != std::string::npos);
  // rackd said how it contains worker trees when it started.
  std::ifstream log(rack.home() + "/rackd.log");
  std::string all((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(all.find(containment == "cgroup" ? "one cgroup per worker" : "one process group per worker") !=
        std::string::npos);
}

TEST_CASE("faults: a kill -9 from outside and a self-crash differ in status and restart_reasons") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 1, "    restart: {min_uptime: 300ms}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  std::this_thread::sleep_for(400ms);
  auto first = rack.pids("web");
  REQUIRE(first.size() == 1);
  REQUIRE(kill(first[0], SIGKILL) == 0);
  REQUIRE(wait_until([&] { auto p = rack.pids("web"); return p.size() == 1 && p[0] != first[0]; }, 10s));
  auto app = rack.app("web");
  CHECK(app["workers"][0]["last_exit_cause"] == "outside_signal");
  CHECK(app["workers"][0]["last_exit"].get<std::string>().find("killed from outside") != std::string::npos);
  CHECK(app["restart_reasons"] == json{{"killed", 1}});

  std::this_thread::sleep_for(400ms);
  auto second = rack.pids("web");
  http_get(rack.address("web"), "/crash");  // abort(): SIGABRT, its own doing
  REQUIRE(wait_until([&] { auto p = rack.pids("web"); return p.size() == 1 && p[0] != second[0]; }, 10s));
  app = rack.app("web");
  CHECK(app["workers"][0]["last_exit_cause"] == "crash");
  CHECK(app["restart_reasons"] == json{{"crash", 1}, {"killed", 1}});
}

TEST_CASE("faults: a worker killed from outside while it starts restarts at once when no other is ready") {
  Rack rack;
  // Every exit is quick (min_uptime 60 s) and backs off 20 s, except that
  // nothing else of the app is ready or starting, and the app's starts do
  // not fail by themselves: someone killed it.
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n  - name: slow\n    run: [" + bin("rack-hello") +
                      ", --ready-delay, '1500']\n    protocol: rack\n    listen: 127.0.0.1:0\n"
                      "    restart: {min_uptime: 60s, backoff_initial: 20s, backoff_max: 30s}\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  auto serving = rack.pids("slow");
  REQUIRE(serving.size() == 1);
  REQUIRE(kill(serving[0], SIGKILL) == 0);  // it was ready: restarts at once, and starts for 1.5 s
  for (int round = 0; round < 2; ++round) {
    pid_t starting = 0;
    REQUIRE(wait_until([&] {
      auto p = rack.pids("slow", "starting");
      starting = p.empty() ? 0 : p[0];
      return starting > 0;
    }, 10s));
    REQUIRE(kill(starting, SIGKILL) == 0);
    CHECK(wait_until([&] {
      auto p = rack.pids("slow", "starting");
      return p.size() == 1 && p[0] != starting;
    }, 5s));
  }
  CHECK(rack.wait_ready("slow", 1));
  CHECK(rack.app("slow")["restart_reasons"] == json{{"killed", 3}});
}
