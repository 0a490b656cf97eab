// The web dashboard in a real browser: Debian's headless chromium, driven
// over the DevTools protocol by tests/apps/dashboard_browser.js, loads GET /
// from a real rackd. The rendered DOM shows every app's workers with the
// pids rackd reports; a worker killed meanwhile shows its new pid without
// a reload of the page; a log line full of markup stays text. The
// screenshot goes to the build directory (docs/dashboard.png is a copy).
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <map>

#include "tools.h"

using namespace rack::test;

namespace {

const std::string kToken = "dashboard-test-token-42";

std::map<std::pair<std::string, int>, pid_t> rackd_pids(Rack& rack) {
  std::map<std::pair<std::string, int>, pid_t> out;
  json status = rack.status();
  for (auto& a : status["apps"])
    for (auto& w : a["workers"])
      if (w["pid"].is_number() && w["state"] == "ready") out[{a["name"].get<std::string>(), w["slot"].get<int>()}] = w["pid"].get<pid_t>();
  return out;
}

rack::http::Client::Result post(std::pair<std::string, int> at, const std::string& path,
                                const std::vector<rack::http::Header>& headers) {
  auto c = rack::http::Client::tcp(at.first, static_cast<uint16_t>(at.second));
  c.set_timeout(std::chrono::milliseconds(10000));
  auto h = headers;
  h.push_back({"Connection", "close"});
  return c.request("POST", path, "{}", h);
}

}  // namespace

TEST_CASE("observe: the web dashboard in headless chromium shows pids and a killed worker's new pid live") {
  required_tool("chromium", "chromium");
  Rack rack;
  std::string apps = std::string(RACK_SOURCE_DIR) + "/tests/apps";
  std::string eco = rack.write_file(
      "eco.yaml",
      "rack:\n  admin: 127.0.0.1:0\n  admin_token: " + kToken + "\napps:\n" +
          "  - name: a-noisy\n    run: [/bin/sh, -c, 'while :; do echo \"<b>bold</b><img src=x onerror=alert(1)> tick\"; sleep 0.3; done']\n" +
          hello_app("web", 2) + "  - name: pc\n    run: [node, hello.js]\n    cwd: " + apps +
          "\n    protocol: node\n    listen: 127.0.0.1:0\n    instances: 2\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  REQUIRE(rack.wait_ready("pc", 2));
  auto admin = rack.admin();
  std::string url = "http://" + admin.first + ":" + std::to_string(admin.second) + "/";
  auto before = rackd_pids(rack);
  REQUIRE(before.size() == 5);  // a-noisy, web x2, pc x2

  std::string shot = std::string(RACK_BINARY_DIR) + "/dashboard.png";
  auto r = run({"/usr/bin/node", "--experimental-websocket", "--no-warnings", apps + "/dashboard_browser.js", url,
                rack.home() + "/chromium", shot, "web"},
               {}, std::chrono::seconds(90));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  json out = json::parse(r.out);
  // Every worker rackd had, with its pid, was in the page.
  std::map<std::pair<std::string, int>, pid_t> shown;
  for (auto& w : out["before"]) shown[{w["app"].get<std::string>(), w["slot"].get<int>()}] = w["pid"].get<pid_t>();
  for (auto& kv : before) CHECK_MESSAGE(shown[kv.first] == kv.second, kv.first.first << "/" << kv.first.second);
  // The killed worker's slot shows the pid rackd restarted it with, live.
  pid_t killed = out["killed"];
  CHECK(killed == before[{"web", 0}]);
  REQUIRE(wait_until([&] { return rack.pids("web").size() == 2; }, 10s));
  auto now = rackd_pids(rack);
  pid_t shown_after = 0;
  for (auto& w : out["after"])
    if (w["app"] == "web" && w["slot"] == 0) shown_after = w["pid"];
  CHECK(shown_after != killed);
  CHECK(shown_after == now[{"web", 0}]);
  CHECK(out["pageLoads"] == 1);  // no reload of the page
  CHECK(out["was"].get<std::string>().find(std::to_string(killed)) != std::string::npos);
  // Output full of markup is shown as text.
  CHECK(out["logLines"].get<int>() > 0);
  CHECK(out["injected"] == 0);
  CHECK(out["logText"].get<std::string>().find("<b>bold</b><img src=x") != std::string::npos);
  CHECK(::access(shot.c_str(), R_OK) == 0);

  // Actions: refused without the token, or from another origin; done with it.
  auto restart = "/dashboard/apps/web/restart";
  CHECK(post(admin, restart, {}).status == 401);
  CHECK(post(admin, restart, {{"X-Rack-Token", "wrong-token-wrong-token"}}).status == 401);
  CHECK(post(admin, restart, {{"X-Rack-Token", kToken}, {"Origin", "http://evil.example"}}).status == 403);
  CHECK(post(admin, "/dashboard/apps/web/delete", {{"X-Rack-Token", kToken}}).status == 404);
  auto pids = rack.pids("web");
  CHECK(post(admin, restart, {{"X-Rack-Token", kToken}}).status == 200);
  CHECK(wait_until([&] {
    auto p = rack.pids("web");
    return p.size() == 2 && std::find(p.begin(), p.end(), pids[0]) == p.end();
  }, 10s));
}

TEST_CASE("observe: without rack.admin_token the dashboard is read-only and its answers are locked down") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 1));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1));
  auto admin = rack.admin();
  auto page = http_get(admin, "/");
  CHECK(page.status == 200);
  CHECK(page.header("Content-Type").find("text/html") == 0);
  CHECK(page.header("Content-Security-Policy").find("default-src 'none'") == 0);
  CHECK(page.header("Content-Security-Policy").find("frame-ancestors 'none'") != std::string::npos);
  // Nothing is fetched from elsewhere: the page names no other origin, the
  // script only paths of this one (its one absolute URL is the SVG namespace).
  CHECK(page.body.find("http") == std::string::npos);
  std::string js = http_get(admin, "/dashboard.js").body;
  CHECK(js.find("fetch('/dashboard/") != std::string::npos);
  for (auto remote : {"fetch('http", "EventSource('http", "//cdn", "import("}) CHECK_MESSAGE(js.find(remote) == std::string::npos, remote);
  auto state = json::parse(http_get(admin, "/dashboard/state").body);
  CHECK(state["actions"] == false);
  CHECK(state["apps"][0]["name"] == "web");
  auto pid = rack.pids("web").at(0);
  CHECK(post(admin, "/dashboard/apps/web/restart", {{"X-Rack-Token", "anything-at-all-123"}}).status == 403);
  CHECK(rack.pids("web") == std::vector<pid_t>{pid});
  CHECK(http_get(admin, "/dashboard/logs?app=nope").status == 404);
}
