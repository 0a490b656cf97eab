// config::to_yaml: an app's resolved configuration, written back, loads to
// the same configuration from anywhere (rackctl save's snapshot).
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "rack/config.h"

using namespace rack::config;

namespace {

// Every key path of a YAML map, "logs.keep" style.
void key_paths(const YAML::Node& n, const std::string& prefix, std::vector<std::string>& out) {
  if (!n.IsMap()) return;
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string key = prefix + it->first.as<std::string>();
    out.push_back(key);
    if (key != "env" && key != "gauges") key_paths(it->second, key + ".", out);
  }
}

const char* kEveryKey = R"(apps:
  - name: web
    run: [sh, -c, "exec sleep 100"]
    cwd: .
    instances: 3
    protocol: rack
    listen: 127.0.0.1:0
    dispatch: least-connections
    env: {PORT: 8080, QUOTED: "a \"b\" c: d", EMPTY: ""}
    inherit_env: false
    ready_timeout: 7s
    kill_timeout: 0ms
    heartbeat_timeout: 12s
    stop_signal: SIGQUIT
    restart: {delay: 250ms, min_uptime: 2s, max_restarts: 4, backoff_initial: 50ms, backoff_max: 3s, backoff_factor: 2.5, reset_after: 1m}
    max_memory: 300M
    max_requests: 1000
    parallel: 2
    queue: {size: 10, timeout: 3s}
    metrics_path: /metrics
    gauges: {temperature: max, slots: first}
    autorestart: false
    stop_exit_codes: [0, 3]
    namespace: backend
    cron_restart: "0 3 * * *"
    cron_tz: local
    watch: {paths: [.], ignore: ["*.log"], delay: 2s}
    logs: {dir: logs, max_size: 1M, keep: 2, compress: false, time: false, on_full: drop, rotate_every: 1h, max_age: 2d, buffer: 64K}
)";

}  // namespace

TEST_CASE("config: to_yaml writes every key, and what it writes loads back to the same text from elsewhere") {
  Ecosystem eco = load_string(kEveryKey, "/tmp/eco.yaml");
  REQUIRE(eco.apps.size() == 1);
  std::string once = to_yaml(eco.apps[0]);
  // Read from another directory: nothing in it is relative any more.
  Ecosystem again = load_string(once, "/nonexistent/other/eco.yaml");
  REQUIRE(again.apps.size() == 1);
  CHECK(to_yaml(again.apps[0]) == once);

  const AppConfig& a = again.apps[0];
  CHECK(a.cwd == "/tmp");
  CHECK(a.logs.dir == "/tmp/logs");
  CHECK(a.run == eco.apps[0].run);
  CHECK(a.env.at("QUOTED") == "a \"b\" c: d");
  CHECK(a.env.at("EMPTY") == "");
  CHECK(a.stop_signal == SIGQUIT);
  CHECK_FALSE(a.inherit_env);
  CHECK(a.kill_timeout.count() == 0);
  CHECK(a.restart.backoff_factor == doctest::Approx(2.5));
  CHECK(*a.max_memory == 300ull << 20);
  CHECK(a.gauges.at("temperature") == Aggregation::Max);
  CHECK(a.logs.on_full == OnFull::Drop);
  CHECK(*a.logs.max_age == std::chrono::hours(48));

  // Every key the original sets is in the snapshot (a key added to the
  // loader and set here, but forgotten by to_yaml, fails this).
  std::vector<std::string> want, got;
  key_paths(YAML::Load(kEveryKey)["apps"][0], "", want);
  key_paths(YAML::Load(once)["apps"][0], "", got);
  for (const std::string& k : want) CHECK_MESSAGE(std::find(got.begin(), got.end(), k) != got.end(), k);
}

TEST_CASE("config: to_yaml of node and inherit apps keeps their protocol-only keys") {
  Ecosystem eco = load_string(R"(apps:
  - {name: n, run: [sh], protocol: node, listen: 127.0.0.1:0, wait_ready: true, shutdown_with_message: true}
  - {name: i, run: [sh], protocol: inherit, listen: 127.0.0.1:0, ready: {http: /ready}}
  - {name: o, run: [sh], ready: notify}
)", "/tmp/eco.yaml");
  for (const AppConfig& app : eco.apps) {
    std::string y = to_yaml(app);
    Ecosystem back = load_string(y, "/elsewhere/eco.yaml");
    CHECK(to_yaml(back.apps[0]) == y);
    CHECK(back.apps[0].protocol == app.protocol);
    CHECK(back.apps[0].ready == app.ready);
    CHECK(back.apps[0].ready_http_path == app.ready_http_path);
    CHECK(back.apps[0].wait_ready == app.wait_ready);
    CHECK(back.apps[0].shutdown_with_message == app.shutdown_with_message);
  }
}

TEST_CASE("config: to_yaml keeps logs.dir: off, so a saved app still writes no files") {
  Ecosystem eco = load_string("apps:\n  - {name: q, run: [sh], logs: {dir: off, keep: 2}}\n", "/tmp/eco.yaml");
  std::string y = to_yaml(eco.apps[0]);
  CHECK(YAML::Load(y)["apps"][0]["logs"]["dir"].as<std::string>() == "off");
  Ecosystem back = load_string(y, "/elsewhere/eco.yaml");
  CHECK_FALSE(back.apps[0].logs.files);
  CHECK(back.apps[0].logs.dir.empty());
  CHECK(to_yaml(back.apps[0]) == y);
}
