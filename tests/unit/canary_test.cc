// The canary decision (app/canary_verdict.h), the request figures it reads
// (metrics/request_stats.h), and reconcile's canary limit.
#include <doctest/doctest.h>

#include <string>

#include "app/canary_verdict.h"
#include "app/reconcile.h"
#include "metrics/request_stats.h"

using namespace rack::master;

namespace {

// A worker's histogram: `ok` requests answered 200 and `bad` 500, all in
// the bucket ending at `le` seconds (le must be a boundary below).
std::string histogram(int ok, int bad, double le = 0.001) {
  const double bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
  std::string out = "# TYPE http_request_duration_seconds histogram\n";
  auto series = [&](const char* code, int n) {
    for (double b : bounds) {
      out += "http_request_duration_seconds_bucket{method=\"GET\",route=\"/\",status_code=\"" + std::string(code) +
             "\",le=\"" + format_value(b) + "\"} " + std::to_string(b >= le ? n : 0) + "\n";
    }
    out += "http_request_duration_seconds_bucket{method=\"GET\",route=\"/\",status_code=\"" + std::string(code) +
           "\",le=\"+Inf\"} " + std::to_string(n) + "\n";
    out += "http_request_duration_seconds_sum{method=\"GET\",route=\"/\",status_code=\"" + std::string(code) +
           "\"} " + std::to_string(n * le / 2) + "\n";
    out += "http_request_duration_seconds_count{method=\"GET\",route=\"/\",status_code=\"" + std::string(code) +
           "\"} " + std::to_string(n) + "\n";
  };
  if (ok) series("200", ok);
  if (bad) series("500", bad);
  return out;
}

RequestStats stats(int ok, int bad, double le = 0.001) {
  std::string err;
  auto snap = parse_exposition(histogram(ok, bad, le), err);
  REQUIRE_MESSAGE(snap, err);
  RequestStats s = request_stats(*snap);
  s.present = true;
  return s;
}

GenerationFigures gen(uint64_t g, RequestStats r, unsigned crashes = 0, unsigned not_ready = 0) {
  return {g, 1, std::move(r), crashes, not_ready};
}

const CanaryLimits kLimits{0.05, 2.0};

}  // namespace

TEST_CASE("request stats: requests, 5xx and p95 from the worker's histogram") {
  RequestStats s = stats(90, 10);
  CHECK(s.requests == 100);
  CHECK(s.errors == 10);
  CHECK(s.error_ratio() == doctest::Approx(0.1));
  // All in the first bucket (0..1ms): p95 is interpolated inside it.
  CHECK(*s.quantile(0.95) == doctest::Approx(0.00095));
}

TEST_CASE("request stats: status is read from status_code, code or status") {
  std::string err;
  auto snap = parse_exposition(
      "# TYPE http_request_duration_seconds histogram\n"
      "http_request_duration_seconds_bucket{code=\"503\",le=\"0.1\"} 3\n"
      "http_request_duration_seconds_bucket{code=\"503\",le=\"+Inf\"} 3\n"
      "http_request_duration_seconds_sum{code=\"503\"} 0.1\n"
      "http_request_duration_seconds_count{code=\"503\"} 3\n"
      "http_request_duration_seconds_bucket{status=\"404\",le=\"0.1\"} 2\n"
      "http_request_duration_seconds_bucket{status=\"404\",le=\"+Inf\"} 2\n"
      "http_request_duration_seconds_sum{status=\"404\"} 0.1\n"
      "http_request_duration_seconds_count{status=\"404\"} 2\n",
      err);
  REQUIRE_MESSAGE(snap, err);
  RequestStats s = request_stats(*snap);
  CHECK(s.requests == 5);
  CHECK(s.errors == 3);
}

TEST_CASE("request stats: no histogram means no request metrics") {
  std::string err;
  auto snap = parse_exposition("# TYPE jobs_total counter\njobs_total 3\n", err);
  REQUIRE(snap);
  CHECK_FALSE(request_stats(*snap).present);
  CHECK_FALSE(request_stats(*snap).quantile(0.95));
}

TEST_CASE("request stats: since() counts what happened after the earlier snapshot, and a reset from 0") {
  RequestStats before = stats(50, 0), after = stats(80, 20);
  RequestStats d = after.since(before);
  CHECK(d.requests == 50);
  CHECK(d.errors == 20);
  CHECK(d.buckets.back().second == 50);
  // The process reset its counters: all of the later snapshot is new.
  CHECK(stats(10, 0).since(after).requests == 10);
}

TEST_CASE("request stats: adding workers sums buckets, p95 moves to the slow bucket") {
  RequestStats fast = stats(90, 0, 0.001), slow = stats(10, 0, 0.5);
  RequestStats sum = fast;
  sum += slow;
  CHECK(sum.requests == 100);
  // 95th of 100 is the 5th of the 10 slow ones, between 100ms and 500ms.
  CHECK(*sum.quantile(0.95) == doctest::Approx(0.3));
  // Past the last finite bound: the highest finite boundary.
  RequestStats inf = stats(10, 0, 100);
  CHECK(*inf.quantile(0.95) == doctest::Approx(10));
}

