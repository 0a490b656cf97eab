// MetricsMerge: parsing the workers' text, merging it, and the rules that
// keep merged counters from going backwards. No sockets: registries built
// with prometheus-cpp, as a rack worker has them.
#include <doctest/doctest.h>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <random>
#include <set>
#include <sstream>

#include "metrics.h"  // worker/src: the worker's metrics_text
#include "metrics/merge.h"

using namespace rack::master;
using Aggregation = rack::config::Aggregation;

namespace {

const prometheus::Histogram::BucketBoundaries kBuckets{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};

// A stand-in for one worker's registry.
struct FakeWorker {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter().Name("hello_requests_total").Help("Requests to /count.").Register(registry);
  prometheus::Family<prometheus::Histogram>& duration = prometheus::BuildHistogram()
                                                            .Name("http_request_duration_seconds")
                                                            .Help("Request duration.")
                                                            .Register(registry);
  prometheus::Family<prometheus::Gauge>& connections =
      prometheus::BuildGauge().Name("rack_http_connections").Help("Connections held.").Register(registry);

  void count(double n = 1) { requests.Add({}).Increment(n); }
  void observe(const std::string& route, const std::string& status, double seconds) {
    duration.Add({{"method", "GET"}, {"route", route}, {"status_code", status}}, kBuckets).Observe(seconds);
  }
  std::string text() { return prometheus::TextSerializer().Serialize(registry.Collect()); }
};

// Sample name + labels (as printed) → value, from an exposition.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

// What promtool's parser insists on: each family's HELP and TYPE once,
// before its samples, and its samples together.
void check_well_formed(const std::string& text) {
  std::istringstream in(text);
  std::string line, current;
  std::set<std::string> seen_help, seen_type, closed;
  std::map<std::string, std::string> types;
  std::set<std::string> series;
  while (std::getline(in, line)) {
    REQUIRE(!line.empty());
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      std::string rest = line.substr(7);
      std::string name = rest.substr(0, rest.find(' '));
      auto& seen = line[2] == 'H' ? seen_help : seen_type;
      CHECK_MESSAGE(seen.insert(name).second, "second " << line.substr(2, 4) << " for " << name);
      if (line[2] == 'T') types[name] = rest.substr(rest.find(' ') + 1);
      if (name != current) {
        if (!current.empty()) closed.insert(current);
        CHECK_MESSAGE(!closed.count(name), name << " is not contiguous");
        current = name;
      }
      continue;
    }
    std::string sample = line.substr(0, line.rfind(' '));
    CHECK_MESSAGE(series.insert(sample).second, "duplicate series " << sample);
    std::string name = sample.substr(0, sample.find('{'));
    std::string family = name;
    if (!types.count(family)) {
      for (std::string suffix : {"_bucket", "_sum", "_count"})
        if (name.size() > suffix.size() && name.ends_with(suffix) && types.count(name.substr(0, name.size() - suffix.size())))
          family = name.substr(0, name.size() - suffix.size());
    }
    CHECK_MESSAGE(family == current, "sample " << sample << " outside its family " << current);
  }
}

std::string render(const MetricsMerge& m, const std::string& app, std::map<std::string, Aggregation> gauges = {}) {
  Exposition ex;
  m.render(app, gauges, ex);
  return ex.str();
}

double value(const std::string& text, const std::string& sample) {
  auto s = samples(text);
  auto it = s.find(sample);
  if (it == s.end()) FAIL("no sample " << sample << " in\n" << text);
  return it->second;
}

bool report(MetricsMerge& m, const std::string& app, ProcessKey k, int slot, uint64_t gen, const std::string& text) {
  std::string err;
  bool ok = m.report(app, k, {slot, gen}, text, err);
  if (!ok) MESSAGE(err);
  return ok;
}

}  // namespace

