// deploy/grafana/rack.json proven against real data, Grafana not being in
// Debian: a real Prometheus scrapes a real rackd running rack and node apps
// under light load (with a crash and some 5xx, so the incident panels have
// something to show), and every panel's every query, and every template
// variable's, is evaluated through Prometheus's HTTP API with Grafana's
// variables filled in as Grafana would ("All" = .*). An invalid query or
// an empty result fails, unless the panel is listed in kIncidentOnly with
// the reason it is empty on a healthy host.
#include <doctest/doctest.h>

#include <map>
#include <cstring>
#include <regex>

#include "tools.h"

using namespace rack::test;

namespace {

// Panel title → why it may be empty here. Keep it short: every entry is a
// panel this test does not prove.
const std::map<std::string, std::string> kIncidentOnly = {};

std::string fill_variables(std::string q) {
  const std::pair<const char*, const char*> vars[] = {
      {"$__rate_interval", "30s"}, {"$__range", "5m"}, {"$instance", ".*"}, {"$app", ".*"}};
  for (auto& [from, to] : vars)
    for (auto at = q.find(from); at != std::string::npos; at = q.find(from)) q.replace(at, std::strlen(from), to);
  return q;
}

// Grafana's label_values(selector, label) as plain PromQL.
std::string label_values_query(const std::string& def) {
  std::smatch m;
  static const std::regex re(R"(^label_values\((.*),\s*(\w+)\)$)");
  REQUIRE_MESSAGE(std::regex_match(def, m, re), "not a label_values() query: " << def);
  return "group by (" + m[2].str() + ") (" + m[1].str() + ")";
}

}  // namespace

TEST_CASE("observe: every Grafana panel's query returns data from a real Prometheus scraping rackd") {
  json dash = json::parse(read_text(std::string(RACK_SOURCE_DIR) + "/deploy/grafana/rack.json"));
  Rack rack;
  std::string apps = std::string(RACK_SOURCE_DIR) + "/tests/apps";
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 2, "    max_memory: 256M\n") +
                      "  - name: pc\n    run: [node, prom_defaults.js]\n    cwd: " + apps +
                      "\n    protocol: node\n    listen: 127.0.0.1:0\n    instances: 2\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  REQUIRE(rack.wait_ready("pc", 2));
  auto [ah, ap] = rack.admin();
  Prometheus prom(rack, {{ah, ap}});

  Load web(rack.address("web").first, rack.address("web").second, Load::Mode::KeepAlive, 1, "/sleep?ms=2");
  Load pc(rack.address("pc").first, rack.address("pc").second, Load::Mode::Close, 1, "/");
  for (int i = 0; i < 20; ++i) http_get(rack.address("web"), "/fail");
  http_get(rack.address("web"), "/crash");  // a restart, reason crash
  REQUIRE(rack.wait_ready("web", 2));
  // rate() over 30 s needs two scrapes of the new series; 5 s is plenty at 500 ms.
  REQUIRE(prom.wait_for(R"(rack_worker_restarts_total{app="web",reason="crash"})", 20s));
  std::this_thread::sleep_for(std::chrono::seconds(5));
  for (int i = 0; i < 20; ++i) http_get(rack.address("web"), "/fail");
  std::this_thread::sleep_for(std::chrono::seconds(2));

  std::size_t queries = 0;
  for (auto& var : dash["templating"]["list"]) {
    if (var.value("type", "") != "query") continue;
    std::string q = label_values_query(fill_variables(var["definition"].get<std::string>()));
    auto r = prom.query(q);
    CHECK_MESSAGE(r.is_array(), "variable $" << var["name"] << ": " << q << ": " << r.dump());
    CHECK_MESSAGE(r.size() >= 1, "variable $" << var["name"] << " has no values: " << q);
    ++queries;
  }
  std::size_t panels = 0;
  for (auto& panel : dash["panels"]) {
    if (panel.value("type", "") == "row") continue;
    ++panels;
    std::string title = panel["title"];
    bool incident_only = kIncidentOnly.count(title) > 0;
    REQUIRE_MESSAGE(panel.contains("targets"), title);
    for (auto& t : panel["targets"]) {
      std::string q = fill_variables(t["expr"].get<std::string>());
      auto r = prom.query(q);
      ++queries;
      CHECK_MESSAGE(r.is_array(), title << ": invalid query " << q << ": " << r.dump());
      if (r.is_array() && !incident_only) CHECK_MESSAGE(!r.empty(), title << ": no data for " << q);
    }
  }
  MESSAGE(panels << " panels, " << queries << " queries evaluated");
  CHECK(panels >= 15);
  web.stop();
  pc.stop();
  CHECK_MESSAGE(web.failed() == 0, web.first_error());
}
