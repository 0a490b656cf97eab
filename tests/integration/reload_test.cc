// Issue 3: zero-downtime reload, drain, scale, stuck and bloated workers.
#include <doctest/doctest.h>

#include <signal.h>

#include <set>

#include "harness.h"

using namespace rack::test;

namespace {

std::set<pid_t> as_set(const std::vector<pid_t>& v) { return {v.begin(), v.end()}; }

// Each listed worker's generation. rack.app() returns a temporary: keep it
// alive while reading it (a range-for over rack.app(x)["workers"] reads freed
// memory, and ASan says so).
std::vector<int> generations(Rack& rack, const std::string& name) {
  json app = rack.app(name);
  std::vector<int> out;
  for (auto& w : app["workers"]) out.push_back(w["generation"].get<int>());
  return out;
}

void reload_five_times_under(Load::Mode mode) {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 4));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 4));
  auto [host, port] = rack.address("web");
  auto first = as_set(rack.pids("web"));

  Load load(host, port, mode, 8);
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 5; ++i) {
    auto r = rack.ctl({"reload", "web"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("reload web: 4/4 replaced") != std::string::npos);
  }
  std::this_thread::sleep_for(300ms);
  load.stop();
  CHECK(load.ok() > 100);
  CHECK_MESSAGE(load.failed() == 0, load.first_error());
  CHECK(load.non2xx() == 0);
  // Idle keep-alive connections were handed to new workers, not closed.
  CHECK(load.silent_closes() == 0);
  auto last = as_set(rack.pids("web"));
  CHECK(last.size() == 4);
  for (pid_t p : last) CHECK(first.count(p) == 0);
  CHECK(generations(rack, "web") == std::vector<int>(4, 6));
}

}  // namespace

TEST_CASE("reload: 5 reloads of 4 workers under keep-alive load fail nothing") {
  reload_five_times_under(Load::Mode::KeepAlive);
}

TEST_CASE("reload: 5 reloads of 4 workers under Connection: close load fail nothing") {
  reload_five_times_under(Load::Mode::Close);
}

TEST_CASE("reload: a replacement that never becomes ready stops the reload, old workers keep serving") {
  Rack rack;
  std::string good = "rack:\n  admin: off\napps:\n" + hello_app("web", 2, "    ready_timeout: 1s\n");
  std::string eco = rack.write_file("eco.yaml", good);
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  auto old = as_set(rack.pids("web"));

  // The same app, now configured so its workers never say ready.
  std::string bad = "rack:\n  admin: off\napps:\n  - name: web\n    run: [" + bin("rack-hello") +
                    ", --never-ready]\n    protocol: rack\n    listen: 127.0.0.1:0\n    instances: 2\n"
                    "    ready_timeout: 1s\n";
  std::string bad_path = rack.write_file("eco.yaml", bad);
  Load load(host, port, Load::Mode::Close, 4);
  auto r = rack.ctl({"reload", bad_path});
  load.stop();
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("slot 0") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("no ready signal") != std::string::npos, r.err);
  CHECK_MESSAGE(load.failed() == 0, load.first_error());
  CHECK(load.ok() > 0);
  CHECK(as_set(rack.pids("web")) == old);
  // The replacement that never became ready may still be stopping.
  CHECK(wait_until([&] { return generations(rack, "web") == std::vector<int>(2, 1); }, 5s));
  // The old workers still answer after the failed reload.
  auto c = rack::http::Client::tcp(host, port);
  CHECK(c.request("GET", "/", "", {}).status == 200);
}