TEST_CASE("metrics: parses what prometheus-cpp writes") {
  prometheus::Registry r;
  prometheus::BuildCounter().Name("jobs_total").Help("Jobs \\ done.").Register(r).Add({{"kind", "a\"b"}}).Increment(3);
  prometheus::BuildGauge().Name("temp_celsius").Help("T.").Register(r).Add({}).Set(-1.5);
  prometheus::BuildHistogram().Name("lat_seconds").Help("L.").Register(r).Add({{"route", "/x"}}, kBuckets).Observe(0.02);
  prometheus::BuildSummary().Name("size_bytes").Help("S.").Register(r)
      .Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}, {0.9, 0.01}}).Observe(7);
  std::string err;
  auto snap = parse_exposition(prometheus::TextSerializer().Serialize(r.Collect()), err);
  REQUIRE_MESSAGE(snap, err);
  CHECK(snap->at("jobs_total").type == MetricType::Counter);
  CHECK(snap->at("jobs_total").help == "Jobs \\ done.");
  CHECK(snap->at("jobs_total").series.at(R"(kind="a\"b")").value == 3);
  CHECK(snap->at("temp_celsius").series.at("").value == -1.5);
  const MetricPoint& h = snap->at("lat_seconds").series.at(R"(route="/x")");
  CHECK(h.count == 1);
  CHECK(h.sum == doctest::Approx(0.02));
  REQUIRE(h.buckets.size() == kBuckets.size() + 1);
  CHECK(h.buckets[2] == std::pair<double, double>{0.01, 0});
  CHECK(h.buckets[3] == std::pair<double, double>{0.05, 1});
  CHECK(std::isinf(h.buckets.back().first));
  const MetricPoint& s = snap->at("size_bytes").series.at("");
  CHECK(s.count == 1);
  CHECK(s.buckets.size() == 2);
}

TEST_CASE("metrics: parser handles untyped, timestamps, escapes, +Inf/NaN, and rejects garbage") {
  std::string err;
  auto snap = parse_exposition(
      "# a comment\n"
      "plain{a=\"x\\\\y\\n\", b = \"2\"} 4 1700000000000\r\n"
      "\n"
      "# TYPE g gauge\n"
      "g +Inf\n"
      "g{k=\"v\"} NaN\n"
      "# TYPE app_info gauge\n"
      "app_info{app=\"mine\",worker=\"w\"} 1\n",
      err);
  REQUIRE_MESSAGE(snap, err);
  CHECK(snap->at("plain").type == MetricType::Untyped);
  CHECK(snap->at("plain").series.count(R"(a="x\\y\n",b="2")") == 1);
  CHECK(std::isinf(snap->at("g").series.at("").value));
  CHECK(std::isnan(snap->at("g").series.at(R"(k="v")").value));
  // A worker's own app/worker labels would clash with the ones rackd adds.
  CHECK(snap->at("app_info").series.count(R"(exported_app="mine",exported_worker="w")") == 1);

  for (const char* bad : {"x{a=\"1\" 2\n", "x 1two\n", "# TYPE x nonsense\n", "x{a=\"1\",a=\"2\"} 1\n",
                          "{a=\"1\"} 2\n", "# TYPE h histogram\nh 1\n"}) {
    CAPTURE(bad);
    CHECK(!parse_exposition(bad, err));
    CHECK(err.rfind("line ", 0) == 0);
  }
}

