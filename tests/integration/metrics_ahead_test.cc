// /metrics for a steady scraper: answered from a collection made just
// before it came (metrics/scrape_cadence.h); anyone else gets a collection
// made when they asked, exact as of then.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

using namespace rack::test;

namespace {

// The app's merged request counter, and how old the answer was.
struct Scrape {
  double requests = -1;
  long age_ms = -1;
};

Scrape scrape(Rack& rack, const std::string& app) {
  auto r = http_get(rack.admin(), "/metrics");
  Scrape s;
  if (r.status != 200) return s;
  s.age_ms = std::stol(std::string(r.header("X-Rack-Metrics-Age-Ms").empty() ? "-1" : r.header("X-Rack-Metrics-Age-Ms")));
  std::istringstream in(r.body);
  std::string prefix = "http_request_duration_seconds_count{app=\"" + app + "\"";
  s.requests = 0;
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) s.requests += std::strtod(line.substr(line.rfind(' ') + 1).c_str(), nullptr);
  return s;
}

}  // namespace

TEST_CASE("metrics: a steady scraper gets an answer collected just before, an off-cycle scrape is exact") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 2))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto web = rack.address("web");

  // Seven scrapes 1.5 s apart, as Prometheus would make them: from the
  // fourth on, rackd knows the cadence and collects ahead. A late wake-up
  // of this thread (a loaded machine) breaks the cadence for a scrape or
  // two, so at least two of the last four must have been collected ahead.
  auto t0 = std::chrono::steady_clock::now();
  int ahead = 0;
  for (int i = 0; i < 7; ++i) {
    std::this_thread::sleep_until(t0 + i * 1500ms);
    Scrape s = scrape(rack, "web");
    REQUIRE(s.age_ms >= 0);
    CHECK_MESSAGE(s.age_ms <= 250, "scrape ", i, " answered from a collection ", s.age_ms, " ms old");
    if (i < 3) CHECK_MESSAGE(s.age_ms == 0, "scrape ", i, " came before any cadence");
    if (i >= 3 && s.age_ms > 0) ++ahead;
  }
  CHECK_MESSAGE(ahead >= 2, ahead, " of the last 4 scrapes were collected ahead");

  // Off the cadence (0.3 s after the last scrape): collected now, and
  // every request made before it is counted.
  std::this_thread::sleep_until(t0 + 6 * 1500ms + 300ms);
  Scrape before = scrape(rack, "web");
  for (int i = 0; i < 20; ++i) REQUIRE(http_get(web, "/").status == 200);
  Scrape after = scrape(rack, "web");
  CHECK(after.age_ms == 0);
  CHECK(after.requests == before.requests + 20);
}
