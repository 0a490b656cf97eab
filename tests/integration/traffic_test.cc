// Traffic: least-connections by real load.
#include <doctest/doctest.h>

#include <signal.h>

#include <map>
#include <mutex>
#include <vector>
#include <thread>

#include "harness.h"

using namespace rack::test;

namespace {

// One slow request (a timer in the worker: its loop stays free), then ten
// short ones, sequential and a little apart, as a user clicking: well
// inside one heartbeat, so only the worker's report of the close can tell
// rackd. How many short requests each worker served, by pid.
std::map<int, int> short_requests_beside_a_slow_one(const std::pair<std::string, int>& at) {
  std::thread slow([&] { http_get(at, "/sleep?ms=3000", 10s); });
  std::this_thread::sleep_for(200ms);
  std::map<int, int> by_pid;
  for (int i = 0; i < 10; ++i) {
    auto res = http_get(at, "/whoami");
    CHECK_MESSAGE(res.status == 200, res.error_text);
    if (res.status == 200) by_pid[nlohmann::json::parse(res.body)["pid"].get<int>()]++;
    std::this_thread::sleep_for(20ms);
  }
  slow.join();
  return by_pid;
}

// Two rack-hello workers under least-connections, ready; their address.
std::pair<std::string, int> start_least_connections(Rack& rack) {
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 2, "    dispatch: least-connections\n"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  REQUIRE(rack.wait_ready("web", 2));
  return rack.address("web");
}

}  // namespace

TEST_CASE("traffic: least-connections sends every short request to the idle worker while the other holds a slow one") {
  Rack rack;
  auto by_pid = short_requests_beside_a_slow_one(start_least_connections(rack));
  CHECK_MESSAGE(by_pid.size() == 1, "requests were split over " << by_pid.size() << " workers");
}

// A CPU-heavy request holds one worker's loop: counts alone cannot tell it
// from a short one, so with three clients keeping the other worker at two
// or three connections, short requests would go to the busy worker (1 <
// 2) and wait out its spin. The busy board (rack/busy_board.h) tells
// rackd the worker is inside one handler: every short request goes round.
TEST_CASE("traffic: least-connections sends short requests around a worker busy in a CPU-heavy one") {
  Rack rack;
  auto at = start_least_connections(rack);
  std::thread heavy([&] { http_get(at, "/spin?ms=2000", 10s); });
  std::this_thread::sleep_for(200ms);
  std::mutex mu;
  std::map<int, int> by_pid;
  double slowest_ms = 0;
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c)
    clients.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto res = http_get(at, "/whoami");
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::lock_guard lock(mu);
        CHECK_MESSAGE(res.status == 200, res.error_text);
        if (res.status == 200) by_pid[nlohmann::json::parse(res.body)["pid"].get<int>()]++;
        slowest_ms = std::max(slowest_ms, ms);
      }
    });
  for (auto& t : clients) t.join();
  heavy.join();
  CHECK_MESSAGE(by_pid.size() == 1, "short requests were split over " << by_pid.size() << " workers");
  CHECK_MESSAGE(slowest_ms < 1000, "a short request took " << slowest_ms << " ms: it waited behind the spin");
}

TEST_CASE("traffic: least-connections for node: short requests go to the idle worker while the other holds slow ones") {
  Rack rack;
  // Node workers report the connections they hold through Rack's preload.
  // Counted by totals, as before they did, the idle worker would get only
  // every other short request after its first.
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n  - name: web\n    run: hello.js\n    cwd: " +
                      std::string(RACK_SOURCE_DIR) + "/tests/apps\n    protocol: node\n    listen: 127.0.0.1:0\n"
                      "    instances: 2\n    dispatch: least-connections\n");
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  REQUIRE(rack.wait_ready("web", 2, 20s));
  auto by_pid = short_requests_beside_a_slow_one(rack.address("web"));
  CHECK_MESSAGE(by_pid.size() == 1, "requests were split over " << by_pid.size() << " workers");
  if (by_pid.size() == 1) CHECK(by_pid.begin()->second == 10);
}

// Both workers spin: the one that started first (400 ms) ends first. A
// short request handed at once would go to one of them and wait out its
// spin; the one in its handler the shortest time (the old rule) is the one
// spinning for 3 s. Held in rackd, it goes to the first that comes free.
TEST_CASE("traffic: with every worker busy, least-connections holds a short request for the first to come free") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                                                    hello_app("web", 2, "    dispatch: least-connections\n"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  REQUIRE(rack.wait_ready("web", 2));
  auto at = rack.address("web");
  std::thread first([&] { CHECK(http_get(at, "/spin?ms=400", 10s).status == 200); });
  std::this_thread::sleep_for(100ms);
  std::thread second([&] { CHECK(http_get(at, "/spin?ms=3000", 10s).status == 200); });
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  auto res = http_get(at, "/whoami", 10s);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  CHECK_MESSAGE(res.status == 200, res.error_text);
  CHECK_MESSAGE(ms < 1500, "the short request took " << ms << " ms: it waited behind the 3 s spin");
  first.join();
  second.join();
  auto m = http_get(rack.admin(), "/metrics");
  CHECK(metric_sample(m.body, "rack_connections_held_total{app=\"web\"}").value_or(0) >= 1);
}

// A held connection waits in rackd, on no worker: kill -9 of a worker
// meanwhile loses nothing. Both workers spin 3 s; a short request is held;
// one of them is killed. The request is answered (by the replacement, or
// by a spinner once the hold's 500 ms bound has passed).
TEST_CASE("traffic: kill -9 of a worker while a connection is held for it loses nothing") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                                                    hello_app("web", 2, "    dispatch: least-connections\n"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  REQUIRE(rack.wait_ready("web", 2));
  auto at = rack.address("web");
  auto pids = rack.pids("web");
  REQUIRE(pids.size() == 2);
  std::thread first([&] { http_get(at, "/spin?ms=3000", 10s); });  // may be killed: no check
  std::this_thread::sleep_for(100ms);
  std::thread second([&] { http_get(at, "/spin?ms=3000", 10s); });
  std::this_thread::sleep_for(100ms);
  std::thread short_request([&] {
    auto res = http_get(at, "/whoami", 10s);
    CHECK_MESSAGE(res.status == 200, res.error_text);
  });
  std::this_thread::sleep_for(100ms);
  auto m = http_get(rack.admin(), "/metrics");
  CHECK(metric_sample(m.body, "rack_connections_held_total{app=\"web\"}").value_or(0) >= 1);
  CHECK(::kill(pids[0], SIGKILL) == 0);
  short_request.join();
  first.join();
  second.join();
  CHECK(rack.wait_ready("web", 2));
}