TEST_CASE("metrics: histogram merge equals the sum of the workers' histograms, bucket by bucket") {
  std::mt19937 rng(42);
  std::exponential_distribution<double> secs(20);  // mean 50 ms: spreads over the buckets
  std::vector<std::unique_ptr<FakeWorker>> workers;
  MetricsMerge m;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(std::make_unique<FakeWorker>());
    for (int n = 0; n < 200 + 50 * i; ++n) workers[i]->observe(n % 3 ? "/count" : "/", n % 7 ? "200" : "500", secs(rng));
    REQUIRE(report(m, "web", {static_cast<uint64_t>(i + 1), 0}, i, 1, workers[i]->text()));
  }
  std::string merged = render(m, "web");
  check_well_formed(merged);
  auto got = samples(merged);

  // Expected: every worker's sample, `app` label added, values summed.
  std::map<std::string, double> want;
  for (auto& w : workers) {
    for (auto& [sample, v] : samples(w->text())) {
      if (sample.rfind("http_request_duration_seconds", 0) != 0) continue;
      auto brace = sample.find('{');
      std::string s = sample.substr(0, brace) + "{app=\"web\"," + sample.substr(brace + 1);
      // le as rackd prints it: shortest form ("0.001", "1", "+Inf").
      auto le = s.find("le=\"");
      if (le != std::string::npos) {
        auto end = s.find('"', le + 4);
        std::string bound = s.substr(le + 4, end - le - 4);
        s = s.substr(0, le + 4) + format_value(bound == "+Inf" ? INFINITY : std::stod(bound)) + s.substr(end);
      }
      want[s] += v;
    }
  }
  REQUIRE(want.size() > 20);
  for (auto& [s, v] : want) {
    const std::string& sample = s;  // clang 14 cannot capture a structured binding
    CAPTURE(sample);
    REQUIRE(got.count(s));
    CHECK(got[s] == doctest::Approx(v));
  }
  // And nothing else: 4 label sets x (10 buckets + _sum + _count).
  std::size_t merged_samples = 0;
  for (auto& [s, v] : got) merged_samples += s.rfind("http_request_duration_seconds", 0) == 0;
  CHECK(merged_samples == want.size());
  CHECK(want.size() == 4 * 12);
}

TEST_CASE("metrics: merged counters never go backwards across crash, reload and scale-down") {
  MetricsMerge m;
  std::vector<std::unique_ptr<FakeWorker>> w;
  for (int i = 0; i < 5; ++i) w.push_back(std::make_unique<FakeWorker>());
  double served = 0, last = 0;
  auto scrape = [&](const char* when) {
    std::string text = render(m, "web");
    check_well_formed(text);
    double v = value(text, R"(hello_requests_total{app="web"})");
    CHECK_MESSAGE(v >= last, when << ": " << v << " after " << last);
    last = v;
    return v;
  };
  auto serve = [&](int i, int n, ProcessKey k, int slot, uint64_t gen) {
    w[i]->count(n);
    served += n;
    REQUIRE(report(m, "web", k, slot, gen, w[i]->text()));
  };
  // Four workers, slots 0-3, generation 1.
  for (int i = 0; i < 4; ++i) serve(i, 10 * (i + 1), {uint64_t(i + 1), 100}, i, 1);
  CHECK(scrape("start") == served);

  // Slot 1 crashes: no final snapshot; the record restarts in place (same
  // worker id, new start time) and counts from zero again.
  m.retire_except("web", {{1, 100}, {3, 100}, {4, 100}});
  CHECK(scrape("after crash") == served);
  w[1] = std::make_unique<FakeWorker>();
  serve(1, 5, {2, 200}, 1, 1);
  CHECK(scrape("restarted") == served);

  // Reload slot 0: the replacement (generation 2) runs next to the old one,
  // which sends its final snapshot and exits.
  serve(4, 7, {5, 300}, 0, 2);
  CHECK(scrape("both on slot 0") == served);
  serve(0, 3, {1, 100}, 0, 1);  // the final snapshot carries the last requests
  m.retire("web", {1, 100});
  CHECK(scrape("old gone") == served);

  // Scale down: slots 2 and 3 drain and exit.
  serve(2, 1, {3, 100}, 2, 1);
  m.retire("web", {3, 100});
  m.retire("web", {4, 100});
  CHECK(scrape("scaled down") == served);
  CHECK(m.processes("web") == 2);

  m.retire("web", {99, 0});  // unknown: no-op
  CHECK(scrape("unknown retire") == served);
}

