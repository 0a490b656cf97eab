// The shipped alerting path end to end: Debian's prometheus loads
// deploy/prometheus/rules.yml and scrapes a real rackd, Debian's
// alertmanager runs deploy/alertmanager/alertmanager.yml (only its
// receiver URLs and its waits changed, to a local webhook and to seconds),
// an app crash-loops, and the alert arrives at the webhook.
#include <doctest/doctest.h>

#include "tools.h"

using namespace rack::test;

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  std::size_t n = 0;
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()), ++n)
    s.replace(at, from.size(), to);
  REQUIRE_MESSAGE(n > 0, "'" << from << "' is not in the shipped alertmanager.yml any more");
  return s;
}

}  // namespace

TEST_CASE("observe: a crash-looping app reaches the Alertmanager webhook through the shipped rules and config") {
  std::string am_bin = required_tool("prometheus-alertmanager", "prometheus-alertmanager");
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("good", 1) +
                      "  - name: flappy\n    run: [/bin/sh, -c, 'sleep 0.1; exit 3']\n"
                      "    restart: {min_uptime: 1s, max_restarts: 100000, backoff_initial: 20ms, backoff_max: 50ms}\n");
  rack.ctl({"start", eco});
  REQUIRE(rack.wait_ready("good", 1));
  auto [ah, ap] = rack.admin();

  Webhook hook;
  std::string cfg = read_text(std::string(RACK_SOURCE_DIR) + "/deploy/alertmanager/alertmanager.yml");
  cfg = replace_all(cfg, "http://127.0.0.1:9095", hook.url(""));
  cfg = replace_all(cfg, "group_wait: 30s", "group_wait: 1s");
  cfg = replace_all(cfg, "group_interval: 5m", "group_interval: 1s");
  HostPort am{"127.0.0.1", free_port()};
  std::string am_config = rack.write_file("alertmanager.yml", cfg);
  Child alertmanager({am_bin, "--config.file=" + am_config, "--storage.path=" + rack.home() + "/am-data",
                      "--web.listen-address=" + am.str(), "--cluster.listen-address=", "--log.level=warn"},
                     rack.home() + "/alertmanager.log");
  REQUIRE_MESSAGE(wait_until([&] { return http_get(am.pair(), "/-/ready", 1s).status == 200; }, 30s, 200ms),
                  read_text(rack.home() + "/alertmanager.log"));

  Prometheus prom(rack, {{ah, ap}}, {std::string(RACK_SOURCE_DIR) + "/deploy/prometheus/rules.yml"}, am.str());
  REQUIRE_MESSAGE(prom.wait_for(R"(ALERTS{alertname="RackWorkersCrashLooping",app="flappy",alertstate="firing"})", 60s),
                  prom.log());

  bool received = wait_until([&] {
    for (auto& body : hook.bodies()) {
      auto j = json::parse(body, nullptr, false);
      if (j.is_discarded()) continue;
      for (auto& a : j["alerts"])
        if (a["labels"].value("alertname", "") == "RackWorkersCrashLooping" && a["labels"].value("app", "") == "flappy" &&
            a.value("status", "") == "firing" && a["labels"].value("severity", "") == "warning")
          return true;
    }
    return false;
  }, 30s, 200ms);
  CHECK_MESSAGE(received, read_text(rack.home() + "/alertmanager.log"));
  // The healthy app raised nothing.
  auto others = prom.query(R"(ALERTS{app="good"})");
  CHECK_MESSAGE(others.is_array(), others.dump());
  CHECK_MESSAGE(others.empty(), others.dump());
}