TEST_CASE("reload: apps reload one after the other and the first failure stops the rest") {
  Rack rack;
  std::string apps = hello_app("a", 1) + hello_app("b", 1, "    ready_timeout: 1s\n") + hello_app("c", 1);
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + apps);
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("a", 1));
  REQUIRE(rack.wait_ready("b", 1));
  REQUIRE(rack.wait_ready("c", 1));

  auto all = rack.ctl({"reload", "all"});
  CHECK_MESSAGE(all.exit_code == 0, all.err);
  // An old worker may still be draining when reload returns: it leaves
  // the list once it has exited.
  auto settles_at = [&](const char* name, std::vector<int> want) {
    return wait_until([&] { return generations(rack, name) == want; }, 5s);
  };
  for (const char* name : {"a", "b", "c"}) CHECK_MESSAGE(settles_at(name, {2}), name);

  // b's new config never becomes ready: a rolls, b fails, c is not touched.
  std::string bad_b = "  - name: b\n    run: [" + bin("rack-hello") +
                      ", --never-ready]\n    protocol: rack\n    listen: 127.0.0.1:0\n    instances: 1\n"
                      "    ready_timeout: 1s\n";
  std::string changed = hello_app("a", 1, "    env: {CHANGED: '1'}\n") + bad_b +
                        hello_app("c", 1, "    env: {CHANGED: '1'}\n");
  auto r = rack.ctl({"reload", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + changed)});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("no ready signal") != std::string::npos, r.err);
  CHECK(settles_at("a", {3}));
  CHECK(settles_at("b", {2}));
  CHECK(settles_at("c", {2}));
}

TEST_CASE("reload: a 2 s request in flight during reload completes with 200") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 2))}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  std::atomic<int> status{0};
  std::thread slow([&, host = host, port = port] {
    auto c = rack::http::Client::tcp(host, port);
    c.set_timeout(std::chrono::milliseconds(10000));
    auto r = c.request("GET", "/sleep?ms=2000", "", {});
    status = r.status;
  });
  std::this_thread::sleep_for(200ms);
  auto r = rack.ctl({"reload", "web"});
  slow.join();
  CHECK(r.exit_code == 0);
  CHECK(status == 200);
}

TEST_CASE("reload: scale 2 -> 6 -> 1 under load fails nothing") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 2))}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  BothLoads load(host, port);
  CHECK(rack.ctl({"scale", "web", "6"}).exit_code == 0);
  CHECK(rack.wait_ready("web", 6));
  std::this_thread::sleep_for(300ms);
  CHECK(rack.ctl({"scale", "web", "-5"}).exit_code == 0);
  CHECK(wait_until([&] { return rack.app("web")["workers"].size() == 1; }, 15s));
  load.finish();
  CHECK(rack.ctl({"scale", "web", "0"}).exit_code == 2);
}

TEST_CASE("reload: a worker with a stuck event loop is replaced within heartbeat_timeout + 1 s") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" +
                                                           hello_app("web", 1, "    heartbeat_timeout: 1s\n"))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1));
  auto [host, port] = rack.address("web");
  pid_t stuck = rack.pids("web")[0];
  std::thread hang([&, host = host, port = port] {
    auto c = rack::http::Client::tcp(host, port);
    c.set_timeout(std::chrono::milliseconds(3000));
    c.request("GET", "/hang", "", {});
  });
  auto t0 = std::chrono::steady_clock::now();
  bool replaced = wait_until([&] {
    auto p = rack.pids("web");
    return p.size() == 1 && p[0] != stuck;
  }, 5s, 20ms);
  auto took = std::chrono::steady_clock::now() - t0;
  hang.join();
  CHECK(replaced);
  CHECK(took < 2s + 200ms);  // heartbeat_timeout + 1 s (+ scheduling slack of status polling)
  auto c = rack::http::Client::tcp(host, port);
  CHECK(c.request("GET", "/", "", {}).status == 200);
  auto s = run({bin("rackctl"), "status", "--json"}, {"RACK_HOME=" + rack.home()});
  CHECK(s.out.find("heartbeat") != std::string::npos);
}

TEST_CASE("reload: max_requests recycles workers gracefully under load") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" +
                                                           hello_app("web", 2, "    max_requests: 200\n"))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  auto first = as_set(rack.pids("web"));
  {
    BothLoads load(host, port, 2);
    CHECK(wait_until([&] { return rack.app("web")["restart_reasons"].value("max_requests", 0) >= 2; }, 30s));
    load.finish();
  }
  CHECK(rack.wait_ready("web", 2));
  for (pid_t p : rack.pids("web")) CHECK(first.count(p) == 0);
}