TEST_CASE("metrics: a series a worker stops reporting keeps its last value") {
  MetricsMerge m;
  REQUIRE(report(m, "a", {1, 0}, 0, 1, "# TYPE jobs_total counter\njobs_total{kind=\"x\"} 5\njobs_total{kind=\"y\"} 2\n"));
  REQUIRE(report(m, "a", {1, 0}, 0, 1, "# TYPE jobs_total counter\njobs_total{kind=\"y\"} 3\n"));
  auto text = render(m, "a");
  CHECK(value(text, R"(jobs_total{app="a",kind="x"})") == 5);
  CHECK(value(text, R"(jobs_total{app="a",kind="y"})") == 3);
  // Unparsable text keeps the previous snapshot.
  std::string err;
  CHECK(!m.report("a", {1, 0}, {0, 1}, "jobs_total{kind= 1\n", err));
  CHECK(value(render(m, "a"), R"(jobs_total{app="a",kind="y"})") == 3);
}

TEST_CASE("metrics: a worker that resets its own counters (resetMetrics) does not make the merged ones go back") {
  MetricsMerge m;
  auto counter = [](int v) { return "# TYPE jobs_total counter\njobs_total " + std::to_string(v) + "\n"; };
  auto histogram = [](int le1, int inf, double sum) {
    return "# TYPE lat_seconds histogram\nlat_seconds_bucket{le=\"1\"} " + std::to_string(le1) +
           "\nlat_seconds_bucket{le=\"+Inf\"} " + std::to_string(inf) + "\nlat_seconds_sum " + std::to_string(sum) +
           "\nlat_seconds_count " + std::to_string(inf) + "\n";
  };
  REQUIRE(report(m, "a", {1, 0}, 0, 1, counter(10) + histogram(4, 6, 3.0)));
  REQUIRE(report(m, "a", {2, 0}, 1, 1, counter(1)));
  CHECK(value(render(m, "a"), R"(jobs_total{app="a"})") == 11);
  REQUIRE(report(m, "a", {1, 0}, 0, 1, counter(3) + histogram(1, 1, 0.5)));  // reset, then 3 more
  auto text = render(m, "a");
  CHECK(value(text, R"(jobs_total{app="a"})") == 14);
  CHECK(value(text, R"(lat_seconds_bucket{app="a",le="1"})") == 5);
  CHECK(value(text, R"(lat_seconds_bucket{app="a",le="+Inf"})") == 7);
  CHECK(value(text, R"(lat_seconds_count{app="a"})") == 7);
  CHECK(value(text, R"(lat_seconds_sum{app="a"})") == 3.5);
  REQUIRE(report(m, "a", {1, 0}, 0, 1, counter(5) + histogram(1, 2, 0.7)));  // counting on
  text = render(m, "a");
  CHECK(value(text, R"(jobs_total{app="a"})") == 16);
  CHECK(value(text, R"(lat_seconds_count{app="a"})") == 8);
  m.retire("a", {1, 0});  // and its exit keeps the sum
  CHECK(value(render(m, "a"), R"(jobs_total{app="a"})") == 16);
}

