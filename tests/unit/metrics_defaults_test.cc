// What rackd does when the config does not say: how a gauge's aggregate
// series is made (by what its name means), and the lint-safe type of a
// gauge named *_total.
#include <doctest/doctest.h>

#include <string>

#include "metrics/gauge_aggregation.h"
#include "metrics/history.h"
#include "metrics/merge.h"

using namespace rack::master;
using Aggregation = rack::config::Aggregation;

namespace {

std::string merged(const std::string& worker0, const std::string& worker1,
                   const std::map<std::string, Aggregation>& gauges = {}) {
  MetricsMerge m;
  std::string err;
  REQUIRE(m.report("web", {1, 1}, {0, 1}, worker0, err));
  REQUIRE(m.report("web", {2, 1}, {1, 1}, worker1, err));
  Exposition ex;
  m.render("web", gauges, ex);
  return ex.str();
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("metrics defaults: lags and latencies max, info/versions/limits max, start times min, counts sum") {
  CHECK(default_aggregation("nodejs_eventloop_lag_seconds") == Aggregation::Max);
  CHECK(default_aggregation("nodejs_eventloop_lag_p99_seconds") == Aggregation::Max);
  CHECK(default_aggregation("rack_event_loop_lag_seconds") == Aggregation::Max);
  CHECK(default_aggregation("backend_latency_seconds") == Aggregation::Max);
  CHECK(default_aggregation("last_request_duration_seconds") == Aggregation::Max);
  CHECK(default_aggregation("nodejs_version_info") == Aggregation::Max);
  CHECK(default_aggregation("app_build_info") == Aggregation::Max);
  CHECK(default_aggregation("process_max_fds") == Aggregation::Max);
  CHECK(default_aggregation("pool_limit") == Aggregation::Max);
  CHECK(default_aggregation("process_start_time_seconds") == Aggregation::Min);
  // Counts, sizes and in-use figures add up across workers.
  CHECK(default_aggregation("nodejs_active_handles_total") == Aggregation::Sum);
  CHECK(default_aggregation("nodejs_heap_size_used_bytes") == Aggregation::Sum);
  CHECK(default_aggregation("rack_http_connections") == Aggregation::Sum);
  CHECK(default_aggregation("cache_entries") == Aggregation::Sum);
  // "lag" and "max" as words, not inside another one.
  CHECK(default_aggregation("flagged_items") == Aggregation::Sum);
  CHECK(default_aggregation("maximizer_jobs") == Aggregation::Sum);
  // The app's config wins over the default.
  CHECK(aggregation_for({{"nodejs_eventloop_lag_seconds", Aggregation::Avg}}, "nodejs_eventloop_lag_seconds") ==
        Aggregation::Avg);
  CHECK(aggregation_for({{"other", Aggregation::Avg}}, "nodejs_eventloop_lag_seconds") == Aggregation::Max);
}

TEST_CASE("metrics defaults: the merge uses them and per-worker series stay") {
  const char* w0 =
      "# TYPE nodejs_eventloop_lag_seconds gauge\nnodejs_eventloop_lag_seconds 0.004\n"
      "# TYPE process_max_fds gauge\nprocess_max_fds 20000\n"
      "# TYPE nodejs_version_info gauge\nnodejs_version_info{version=\"v20.1.0\"} 1\n"
      "# TYPE heap_bytes gauge\nheap_bytes 100\n";
  const char* w1 =
      "# TYPE nodejs_eventloop_lag_seconds gauge\nnodejs_eventloop_lag_seconds 0.006\n"
      "# TYPE process_max_fds gauge\nprocess_max_fds 20000\n"
      "# TYPE nodejs_version_info gauge\nnodejs_version_info{version=\"v20.1.0\"} 1\n"
      "# TYPE heap_bytes gauge\nheap_bytes 50\n";
  std::string out = merged(w0, w1);
  CHECK(has_line(out, R"(nodejs_eventloop_lag_seconds{app="web"} 0.006)"));
  CHECK(has_line(out, R"(nodejs_eventloop_lag_seconds{app="web",worker="0"} 0.004)"));
  CHECK(has_line(out, R"(nodejs_eventloop_lag_seconds{app="web",worker="1"} 0.006)"));
  CHECK(has_line(out, R"(process_max_fds{app="web"} 20000)"));
  CHECK(has_line(out, R"(nodejs_version_info{app="web",version="v20.1.0"} 1)"));
  CHECK(has_line(out, R"(heap_bytes{app="web"} 150)"));
  // Configured: the old sum comes back for whoever wants it.
  std::string summed = merged(w0, w1, {{"nodejs_eventloop_lag_seconds", Aggregation::Sum}});
  CHECK(has_line(summed, R"(nodejs_eventloop_lag_seconds{app="web"} 0.01)"));
}

TEST_CASE("metrics defaults: a gauge named *_total is exposed untyped, values unchanged") {
  const char* w = "# HELP nodejs_active_handles_total Total number of active handles.\n"
                  "# TYPE nodejs_active_handles_total gauge\nnodejs_active_handles_total 3\n"
                  "# TYPE jobs_total counter\njobs_total 2\n";
  std::string out = merged(w, w);
  CHECK(out.find("# TYPE nodejs_active_handles_total untyped\n") != std::string::npos);
  CHECK(has_line(out, R"(nodejs_active_handles_total{app="web"} 6)"));
  CHECK(has_line(out, R"(nodejs_active_handles_total{app="web",worker="1"} 3)"));
  CHECK(out.find("# TYPE jobs_total counter\n") != std::string::npos);
  CHECK(has_line(out, R"(jobs_total{app="web"} 4)"));
}

TEST_CASE("resource history: keeps the last N points per slot, oldest first, and forgets slots that are gone") {
  ResourceHistory h(3);
  CHECK(h.points("web", 0).empty());
  for (int i = 1; i <= 5; ++i) h.record("web", 0, i, i * 10.0, static_cast<uint64_t>(i) * 100);
  h.record("web", 1, 9, 1.0, 1);
  auto p = h.points("web", 0);
  REQUIRE(p.size() == 3);
  CHECK(p[0].t == 3);
  CHECK(p[1].t == 4);
  CHECK(p[2].t == 5);
  CHECK(p[2].cpu_percent == 50.0);
  CHECK(p[2].rss_bytes == 500);
  CHECK(h.points("web", 1).size() == 1);
  h.keep_only({{"web", 1}});
  CHECK(h.points("web", 0).empty());
  CHECK(h.rings() == 1);
  ResourceHistory one(0);  // a capacity of 0 still keeps the latest point
  one.record("a", 0, 1, 1, 1);
  one.record("a", 0, 2, 2, 2);
  REQUIRE(one.points("a", 0).size() == 1);
  CHECK(one.points("a", 0)[0].t == 2);
}