TEST_CASE("canary verdict: half of the canary's requests answered 500 fails with both ratios in the text") {
  CanaryVerdict v = judge_canary(kLimits, gen(1, stats(300, 0)), gen(2, stats(50, 50)));
  CHECK(v.outcome == CanaryOutcome::Fail);
  CHECK(v.judged_by_metrics);
  REQUIRE(v.reasons.size() == 1);
  CHECK(v.reasons[0].find("5xx ratio 50.0% against 0.0%") != std::string::npos);
  CHECK(v.text().find("100 requests, 50 5xx (50.0%)") != std::string::npos);
  CHECK(v.text().find("300 requests, 0 5xx (0.0%)") != std::string::npos);
}

TEST_CASE("canary verdict: the 5xx margin is over the old generation's ratio") {
  // Old 10%, canary 14%: within 5 points.
  CHECK(judge_canary(kLimits, gen(1, stats(270, 30)), gen(2, stats(86, 14))).outcome == CanaryOutcome::Pass);
  // Old 10%, canary 16%: over.
  CHECK(judge_canary(kLimits, gen(1, stats(270, 30)), gen(2, stats(84, 16))).outcome == CanaryOutcome::Fail);
  // Exactly at the margin passes.
  CHECK(judge_canary(kLimits, gen(1, stats(100, 0)), gen(2, stats(95, 5))).outcome == CanaryOutcome::Pass);
}

TEST_CASE("canary verdict: p95 beyond max_latency_factor times the old one fails") {
  // Old: every request under 1 ms; canary: 10% at 100-500 ms.
  RequestStats slow = stats(90, 0, 0.001);
  slow += stats(10, 0, 0.5);
  CanaryVerdict v = judge_canary(kLimits, gen(1, stats(300, 0)), gen(2, slow));
  CHECK(v.outcome == CanaryOutcome::Fail);
  REQUIRE(v.reasons.size() == 1);
  CHECK(v.reasons[0].find("p95 latency 300.0ms") != std::string::npos);
  // A looser factor lets it through.
  CHECK(judge_canary({0.05, 1000}, gen(1, stats(300, 0)), gen(2, slow)).outcome == CanaryOutcome::Pass);
}

TEST_CASE("canary verdict: latency within one millisecond is resolution, not a regression") {
  // Old p95 0.95 ms; canary p95 1.0 ms: 1.05x, over a 1.01x limit, but
  // 0.05 ms apart, finer than the histogram's first bucket.
  RequestStats canary = stats(95, 0, 0.001);
  canary += stats(5, 0, 0.005);
  CHECK(*canary.quantile(0.95) == doctest::Approx(0.001));
  CHECK(judge_canary({0.05, 1.01}, gen(1, stats(100, 0)), gen(2, canary)).outcome == CanaryOutcome::Pass);
}

TEST_CASE("canary verdict: a crash or a canary slot without a ready worker fails, metrics or not") {
  CanaryVerdict crash = judge_canary(kLimits, gen(1, stats(300, 0)), gen(2, stats(100, 0), 1));
  CHECK(crash.outcome == CanaryOutcome::Fail);
  CHECK(crash.reasons.at(0) == "1 canary crash during the watch");
  CanaryVerdict unready = judge_canary(kLimits, gen(1, {}), gen(2, {}, 0, 1));
  CHECK(unready.outcome == CanaryOutcome::Fail);
  CHECK(unready.reasons.at(0).find("without a ready worker") != std::string::npos);
}

TEST_CASE("canary verdict: without request metrics it is judged by crashes and readiness, and says so") {
  CanaryVerdict v = judge_canary(kLimits, gen(1, {}), gen(2, {}));
  CHECK(v.outcome == CanaryOutcome::Pass);
  CHECK_FALSE(v.judged_by_metrics);
  CHECK(v.text().find("judged by crashes and readiness only") != std::string::npos);
  CHECK(v.text().find("no request metrics") != std::string::npos);
}

TEST_CASE("canary verdict: too few canary requests cannot fail on 5xx") {
  CanaryVerdict v = judge_canary(kLimits, gen(1, stats(300, 0)), gen(2, stats(5, 5)));
  CHECK(v.outcome == CanaryOutcome::Pass);
  CHECK_FALSE(v.judged_by_metrics);
  CHECK(v.note.find("10 requests, under the 20") != std::string::npos);
}

TEST_CASE("canary verdict: an old generation with too little traffic counts as 0% 5xx and no latency") {
  CanaryVerdict bad = judge_canary(kLimits, gen(1, stats(3, 3)), gen(2, stats(90, 10)));
  CHECK(bad.outcome == CanaryOutcome::Fail);  // 10% against 0%, not against the old 50%
  CanaryVerdict ok = judge_canary(kLimits, gen(1, stats(3, 0)), gen(2, stats(100, 0, 0.5)));
  CHECK(ok.outcome == CanaryOutcome::Pass);
  CHECK(ok.note.find("too few requests to compare latency") != std::string::npos);
}

TEST_CASE("reconcile: a canary reload replaces only the slots below replace_below") {
  using A = SlotAction;
  std::vector<SlotView> slots = {{0, true, 1, true, false}, {1, true, 1, true, false}, {2, true, 1, true, false}};
  Desired d{.instances = 3, .parallel = 3, .generation = 2, .reloading = true, .replace_below = 1};
  CHECK(reconcile(d, slots) == std::vector<Action>{{A::SpawnReplacement, 0}});
  slots[0].current_generation = 2;
  CHECK(reconcile(d, slots).empty());
  d.replace_below = std::numeric_limits<int>::max();
  CHECK(reconcile(d, slots) == std::vector<Action>{{A::SpawnReplacement, 1}, {A::SpawnReplacement, 2}});
}