TEST_CASE("metrics: gauges per worker and aggregated by the configured function") {
  MetricsMerge m;
  for (int slot = 0; slot < 3; ++slot) {
    std::string t = "# HELP q_depth Queue.\n# TYPE q_depth gauge\nq_depth " + std::to_string(10 * (slot + 1)) +
                    "\n# TYPE temp gauge\ntemp{room=\"a\"} " + std::to_string(slot + 1) + "\n";
    REQUIRE(report(m, "web", {uint64_t(slot + 1), 0}, 2 - slot, 1, t));  // slots 2,1,0
  }
  auto text = render(m, "web");
  check_well_formed(text);
  CHECK(value(text, R"(q_depth{app="web"})") == 60);  // sum by default
  CHECK(value(text, R"(q_depth{app="web",worker="2"})") == 10);
  CHECK(value(text, R"(q_depth{app="web",worker="0"})") == 30);
  CHECK(value(text, R"(temp{app="web",room="a"})") == 6);
  CHECK(value(text, R"(temp{app="web",room="a",worker="1"})") == 2);

  auto with = [&](Aggregation a) { return value(render(m, "web", {{"q_depth", a}}), R"(q_depth{app="web"})"); };
  CHECK(with(Aggregation::Min) == 10);
  CHECK(with(Aggregation::Max) == 30);
  CHECK(with(Aggregation::Avg) == 20);
  CHECK(with(Aggregation::First) == 30);  // the lowest slot's value
  CHECK(with(Aggregation::Sum) == 60);

  // Gauges of exited workers go away; nothing is retired for them.
  m.retire("web", {1, 0});
  text = render(m, "web");
  CHECK(value(text, R"(q_depth{app="web"})") == 50);
  CHECK(samples(text).count(R"(q_depth{app="web",worker="2"})") == 0);
}

TEST_CASE("metrics: two processes on one slot (mid-reload) give one worker series, the newest") {
  MetricsMerge m;
  REQUIRE(report(m, "web", {1, 0}, 0, 1, "# TYPE conns gauge\nconns 4\n# TYPE n_total counter\nn_total 10\n"));
  REQUIRE(report(m, "web", {7, 0}, 0, 2, "# TYPE conns gauge\nconns 1\n# TYPE n_total counter\nn_total 2\n"));
  auto text = render(m, "web");
  check_well_formed(text);
  CHECK(value(text, R"(conns{app="web",worker="0"})") == 1);
  CHECK(value(text, R"(n_total{app="web"})") == 12);
}

TEST_CASE("metrics: buckets that differ between workers merge cumulatively") {
  MetricsMerge m;
  REQUIRE(report(m, "a", {1, 0}, 0, 1,
                 "# TYPE d histogram\nd_bucket{le=\"1\"} 2\nd_bucket{le=\"+Inf\"} 3\nd_sum 4\nd_count 3\n"));
  REQUIRE(report(m, "a", {2, 0}, 1, 2,
                 "# TYPE d histogram\nd_bucket{le=\"0.5\"} 1\nd_bucket{le=\"2\"} 4\nd_bucket{le=\"+Inf\"} 5\n"
                 "d_sum 6\nd_count 5\n"));
  auto text = render(m, "a");
  check_well_formed(text);
  CHECK(value(text, R"(d_bucket{app="a",le="0.5"})") == 1);      // 0 + 1
  CHECK(value(text, R"(d_bucket{app="a",le="1"})") == 3);        // 2 + 1 (its count at 0.5)
  CHECK(value(text, R"(d_bucket{app="a",le="2"})") == 6);        // 2 + 4
  CHECK(value(text, R"(d_bucket{app="a",le="+Inf"})") == 8);
  CHECK(value(text, R"(d_count{app="a"})") == 8);
  CHECK(value(text, R"(d_sum{app="a"})") == 10);
  // Retiring one keeps every bucket where it was.
  m.retire("a", {1, 0});
  CHECK(samples(render(m, "a")) == samples(text));
  m.retire("a", {2, 0});
  CHECK(samples(render(m, "a")) == samples(text));
}

TEST_CASE("metrics: summaries: sums and counts merge, quantiles stay per worker") {
  MetricsMerge m;
  for (int i = 0; i < 2; ++i)
    REQUIRE(report(m, "a", {uint64_t(i + 1), 0}, i, 1,
                   "# TYPE s summary\ns{quantile=\"0.5\"} " + std::to_string(i + 1) + "\ns_sum 10\ns_count 4\n"));
  auto text = render(m, "a");
  check_well_formed(text);
  CHECK(value(text, R"(s{app="a",worker="1",quantile="0.5"})") == 2);
  CHECK(value(text, R"(s_count{app="a"})") == 8);
  m.retire("a", {1, 0});
  text = render(m, "a");
  CHECK(value(text, R"(s_count{app="a"})") == 8);
  CHECK(samples(text).count(R"(s{app="a",worker="0",quantile="0.5"})") == 0);
}

