// No mass kill after a stall: heartbeat deadlines count only time rackd's
// loop ran, and a worker rackd holds the output of is blocked on logs, not
// stuck. Real rackd, real SIGSTOP, a real full disk (tmpfs).
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "harness.h"
#include "tools.h"

using namespace rack::test;

TEST_CASE("faults: after rackd was stopped for 12 s, SIGCONT kills no healthy worker") {
  Rack rack;
  // The default heartbeat_timeout (10 s) is shorter than the stop.
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 4));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  auto before = rack.pids("web");
  REQUIRE(before.size() == 4);
  auto [host, port] = rack.address("web");
  Load load(host, port, Load::Mode::KeepAlive, 4);
  std::this_thread::sleep_for(500ms);
  pid_t rackd = rack.rackd_pid();
  REQUIRE(kill(rackd, SIGSTOP) == 0);
  std::this_thread::sleep_for(12s);
  REQUIRE(kill(rackd, SIGCONT) == 0);
  // Well past what a judgement right after SIGCONT would have needed.
  std::this_thread::sleep_for(3s);
  load.stop();
  auto after = rack.pids("web");
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  CHECK(after == before);
  auto app = rack.app("web");
  CHECK_MESSAGE(app["restart_reasons"].empty(), app.dump());
  CHECK(app["status"] == "online");
  CHECK(load.ok() > 0);
  std::ifstream log(rack.home() + "/rackd.log");
  std::string all((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(all.find("heartbeat deadlines start over") != std::string::npos);
  CHECK(all.find("heartbeat timeout") == std::string::npos);
}

TEST_CASE("faults: a worker blocked writing logs rackd holds is blocked on logs in status and metrics, not stuck") {
  Rack rack;
  std::string mnt = rack.home() + "/small";
  auto disk = SmallDisk::mount(mnt);
  if (!disk) {
    MESSAGE("cannot mount a tmpfs here (needs root): the full log disk cannot be made");
    return;
  }
  disk->fill_leaving(16);  // leaves ~64 KiB free
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                      hello_app("chatty", 1, "    heartbeat_timeout: 1s\n    logs: {dir: " + mnt +
                                                 ", max_size: 100M, compress: false, time: false, buffer: 64K}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  auto before = rack.pids("chatty");
  REQUIRE(before.size() == 1);
  // 3000 lines of 85 bytes: more than the free space, the log's buffer and
  // the pipe hold together, so the worker's loop blocks in write().
  std::atomic<int> printed{0};
  std::thread client([&, at = rack.address("chatty")] {
    printed = http_get(at, "/print?lines=3000", 60s).status;
  });
  auto blocked = [&] {
    auto w = rack.app("chatty")["workers"];
    return w.size() == 1 && w[0].value("blocked_on_logs", false);
  };
  CHECK(wait_until(blocked, 20s));
  std::this_thread::sleep_for(3s);  // three heartbeat_timeouts
  CHECK(rack.pids("chatty") == before);
  auto app = rack.app("chatty");
  CHECK_MESSAGE(app["restart_reasons"].empty(), app.dump());
  CHECK(blocked());
  CHECK(rack.ctl({"ls"}).out.find("chatty slot 0: blocked on logs") != std::string::npos);
  auto metrics = http_get(rack.admin(), "/metrics").body;
  CHECK(metric_sample(metrics, R"(rack_workers_blocked_on_logs{app="chatty"})") == 1);

  std::filesystem::remove(mnt + "/filler");  // space returns: the worker writes on
  client.join();
  CHECK(printed == 200);
  CHECK(wait_until([&] { return !blocked(); }, 10s));
  std::this_thread::sleep_for(1500ms);  // a heartbeat_timeout after it unblocked
  CHECK(rack.pids("chatty") == before);
  CHECK(rack.app("chatty")["restart_reasons"].empty());
  metrics = http_get(rack.admin(), "/metrics").body;
  CHECK(metric_sample(metrics, R"(rack_workers_blocked_on_logs{app="chatty"})") == 0);
}

namespace {

std::string node_app(const std::string& name, int instances, const std::string& extra) {
  return "  - name: " + name + "\n    run: hello.js\n    cwd: " + std::string(RACK_SOURCE_DIR) +
         "/tests/apps\n    protocol: node\n    listen: 127.0.0.1:0\n    instances: " + std::to_string(instances) + "\n" +
         extra;
}

std::string rackd_log(Rack& rack) {
  std::ifstream log(rack.home() + "/rackd.log");
  return std::string((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("faults: a node worker whose event loop is stuck past heartbeat_timeout is replaced, reason heartbeat") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" +
                                                    node_app("web", 1, "    heartbeat_timeout: 1s\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1, 20s));
  auto at = rack.address("web");
  pid_t stuck = rack.pids("web")[0];
  // Busy-waits 8 s: the loop reads nothing, the cluster channel included.
  // The request dies with the worker; what it answers does not matter.
  std::thread client([at] { http_get(at, "/block?ms=8000", 10s); });
  auto t0 = std::chrono::steady_clock::now();
  bool replaced = wait_until([&] {
    auto p = rack.pids("web");
    return p.size() == 1 && p[0] != stuck;
  }, 7s);
  auto took = std::chrono::steady_clock::now() - t0;
  client.join();
  REQUIRE_MESSAGE(replaced, rack.app("web").dump());
  // heartbeat_timeout, a tick, kill_timeout's SIGABRT step, a new start.
  CHECK(took < 4s);
  CHECK_FALSE(pid_alive(stuck));
  auto app = rack.app("web");
  CHECK_MESSAGE(app["restart_reasons"].value("heartbeat", 0) == 1, app.dump());
  CHECK(app["workers"][0].value("last_exit_cause", "") == "heartbeat");
  CHECK(rackd_log(rack).find("heartbeat timeout: no answer for 1000 ms") != std::string::npos);
  CHECK(http_get(at, "/").status == 200);
}

TEST_CASE("faults: healthy node workers under load answer every heartbeat, and the app never sees a ping") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" +
                                                    node_app("web", 2, "    heartbeat_timeout: 1s\n    env: {LOG_MESSAGES: '1'}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2, 20s));
  auto before = rack.pids("web");
  auto [host, port] = rack.address("web");
  {
    Load load(host, port, Load::Mode::KeepAlive, 4);
    Load fresh(host, port, Load::Mode::Close, 2);
    std::this_thread::sleep_for(5s);  // five heartbeat_timeouts
    load.stop();
    fresh.stop();
    CHECK(load.ok() > 100);
    CHECK(load.failed() == 0);
    CHECK(fresh.failed() == 0);
  }
  auto after = rack.pids("web");
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  CHECK(after == before);
  auto app = rack.app("web");
  CHECK_MESSAGE(app["restart_reasons"].empty(), app.dump());
  CHECK(rackd_log(rack).find("heartbeat timeout") == std::string::npos);
  // The app logs every message its process.on('message') gets: prom-client's
  // metrics requests are for it, the pings are not.
  std::ifstream out(rack.home() + "/logs/web.out.log");
  std::string logs((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  CHECK(logs.find("listening pid") != std::string::npos);
  CHECK_MESSAGE(logs.find("RACK_PING") == std::string::npos, logs.substr(0, 2000));
  CHECK(logs.find("RACK_PONG") == std::string::npos);
}

namespace {

// The pid of a child of rackd running `comm`, other than `other`.
pid_t child_named(pid_t parent, const std::string& comm, pid_t other) {
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 >= line.size()) continue;
    pid_t ppid = std::atoi(line.c_str() + line.find(' ', close + 2) + 1);
    pid_t pid = std::stoi(name);
    if (ppid == parent && pid != other && line.substr(open + 1, close - open - 1) == comm) return pid;
  }
  return -1;
}

}  // namespace

TEST_CASE("faults: a worker starting while rackd was stopped is not failed for ready_timeout on SIGCONT") {
  Rack rack;
  // Ready after 5 s of its own, within the 3 s ready_timeout plus the 4 s
  // rackd spends stopped: rackd's loop ran for less than 3 s of that.
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("base", 1) +
                      hello_app("slow", 1, "    ready_timeout: 3s\n    env: {HELLO_READY_DELAY_MS: '5000'}\n"));
  REQUIRE(rack.ctl({"start", eco, "--only", "base"}).exit_code == 0);  // rackd runs
  pid_t rackd = rack.rackd_pid(), base = rack.pids("base").at(0);
  std::thread start([&] { rack.ctl({"start", "--no-wait", eco, "--only", "slow"}); });
  pid_t worker = -1;
  bool spawned = wait_until([&] { return (worker = child_named(rackd, "rack-hello", base)) > 0; }, 10s, 5ms);
  if (spawned) REQUIRE(kill(rackd, SIGSTOP) == 0);
  std::this_thread::sleep_for(4s);
  REQUIRE(kill(rackd, SIGCONT) == 0);
  start.join();
  REQUIRE(spawned);
  CHECK(wait_until([&] { return rack.pids("slow").size() == 1; }, 5s));
  CHECK(rack.pids("slow") == std::vector<pid_t>{worker});
  auto app = rack.app("slow");
  CHECK_MESSAGE(app["restart_reasons"].empty(), app.dump());
  CHECK(app["status"] == "online");
  std::string log = rackd_log(rack);
  CHECK(log.find("failed to start") == std::string::npos);
  CHECK_MESSAGE(log.find("did not run for") != std::string::npos, log);
}
