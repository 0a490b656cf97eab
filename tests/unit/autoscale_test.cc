// The autoscaling decision (app/autoscale.h), with a fake clock.
#include <doctest/doctest.h>

#include "app/autoscale.h"

using namespace rack::master;
using namespace std::chrono_literals;
using rack::config::AutoscaleConfig;
using rack::config::ScaleMetric;

namespace {

const auto t0 = std::chrono::steady_clock::time_point{} + 1h;

AutoscaleConfig range(unsigned min, unsigned max, ScaleMetric m = ScaleMetric::Busy, double target = 0.7) {
  AutoscaleConfig c;
  c.min = min;
  c.max = max;
  c.metric = m;
  c.target = target;
  return c;  // up_after 3s, cooldown 30s
}

ScaleSample busy(std::chrono::milliseconds at, double b) { return {t0 + at, b, 0.0, std::nullopt}; }

// Feeds one sample a second from `from` for `seconds`; returns the first decision.
std::optional<ScaleDecision> run(Autoscaler& a, unsigned n, std::chrono::seconds from, int seconds, double b) {
  for (int i = 0; i <= seconds; ++i) {
    if (auto d = a.observe(busy(from + std::chrono::seconds(i), b), n)) return d;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("autoscale: sustained overload scales up after up_after, straight to what the load needs") {
  Autoscaler a(range(1, 4));
  CHECK_FALSE(a.observe(busy(0s, 0.99), 1));
  CHECK_FALSE(a.observe(busy(2s, 0.99), 1));
  auto d = a.observe(busy(3s, 0.99), 1);
  REQUIRE(d);
  CHECK(d->instances == 2);  // ceil(1 x 0.99 / 0.7)
  CHECK(d->why.find("busy 0.99 over 0.70 for 3.0s") != std::string::npos);
  // Two workers both at 100%: ceil(2 x 1 / 0.7) = 3, but only after up_after since the change.
  CHECK_FALSE(a.observe(busy(4s, 1.0), 2));
  CHECK_FALSE(a.observe(busy(6s, 1.0), 2));
  auto d2 = a.observe(busy(7s, 1.0), 2);
  REQUIRE(d2);
  CHECK(d2->instances == 3);
}

TEST_CASE("autoscale: a short spike does not scale, never above max") {
  Autoscaler a(range(1, 2));
  CHECK_FALSE(a.observe(busy(0s, 0.99), 1));
  CHECK_FALSE(a.observe(busy(2s, 0.99), 1));
  CHECK_FALSE(a.observe(busy(3s, 0.2), 1));  // the spike ended: the timer starts over
  CHECK_FALSE(a.observe(busy(5s, 0.99), 1));
  CHECK_FALSE(a.observe(busy(7s, 0.99), 1));
  auto d = a.observe(busy(8s, 0.99), 1);
  REQUIRE(d);
  CHECK(d->instances == 2);
  CHECK_FALSE(run(a, 2, 9s, 60, 1.0));  // at max: stays
  Autoscaler big(range(1, 3));
  auto jump = run(big, 1, 0s, 5, 1.0 * 10);  // ceil(10/0.7) capped at 3
  REQUIRE(jump);
  CHECK(jump->instances == 3);
}

TEST_CASE("autoscale: idle scales down one at a time, each after the cooldown, never below min") {
  Autoscaler a(range(1, 4));
  auto d = run(a, 4, 0s, 40, 0.05);
  REQUIRE(d);
  CHECK(d->instances == 3);
  auto first = *d;
  // The next one waits a whole cooldown again.
  CHECK_FALSE(run(a, 3, 31s, 28, 0.05));
  auto d2 = run(a, 3, 60s, 5, 0.05);
  REQUIRE(d2);
  CHECK(d2->instances == 2);
  Autoscaler at_min(range(2, 4));
  CHECK_FALSE(run(at_min, 2, 0s, 120, 0.0));
}

TEST_CASE("autoscale: the gap between up and down keeps it from flapping") {
  // 2 workers at 0.5: one would run at 1.0 > 0.7 x 0.8: stays at 2 for good.
  Autoscaler a(range(1, 4));
  CHECK_FALSE(run(a, 2, 0s, 300, 0.5));
  // At 0.25, one worker would run at 0.5 < 0.56: down, after the cooldown.
  Autoscaler b(range(1, 4));
  auto d = run(b, 2, 0s, 40, 0.25);
  REQUIRE(d);
  CHECK(d->instances == 1);
  CHECK(d->why.find("busy 0.25 under") != std::string::npos);
  // Having gone down, the same load does not take it up again (0.5 at 1 worker).
  CHECK_FALSE(run(b, 1, 41s, 120, 0.5));
}

TEST_CASE("autoscale: a count outside min and max is brought back at once") {
  Autoscaler a(range(2, 4));
  auto low = a.observe(busy(0s, 0.5), 1);
  REQUIRE(low);
  CHECK(low->instances == 2);
  auto high = a.observe(busy(0s, 0.5), 9);
  REQUIRE(high);
  CHECK(high->instances == 4);
}

TEST_CASE("autoscale: queue adds one worker at a time and goes down only when both queue and busy are low") {
  Autoscaler a(range(1, 8, ScaleMetric::Queue, 10));
  ScaleSample q{t0, 0.9, 50.0, std::nullopt};
  CHECK_FALSE(a.observe(q, 1));
  q.now = t0 + 3s;
  auto d = a.observe(q, 1);
  REQUIRE(d);
  CHECK(d->instances == 2);  // +1, however deep the queue
  // No queue but busy workers: no scale-down.
  Autoscaler b(range(1, 8, ScaleMetric::Queue, 10));
  for (int i = 0; i <= 60; ++i) CHECK_FALSE(b.observe({t0 + std::chrono::seconds(i), 0.6, 0.0, std::nullopt}, 3));
  for (int i = 61; i <= 100; ++i) {
    if (auto down = b.observe({t0 + std::chrono::seconds(i), 0.05, 0.0, std::nullopt}, 3)) {
      CHECK(down->instances == 2);
      return;
    }
  }
  FAIL("no scale-down with an empty queue and idle workers");
}

TEST_CASE("autoscale: latency_p95 scales up over the target, and no figure holds the timers") {
  Autoscaler a(range(1, 4, ScaleMetric::LatencyP95, 0.1));
  CHECK_FALSE(a.observe({t0, 0.5, 0.0, 0.3}, 1));
  CHECK_FALSE(a.observe({t0 + 2s, 0.5, 0.0, std::nullopt}, 1));  // too few requests to tell
  auto d = a.observe({t0 + 3s, 0.5, 0.0, 0.3}, 1);
  REQUIRE(d);
  CHECK(d->instances == 2);
  CHECK(d->why.find("latency_p95 0.30 over 0.10") != std::string::npos);
}