TEST_CASE("metrics: apps share families, rackd's own families cannot be added to") {
  MetricsMerge m;
  REQUIRE(report(m, "a", {1, 0}, 0, 1, "# TYPE n_total counter\nn_total 1\n# TYPE process_open_fds gauge\nprocess_open_fds 3\n"));
  REQUIRE(report(m, "b", {2, 0}, 0, 1, "# TYPE n_total counter\nn_total 2\n# TYPE x counter\nx 1\n"));
  REQUIRE(report(m, "c", {3, 0}, 0, 1, "# TYPE x gauge\nx 5\n"));
  Exposition ex;
  ex.family("process_open_fds", MetricType::Gauge, "Open fds.", true)->sample(R"(app="rackd")", 9);
  std::size_t skipped = 0;
  for (auto app : {"a", "b", "c"}) m.render(app, {}, ex, &skipped);
  std::string text = ex.str();
  check_well_formed(text);
  CHECK(skipped == 2);  // a's process_open_fds, c's gauge x (b made it a counter first)
  CHECK(value(text, R"(n_total{app="a"})") == 1);
  CHECK(value(text, R"(n_total{app="b"})") == 2);
  CHECK(value(text, R"(process_open_fds{app="rackd"})") == 9);
  CHECK(samples(text).count(R"(process_open_fds{app="a"})") == 0);
  m.forget("a");
  CHECK(m.apps() == std::vector<std::string>{"b", "c"});
}

TEST_CASE("metrics: format_value and label_pair") {
  CHECK(format_value(1) == "1");
  CHECK(format_value(0.005) == "0.005");
  CHECK(format_value(1e21) == "1e+21");
  CHECK(format_value(INFINITY) == "+Inf");
  CHECK(format_value(-INFINITY) == "-Inf");
  CHECK(format_value(NAN) == "NaN");
  CHECK(label_pair("k", "a\"b\\c\nd") == R"(k="a\"b\\c\nd")");
}

