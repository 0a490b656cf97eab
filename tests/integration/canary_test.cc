// Canary reloads: the first slot gets the new build, is watched, and is
// rolled back when it does worse than the old workers.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <thread>

#include "harness.h"

using namespace rack::test;

namespace {

// A copy: a range-for over rack.app(app)["workers"] would outlive the temporary.
json workers(Rack& rack, const std::string& app) { return rack.app(app).value("workers", json::array()); }

// slot → pid of the ready workers.
std::map<int, int> pids_by_slot(Rack& rack, const std::string& app) {
  std::map<int, int> out;
  for (auto& w : workers(rack, app))
    if (w["state"] == "ready") out[w["slot"].get<int>()] = w["pid"].get<int>();
  return out;
}

std::string web(const std::string& run_extra, const std::string& keys) {
  return "rack:\n  admin: off\napps:\n  - name: web\n    run: [" + bin("rack-hello") + run_extra +
         "]\n    protocol: rack\n    listen: 127.0.0.1:0\n    instances: 4\n" + keys;
}

// The same shape with a node app and prom-client (tests/apps/prom_errors.js).
std::string node_web(const std::string& error_rate, const std::string& keys) {
  return "rack:\n  admin: off\napps:\n  - name: web\n    run: prom_errors.js\n    cwd: " + std::string(RACK_SOURCE_DIR) +
         "/tests/apps\n    protocol: node\n    listen: 127.0.0.1:0\n    instances: 4\n    env: {ERROR_RATE: '" +
         error_rate + "'}\n" + keys;
}

}  // namespace

// Starts `good` (4 slots, a 1-slot canary watched 3 s), reloads to `bad`
// (the same app answering 500 to half its requests) under load and checks
// what a user sees: the reload fails and rolls back, clients saw at most
// the canary's share in 5xx, the other slots kept their pids, and the app
// answers 200 only afterwards. The reload's answer, for more checks.
namespace {

RunResult check_bad_build_rolled_back(Rack& rack, const std::string& good, const std::string& bad,
                                      std::chrono::seconds ready_within) {
  std::string eco = rack.write_file("eco.yaml", good);
  auto started = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(started.exit_code == 0, started.err);
  REQUIRE(rack.wait_ready("web", 4, ready_within));
  auto before = pids_by_slot(rack, "web");
  REQUIRE(before.size() == 4);
  auto [host, port] = rack.address("web");

  eco = rack.write_file("eco.yaml", bad);
  Load load(host, port, Load::Mode::Close, 4);
  std::this_thread::sleep_for(200ms);
  uint64_t ok0 = load.ok(), bad0 = load.non2xx();
  auto r = rack.ctl({"reload", eco});
  uint64_t ok = load.ok() - ok0, errors = load.non2xx() - bad0;
  load.stop();

  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("canary failed: 5xx ratio") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("rolled back to generation 1") != std::string::npos, r.err);
  CHECK_MESSAGE(load.failed() == 0, load.first_error());
  // The canary had 1 slot of 4 during the watch: clients saw at most its
  // share in 5xx (half of it, in fact), and some, so it really served.
  MESSAGE("during the reload: " << ok << " 2xx, " << errors << " 5xx");
  CHECK(errors > 0);
  CHECK(static_cast<double>(errors) <= 0.25 * static_cast<double>(ok + errors));

  // The other slots kept their old pids throughout; the canary slot runs
  // the old build again, and it answers 200 only.
  auto after = pids_by_slot(rack, "web");
  REQUIRE(after.size() == 4);
  for (int slot = 1; slot < 4; ++slot) CHECK(after[slot] == before[slot]);
  CHECK(after[0] != before[0]);
  // The canary worker may still be draining when reload returns: it
  // leaves the list once it has exited.
  CHECK(wait_until([&] {
    for (auto& w : workers(rack, "web"))
      if (w["generation"] != 1) return false;
    return true;
  }, 5s));
  for (int i = 0; i < 40; ++i) CHECK(http_get({host, port}, "/").status == 200);
  return r;
}

}  // namespace

