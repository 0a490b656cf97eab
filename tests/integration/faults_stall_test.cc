// No mass kill after a stall: heartbeat deadlines count only time rackd's
// loop ran, and a worker rackd holds the output of is blocked on logs, not
// stuck. Real rackd, real SIGSTOP, a real full disk (tmpfs).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "harness.h"

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
  std::filesystem::create_directories(mnt);
  if (geteuid() != 0 || mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    MESSAGE("cannot mount a tmpfs here (needs root): the full log disk cannot be made");
    return;
  }
  struct Unmount {
    std::string p;
    ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  {
    std::ofstream filler(mnt + "/filler");  // leaves ~64 KiB free
    std::string block(4096, 'x');
    for (int i = 0; i < (1024 - 16) * 1024 / 4096; ++i) filler << block;
  }
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