TEST_CASE("metrics: label order, interleaved families and escapes give one canonical series") {
  std::string err;
  auto snap = parse_exposition(
      "# TYPE h histogram\n"
      "h_bucket{le=\"1\",b=\"x\",a=\"y\"} 1\n"
      "# TYPE c counter\n"
      "c{z=\"1\",a=\"q\\\"r\"} 2\n"
      "h_bucket{a=\"y\",le=\"+Inf\",b=\"x\"} 3\n"
      "h_count{b=\"x\",a=\"y\"} 3\n"
      "h_sum{a=\"y\",b=\"x\"} 0.5\n"
      "c{a=\"q\\\"r\",z=\"1\"} 5\n"
      "c{a=\"k\",z=\"1\"} 1\n",
      err);
  REQUIRE_MESSAGE(snap, err);
  REQUIRE(snap->at("h").series.size() == 1);
  const MetricPoint& h = snap->at("h").series.at(R"(a="y",b="x")");
  CHECK(h.buckets.size() == 2);
  CHECK(h.count == 3);
  CHECK(h.sum == 0.5);
  auto& c = snap->at("c").series;
  CHECK(c.size() == 2);
  CHECK(c.at(R"(a="q\"r",z="1")").value == 5);  // the later sample of a label set wins
  CHECK(c.at(R"(a="k",z="1")").value == 1);
}

TEST_CASE("metrics: a bucket bound given twice is one bucket, a NaN bound is an error") {
  std::string err;
  auto snap = parse_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 2\nh_bucket{le=\"+Inf\"} 2\n", err);
  REQUIRE_MESSAGE(snap, err);
  auto& b = snap->at("h").series.at("").buckets;
  REQUIRE(b.size() == 2);
  CHECK(b[0] == std::pair<double, double>{1, 2});
  CHECK(!parse_exposition("# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n", err));
}

TEST_CASE("metrics: read_values takes a text with the same lines and other values, nothing else") {
  std::string err;
  LineMap map;
  const std::string text = "# TYPE c counter\nc{k=\"a\"} 1\nc{k=\"b\"}  2 1700000000\n\n# TYPE g gauge\ng 5\r\n";
  auto snap = parse_exposition(text, err, {.lines = &map});
  REQUIRE_MESSAGE(snap, err);
  CHECK(map.usable);
  std::vector<double> v;
  REQUIRE(read_values(map, text, v));
  CHECK(v == std::vector<double>{1, 2, 5});
  REQUIRE(read_values(map, "# TYPE c counter\nc{k=\"a\"} 10\nc{k=\"b\"}  +Inf 1700000001\n\n# TYPE g gauge\ng -0.5\r\n", v));
  CHECK(v[0] == 10);
  CHECK(std::isinf(v[1]));
  CHECK(v[2] == -0.5);
  for (const char* other : {
           "# TYPE c counter\nc{k=\"z\"} 1\nc{k=\"b\"}  2\n\n# TYPE g gauge\ng 5\r\n",             // a label value
           "# TYPE c counter\nc{k=\"a\"} 1\nc{k=\"b\"} 2\n\n# TYPE g gauge\ng 5\r\n",              // spacing
           "# TYPE c counter\nc{k=\"a\"} 1\nc{k=\"b\"}  2\n\n# TYPE g gauge\ng 5\r\ng{x=\"1\"} 1\n",  // a line more
           "# TYPE c counter\nc{k=\"a\"} 1\nc{k=\"b\"}  2\n\n# TYPE g gauge\n",                    // a line less
           "# TYPE c counter\nc{k=\"a\"} 1x\nc{k=\"b\"}  2\n\n# TYPE g gauge\ng 5\r\n",            // a bad value
           "# TYPE c gauge\nc{k=\"a\"} 1\nc{k=\"b\"}  2\n\n# TYPE g gauge\ng 5\r\n",               // a TYPE
       }) {
    CAPTURE(other);
    CHECK(!read_values(map, other, v));
  }
  // A histogram without its +Inf line has a bucket made from _count: its
  // values alone do not say it.
  REQUIRE(parse_exposition("# TYPE d histogram\nd_bucket{le=\"1\"} 1\nd_count 2\n", err, {.lines = &map}));
  CHECK(!map.usable);
}

TEST_CASE("metrics: parsing only one family skips the others unread") {
  std::string err;
  auto snap = parse_exposition("# TYPE a counter\na{x=\"1\"} 1\nbroken{ 1\n# TYPE http_request_duration_seconds histogram\n"
                               "http_request_duration_seconds_bucket{le=\"+Inf\"} 2\nhttp_request_duration_seconds_count 2\n",
                               err, {.only = "http_request_duration_seconds"});
  REQUIRE_MESSAGE(snap, err);
  CHECK(snap->size() == 1);
  CHECK(snap->at("http_request_duration_seconds").series.at("").count == 2);
}

TEST_CASE("metrics: reports with last time's lines are read by value and merge as full parses do") {
  // `full` gets every text with a comment line of its own appended, so it
  // parses each one in full; `fast` reads values where it can. Both must
  // render the same bytes through changing values, new label sets, resets,
  // restarts and reloads.
  MetricsMerge fast, full;
  std::mt19937 rng(7);
  std::vector<std::unique_ptr<FakeWorker>> w;
  std::vector<ProcessKey> key;
  std::vector<uint64_t> gen(3, 1);
  int64_t started = 0, seq = 0;
  for (int i = 0; i < 3; ++i) {
    w.push_back(std::make_unique<FakeWorker>());
    key.push_back({uint64_t(i + 1), ++started});
  }
  const std::map<std::string, Aggregation> gauges{{"rack_http_connections", Aggregation::Max}};
  for (int round = 0; round < 200; ++round) {
    int i = static_cast<int>(rng() % 3), event = static_cast<int>(rng() % 40);
    FakeWorker& fw = *w[i];
    if (event < 34) {  // traffic: values move, lines stay
      fw.count(rng() % 4);
      fw.observe(rng() % 2 ? "/" : "/count", "200", (rng() % 100) / 1000.0);
      fw.connections.Add({}).Set(static_cast<double>(rng() % 9));
    } else if (event < 36) {  // a new label set
      fw.observe("/r" + std::to_string(rng() % 5), rng() % 2 ? "200" : "503", 0.002);
    } else if (event == 36) {  // the process resets its counters
      w[i] = std::make_unique<FakeWorker>();
    } else {  // a restart, or a reload's new process on the slot
      for (MetricsMerge* m : {&fast, &full}) m->retire("web", key[i]);
      if (event > 37) ++gen[i];
      key[i] = {key[i].worker + 10, ++started};
      w[i] = std::make_unique<FakeWorker>();
    }
    std::string text = w[i]->text();
    REQUIRE(report(fast, "web", key[i], i, gen[i], text));
    REQUIRE(report(full, "web", key[i], i, gen[i], text + "# report " + std::to_string(++seq) + "\n"));
    if (round % 3) continue;
    std::string got = render(fast, "web", gauges);
    CHECK(got == render(full, "web", gauges));
    check_well_formed(got);
  }
  CHECK(full.full_parses() == 200);
  MESSAGE(fast.full_parses() << " of 200 reports parsed in full");
  CHECK(fast.full_parses() < 100);  // most reports only moved values
}

TEST_CASE("metrics: a worker's text says what prometheus-cpp's serializer says") {
  prometheus::Registry r;
  auto& jobs = prometheus::BuildCounter().Name("jobs_total").Help("Jobs \\ done.").Register(r);
  jobs.Add({{"kind", "a\"b\\c\nd"}, {"app", "mine"}}).Increment(3);
  jobs.Add({}).Increment(0.1);
  prometheus::BuildGauge().Name("temp_celsius").Help("").Register(r).Add({{"room", "x"}}).Set(-1.5e-7);
  auto& lat = prometheus::BuildHistogram().Name("lat_seconds").Help("L.").Register(r);
  for (double v : {0.0004, 0.02, 3.0, 99.0}) lat.Add({{"route", "/x"}}, kBuckets).Observe(v);
  lat.Add({{"route", "/y"}}, prometheus::Histogram::BucketBoundaries{}).Observe(1);
  prometheus::BuildSummary().Name("size_bytes").Help("S.").Register(r)
      .Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}, {0.99, 0.001}}).Observe(7);
  std::string err;
  auto want = parse_exposition(prometheus::TextSerializer().Serialize(r.Collect()), err);
  REQUIRE_MESSAGE(want, err);
  std::string text = rack::worker::metrics_text(r);
  auto got = parse_exposition(text, err);
  REQUIRE_MESSAGE(got, err);
  REQUIRE(got->size() == want->size());
  for (auto& [name, w] : *want) {
    const std::string& family = name;  // clang 14 cannot capture a structured binding
    CAPTURE(family);
    const MetricFamily& g = got->at(name);
    CHECK(g.type == w.type);
    CHECK(g.help == w.help);
    REQUIRE(g.series.size() == w.series.size());
    for (auto& [key, p] : w.series) {
      const auto& series = key;
      CAPTURE(series);
      REQUIRE(g.series.count(key));
      const MetricPoint& q = g.series.at(key);
      CHECK(q.value == p.value);
      CHECK(q.sum == p.sum);
      CHECK(q.count == p.count);
      CHECK(q.buckets == p.buckets);
    }
  }
  check_well_formed(text);
}
