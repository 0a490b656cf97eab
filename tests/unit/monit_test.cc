// rackctl monit's model and screen layout, without a terminal.
#include <doctest/doctest.h>

#include <cmath>

#include "monit_model.h"

using namespace rack::cli::monit;
using json = nlohmann::json;

namespace {

size_t columns(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Snapshot sample_snapshot(int apps, int workers) {
  json j = {{"rackd", {{"pid", 42}, {"home", "/tmp/h"}}}, {"apps", json::array()}};
  for (int a = 0; a < apps; ++a) {
    json ws = json::array();
    for (int w = 0; w < workers; ++w)
      ws.push_back({{"slot", w}, {"pid", 1000 + a * 10 + w}, {"state", "ready"}, {"restarts", w},
                    {"uptime_s", 65.0}, {"cpu_percent", 12.5}, {"rss_bytes", 5u << 20}});
    j["apps"].push_back({{"name", "app" + std::to_string(a)}, {"status", "online"}, {"instances", workers},
                         {"listen", "127.0.0.1:8080"}, {"workers", ws}});
  }
  return parse_snapshot(j);
}

}  // namespace

TEST_CASE("monit: request rate and p95 come from two samples, summed over label sets, per app") {
  std::string before =
      "# TYPE http_request_duration_seconds histogram\n"
      "http_request_duration_seconds_bucket{app=\"web\",route=\"/\",le=\"0.01\"} 10\n"
      "http_request_duration_seconds_bucket{app=\"web\",route=\"/\",le=\"0.1\"} 10\n"
      "http_request_duration_seconds_bucket{app=\"web\",route=\"/\",le=\"+Inf\"} 10\n"
      "http_request_duration_seconds_count{app=\"web\",route=\"/\"} 10\n";
  std::string after =
      "http_request_duration_seconds_bucket{app=\"web\",route=\"/\",le=\"0.01\"} 60\n"
      "http_request_duration_seconds_bucket{app=\"web\",route=\"/\",le=\"0.1\"} 110\n"
      "http_request_duration_seconds_bucket{app=\"web\",route=\"/\",le=\"+Inf\"} 110\n"
      "http_request_duration_seconds_count{app=\"web\",route=\"/\"} 110\n"
      "http_request_duration_seconds_bucket{app=\"web\",route=\"/x\",le=\"0.01\"} 0\n"
      "http_request_duration_seconds_bucket{app=\"web\",route=\"/x\",le=\"0.1\"} 0\n"
      "http_request_duration_seconds_bucket{app=\"web\",route=\"/x\",le=\"+Inf\"} 100\n"
      "http_request_duration_seconds_count{app=\"web\",route=\"/x\"} 100\n"
      "http_request_duration_seconds_count{app=\"web\",worker=\"0\"} 99999\n"  // never counted twice
      "http_request_duration_seconds_count{app=\"a\\\"b\"} 4\n"
      "http_requests_total{app=\"web\"} 12345\n";
  RequestSample s0 = parse_request_sample(before, 10.0), s1 = parse_request_sample(after, 12.0);
  REQUIRE(s1.apps.count("web") == 1);
  CHECK(s1.apps.count("a\"b") == 1);
  CHECK(s1.apps["web"].count == 210);
  RequestRates r = request_rates(s0.apps["web"], s1.apps["web"], s1.at_s - s0.at_s);
  CHECK(r.per_s == doctest::Approx(100.0));  // 200 requests in 2 s
  // 200 in the interval: 50 ≤ 10 ms, 50 in (10 ms, 100 ms], 100 above: p95 is
  // in +Inf, which answers the highest finite bound, as Prometheus does.
  REQUIRE(r.p95_s);
  CHECK(*r.p95_s == doctest::Approx(0.1));

  // Counters that went backwards (rackd restarted) start over, never negative.
  RequestRates reset = request_rates(s1.apps["web"], s0.apps["web"], 1.0);
  CHECK(reset.per_s == doctest::Approx(10.0));
  // Nothing finished in the interval: no p95, rate 0.
  RequestRates idle = request_rates(s1.apps["web"], s1.apps["web"], 1.0);
  CHECK(idle.per_s == 0);
  CHECK_FALSE(idle.p95_s);
  CHECK(parse_request_sample("garbage{{{\nhttp_request_duration_seconds_count{app=\"x\"} nope\n", 0).apps.empty());
}

TEST_CASE("monit: histogram_quantile interpolates within the bucket like Prometheus") {
  std::map<double, double> b = {{0.1, 50}, {0.5, 90}, {1, 100}, {INFINITY, 100}};
  CHECK(*histogram_quantile(0.5, b) == doctest::Approx(0.1));
  CHECK(*histogram_quantile(0.7, b) == doctest::Approx(0.3));   // 0.1 + 0.4 × (70−50)/(90−50)
  CHECK(*histogram_quantile(0.95, b) == doctest::Approx(0.75));  // 0.5 + 0.5 × (95−90)/10
  CHECK_FALSE(histogram_quantile(0.95, {}));
  CHECK_FALSE(histogram_quantile(0.95, {{1, 0}, {INFINITY, 0}}));
}

TEST_CASE("monit: a status of the wrong shape reads as empty, never throws") {
  CHECK(parse_snapshot(json::parse("[1,2]")).apps.empty());
  CHECK(parse_snapshot(json{{"apps", "nope"}}).apps.empty());
  Snapshot s = parse_snapshot(json::parse(
      R"({"rackd":{"pid":"x"},"apps":[{"name":7,"workers":[{"pid":"12","slot":null,"rss_bytes":-1}, 5]}]})"));
  REQUIRE(s.apps.size() == 1);
  CHECK(s.apps[0].name == "?");
  REQUIRE(s.apps[0].workers.size() == 2);
  CHECK_FALSE(s.apps[0].workers[0].pid);
  CHECK(s.rackd_pid == 0);
}

TEST_CASE("monit: every terminal size gets exactly its rows, no line wider than the terminal") {
  Snapshot snap = sample_snapshot(3, 4);
  snap.apps[1].requests = RequestRates{123.4, 0.0042};
  View view;
  view.selected = 1;
  view.mem_total = 1ull << 30;
  view.clock = "12:00:00";
  for (int i = 0; i < 50; ++i) view.log_lines.push_back("line " + std::to_string(i));
  for (int rows = 1; rows <= 60; rows += 3) {
    for (int cols = 1; cols <= 220; cols += 7) {
      auto lines = layout(snap, view, cols, rows);
      REQUIRE(static_cast<int>(lines.size()) == rows);
      for (auto& l : lines) CHECK_MESSAGE(columns(l.text) <= static_cast<size_t>(cols), cols, "x", rows, ": ", l.text);
    }
  }
  auto tiny = layout(snap, view, 20, 4);
  CHECK(tiny[0].text == "terminal too small");

  // Wide: every column, the bars, the selected app's rates.
  auto wide = layout(snap, view, 160, 40);
  std::string all;
  for (auto& l : wide) all += l.text + "\n";
  for (const char* s : {"rack monit", "rackd 42", "pid", "req/s", "p95", ">app1", "123", "4.2ms", "[|", "#3",
                        "logs: app1", "line 49"})
    CHECK_MESSAGE(all.find(s) != std::string::npos, s, "\n", all);
  // Narrow: names and states stay; the least useful columns go first.
  auto narrow = layout(snap, view, 30, 20);
  CHECK(narrow[1].text.find("state") != std::string::npos);
  CHECK(narrow[1].text.find("uptime") == std::string::npos);
  bool selected_shown = false;
  for (auto& l : narrow) selected_shown |= l.style == Style::Selected && l.text.find(">app1") != std::string::npos;
  CHECK(selected_shown);
}

TEST_CASE("monit: the selected app stays on screen when the table is longer than the terminal") {
  Snapshot snap = sample_snapshot(30, 3);
  View view;
  for (size_t sel : {size_t{0}, size_t{14}, size_t{29}}) {
    view.selected = sel;
    auto lines = layout(snap, view, 100, 16);
    bool found = false;
    for (auto& l : lines) found |= l.style == Style::Selected && l.text.find(">app" + std::to_string(sel) + " ") != std::string::npos;
    CHECK_MESSAGE(found, sel);
  }
  view.logs_full = true;
  view.log_lines = {"only logs"};
  auto logs = layout(snap, view, 100, 16);
  CHECK(logs[1].text.find("logs: app29") != std::string::npos);
  CHECK(logs[2].text == "only logs");
}

TEST_CASE("monit: rackd gone is a screen of its own that says why") {
  View view;
  view.unreachable = "connect(/h/rackd.sock): No such file or directory";
  auto lines = layout(Snapshot{}, view, 100, 10);
  REQUIRE(lines.size() == 10);
  CHECK(lines[2].text.find("rackd is not running: connect(/h/rackd.sock)") != std::string::npos);
  CHECK(lines[2].style == Style::Bad);
}

TEST_CASE("monit: log lines name the slot and the stream") {
  CHECK(log_line_text(json{{"slot", 2}, {"stream", "err"}, {"line", "boom"}}) == "[2] err| boom");
  CHECK(log_line_text(json{{"slot", 0}, {"stream", "out"}, {"line", "hi"}}) == "[0] hi");
  CHECK(log_line_text(json{{"line", 5}}) == "");
}
