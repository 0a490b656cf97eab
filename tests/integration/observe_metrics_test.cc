// What operators read off /metrics: CPU split for every protocol, gauges
// aggregated by what they mean, the app's status, limits and log volume,
// node event-loop lag without prom-client, and promtool's lint passing
// while prom-client apps with default metrics run.
#include <doctest/doctest.h>

#include <sstream>

#include "tools.h"

using namespace rack::test;

namespace {

std::string node_app(const std::string& name, const std::string& script, int instances) {
  return "  - name: " + name + "\n    run: [node, " + script + "]\n    cwd: " + std::string(RACK_SOURCE_DIR) +
         "/tests/apps\n    protocol: node\n    listen: 127.0.0.1:0\n    instances: " + std::to_string(instances) + "\n";
}

// Every sample line starting with `prefix`: (series, value).
std::vector<std::pair<std::string, double>> lines_of(const std::string& body, const std::string& prefix) {
  std::vector<std::pair<std::string, double>> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    auto sp = line.rfind(' ');
    if (line.rfind(prefix, 0) == 0 && sp != std::string::npos) out.emplace_back(line.substr(0, sp), std::stod(line.substr(sp + 1)));
  }
  return out;
}

std::string scrape(Rack& rack) {
  auto r = http_get(rack.admin(), "/metrics");
  REQUIRE(r.status == 200);
  return r.body;
}

}  // namespace

TEST_CASE("observe: every protocol's workers have CPU user and system, gauges merge by meaning, promtool passes") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 2) + node_app("pc", "prom_defaults.js", 2) +
                      node_app("plain", "hello.js", 2) + "  - name: sleeper\n    run: [/bin/sleep, '1000']\n" +
                      "    max_memory: 64M\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  REQUIRE(rack.wait_ready("pc", 2));
  REQUIRE(rack.wait_ready("plain", 2));
  REQUIRE(wait_until([&] { return rack.pids("sleeper").size() == 1; }, 10s));
  CHECK(http_get(rack.address("pc"), "/").status == 200);
  std::string body;
  // /proc is sampled once a second; node's lag timer ticks every 500 ms.
  REQUIRE(wait_until([&] {
    body = scrape(rack);
    return metric_sample(body, R"(rack_event_loop_lag_seconds{app="plain",worker="1"})").has_value() &&
           body.find(R"(process_cpu_user_seconds_total{app="sleeper",worker="0")") != std::string::npos;
  }, 10s, 200ms));

  for (auto app : {"web", "pc", "plain", "sleeper"})
    for (auto fam : {"process_cpu_user_seconds_total", "process_cpu_system_seconds_total", "process_cpu_seconds_total"})
      CHECK_MESSAGE(body.find(std::string(fam) + "{app=\"" + app + "\",worker=\"0\"") != std::string::npos, fam << " " << app);
  // prom-client's own process_cpu_* (one value per worker, summed) gives way to rackd's /proc figures.
  CHECK(!metric_sample(body, R"(process_cpu_user_seconds_total{app="pc"})"));

  // Gauges: lags max, versions and limits not doubled, counts summed.
  auto v = [&](const std::string& s) { return metric_sample(body, s); };
  REQUIRE(v(R"(nodejs_eventloop_lag_seconds{app="pc",worker="0"})"));
  CHECK(*v(R"(nodejs_eventloop_lag_seconds{app="pc"})") ==
        std::max(*v(R"(nodejs_eventloop_lag_seconds{app="pc",worker="0"})"),
                 *v(R"(nodejs_eventloop_lag_seconds{app="pc",worker="1"})")));
  CHECK(v(R"(process_max_fds{app="pc"})") == v(R"(process_max_fds{app="pc",worker="0"})"));
  int version_lines = 0;
  for (auto& line : lines_of(body, "nodejs_version_info{app=\"pc\"")) {
    ++version_lines;
    CHECK_MESSAGE(line.second == 1.0, line.first);  // the aggregate as much as each worker's
  }
  CHECK(version_lines == 3);
  auto handles = v(R"(nodejs_active_handles_total{app="pc"})");
  REQUIRE(handles);
  CHECK(*handles == *v(R"(nodejs_active_handles_total{app="pc",worker="0"})") +
                        *v(R"(nodejs_active_handles_total{app="pc",worker="1"})"));
  CHECK(body.find("# TYPE nodejs_active_handles_total untyped") != std::string::npos);
  // Node lag from the preload, for an app without prom-client.
  CHECK(v(R"(rack_event_loop_lag_seconds{app="plain"})"));

  // Status, limits, log volume.
  CHECK(v(R"(rack_app_status{app="web",status="online"})") == 1.0);
  CHECK(v(R"(rack_app_status{app="web",status="stopped"})") == 0.0);
  CHECK(v(R"(rack_worker_memory_limit_bytes{app="sleeper"})") == 64.0 * 1024 * 1024);
  CHECK(v(R"(rack_app_cpus{app="web"})") >= 1.0);
  auto size = v(R"(rack_log_filesystem_size_bytes{app="web"})"), avail = v(R"(rack_log_filesystem_avail_bytes{app="web"})");
  REQUIRE(size);
  REQUIRE(avail);
  CHECK(*size > 0);
  CHECK(*avail <= *size);

  auto path = rack.write_file("admin.prom", body);
  auto check = run({"/bin/sh", "-c", required_tool("promtool", "prometheus") + " check metrics < " + path});
  CHECK_MESSAGE(check.exit_code == 0, check.out << check.err);

  // A stopped app says so, and is not "down".
  REQUIRE(rack.ctl({"stop", "web"}).exit_code == 0);
  body = scrape(rack);
  CHECK(v(R"(rack_app_status{app="web",status="stopped"})") == 1.0);
  CHECK(v(R"(rack_app_status{app="web",status="down"})") == 0.0);
  CHECK(v(R"(rack_app_instances{app="web"})") == 0.0);
}

TEST_CASE("observe: an app whose every slot gave up restarting is errored, one still trying is down") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n  - name: bad\n    run: [/bin/false]\n    instances: 2\n"
                  "    restart: {min_uptime: 1s, max_restarts: 2, backoff_initial: 10ms, backoff_max: 20ms}\n"
                  "  - name: slow\n    run: [/bin/false]\n"
                  "    restart: {min_uptime: 1s, max_restarts: 1000, backoff_initial: 5s, backoff_max: 5s}\n");
  rack.ctl({"start", eco});
  REQUIRE(wait_until([&] {
    return metric_sample(scrape(rack), R"(rack_app_status{app="bad",status="errored"})") == 1.0;
  }, 15s, 200ms));
  CHECK(metric_sample(scrape(rack), R"(rack_app_status{app="slow",status="down"})") == 1.0);
}