TEST_CASE("canary: a build answering 500 to half its requests is rolled back, the old workers serve throughout") {
  Rack rack;
  const std::string canary = "    reload: {canary: {slots: 1, watch: 3s}}\n";
  // The same app, now a build that answers 500 to half of its requests.
  auto r = check_bad_build_rolled_back(rack, web("", canary), web(", --error-rate, 0.5", canary), 15s);
  CHECK_MESSAGE(r.out.find("watching for 3s") != std::string::npos, r.out);
}

TEST_CASE("canary: a good build passes the watch and the reload goes on slot by slot") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", web("", ""));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 4));
  auto [host, port] = rack.address("web");
  Load load(host, port, Load::Mode::Close, 4);
  auto r = rack.ctl({"reload", "web", "--canary", "--watch", "2s"});
  load.stop();
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK_MESSAGE(r.out.find("canary passed") != std::string::npos, r.out);
  CHECK_MESSAGE(r.out.find("reload web: 4/4 replaced") != std::string::npos, r.out);
  CHECK_MESSAGE(load.failed() == 0, load.first_error());
  CHECK(load.non2xx() == 0);
  // The last old worker may still be draining when reload returns.
  CHECK(wait_until([&] {
    auto now = workers(rack, "web");
    return now.size() == 4 && std::all_of(now.begin(), now.end(), [](const json& w) { return w["generation"] == 2; });
  }, 5s));
}

TEST_CASE("canary: an app without request metrics is judged by crashes and readiness only, and says so") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n  - name: bg\n    run: [sleep, '1000']\n    instances: 2\n"
                  "    restart: {min_uptime: 100ms}\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("bg", 2));
  auto r = rack.ctl({"reload", "bg", "--canary", "--watch", "1s"});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK_MESSAGE(r.out.find("protocol none has no request metrics: judged by crashes and readiness only") !=
                    std::string::npos,
                r.out);
}

TEST_CASE("canary: a canary that crashes during the watch is rolled back at once") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", web("", "    reload: {canary: {watch: 30s}}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 4));
  auto before = pids_by_slot(rack, "web");
  RunResult r;
  std::thread reload([&] { r = rack.ctl({"reload", "web"}); });
  // Once the canary (slot 0, generation 2) is ready, kill it.
  int canary = 0;
  wait_until([&] {
    for (auto& w : workers(rack, "web"))
      if (w["slot"] == 0 && w["generation"] == 2 && w["state"] == "ready") canary = w["pid"].get<int>();
    return canary != 0;
  }, 15s);
  if (canary == 0) {
    reload.join();
    FAIL("no ready canary of generation 2 appeared: " << r.out << r.err);
  }
  auto t0 = std::chrono::steady_clock::now();
  ::kill(canary, SIGKILL);
  reload.join();
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);  // not after the 30 s watch
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("1 canary crash during the watch") != std::string::npos, r.err);
  auto after = pids_by_slot(rack, "web");
  for (int slot = 1; slot < 4; ++slot) CHECK(after[slot] == before[slot]);
  for (auto& w : workers(rack, "web")) CHECK(w["generation"] == 1);
}

TEST_CASE("canary: bad reload options are usage errors and change nothing") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", web("", ""));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 4));
  CHECK(rack.ctl({"reload", "web", "--canary", "--watch", "soon"}).exit_code == 2);
  CHECK(rack.ctl({"reload", "web", "--no-canary", "--canary"}).exit_code == 2);
  for (auto& w : workers(rack, "web")) CHECK(w["generation"] == 1);
}

TEST_CASE("canary: a node build whose prom-client histogram shows 500s is rolled back, the old pids serve throughout") {
  Rack rack;
  const std::string canary = "    reload: {canary: {slots: 1, watch: 3s}}\n";
  // The new build answers 500 to half of its requests; only its
  // http_request_duration_seconds{status_code="500"} tells rackd.
  check_bad_build_rolled_back(rack, node_web("0", canary), node_web("0.5", canary), 20s);
}
