// prom-client's cluster answers (what a node worker sends for
// prom-client:getMetricsReq) turned into the text format rackd merges.
// The answer below is real prom-client 15 output (getMetricsAsJSON of a
// histogram, a counter, a NaN gauge and a summary).
#include <doctest/doctest.h>

#include <cmath>

#include "metrics/text.h"
#include "metrics/prom_client.h"

using namespace rack::master;
using json = nlohmann::json;

namespace {

const char* kAnswer = R"({"type":"prom-client:getMetricsRes","requestId":7,"metrics":[[
{"name":"http_seconds","help":"Latency\nin s","type":"histogram","values":[
 {"value":1,"metricName":"http_seconds_bucket","exemplar":null,"labels":{"le":0.005,"route":"/a"}},
 {"value":2,"metricName":"http_seconds_bucket","exemplar":null,"labels":{"le":0.1,"route":"/a"}},
 {"value":2,"metricName":"http_seconds_bucket","exemplar":null,"labels":{"le":"+Inf","route":"/a"}},
 {"value":0.053000000000000005,"metricName":"http_seconds_sum","labels":{"route":"/a"}},
 {"value":2,"metricName":"http_seconds_count","labels":{"route":"/a"}},
 {"value":0,"metricName":"http_seconds_bucket","exemplar":null,"labels":{"le":0.005,"route":"/b \"q\""}},
 {"value":0,"metricName":"http_seconds_bucket","exemplar":null,"labels":{"le":0.1,"route":"/b \"q\""}},
 {"value":1,"metricName":"http_seconds_bucket","exemplar":null,"labels":{"le":"+Inf","route":"/b \"q\""}},
 {"value":2,"metricName":"http_seconds_sum","labels":{"route":"/b \"q\""}},
 {"value":1,"metricName":"http_seconds_count","labels":{"route":"/b \"q\""}}],"aggregator":"sum"},
{"help":"Jobs","name":"jobs_total","type":"counter","values":[{"value":3,"labels":{"kind":"x"}},{"value":2,"labels":{}}],"aggregator":"sum"},
{"help":"Depth","name":"queue_depth","type":"gauge","values":[{"value":null,"labels":{}}],"aggregator":"sum"},
{"name":"rt","help":"rt","type":"summary","values":[{"labels":{"quantile":0.5},"value":4},
 {"metricName":"rt_sum","labels":{},"value":4},{"metricName":"rt_count","labels":{},"value":1}],"aggregator":"sum"}]]})";

MetricSnapshot convert(const json& answer) {
  std::string err;
  auto text = prom_client::to_exposition(answer, err);
  REQUIRE_MESSAGE(text, err);
  auto snap = parse_exposition(*text, err);
  REQUIRE_MESSAGE(snap, err << "\n" << *text);
  return *snap;
}

}  // namespace

TEST_CASE("prom-client: the request is prom-client's own message") {
  auto r = prom_client::request(42);
  CHECK(r["type"] == "prom-client:getMetricsReq");
  CHECK(r["requestId"] == 42);
  CHECK(prom_client::is_response(json::parse(kAnswer)));
  CHECK_FALSE(prom_client::is_response(json("ready")));
  CHECK_FALSE(prom_client::is_response(json{{"type", 5}}));
}

TEST_CASE("prom-client: every metric type of a real answer reads back with its values") {
  auto snap = convert(json::parse(kAnswer));

  const auto& h = snap.at("http_seconds");
  CHECK(h.type == MetricType::Histogram);
  CHECK(h.help == "Latency\nin s");
  const auto& a = h.series.at(R"(route="/a")");
  REQUIRE(a.buckets.size() == 3);
  CHECK(a.buckets[0] == std::pair<double, double>{0.005, 1});
  CHECK(a.buckets[1] == std::pair<double, double>{0.1, 2});
  CHECK(std::isinf(a.buckets[2].first));
  CHECK(a.buckets[2].second == 2);
  CHECK(a.sum == doctest::Approx(0.053));
  CHECK(a.count == 2);
  // A label value with quotes survives the escaping.
  CHECK(h.series.at(R"(route="/b \"q\"")").count == 1);

  const auto& c = snap.at("jobs_total");
  CHECK(c.type == MetricType::Counter);
  CHECK(c.series.at(R"(kind="x")").value == 3);
  CHECK(c.series.at("").value == 2);

  CHECK(std::isnan(snap.at("queue_depth").series.at("").value));  // NaN travels as null

  const auto& s = snap.at("rt");
  CHECK(s.type == MetricType::Summary);
  CHECK(s.series.at("").sum == 4);
  CHECK(s.series.at("").count == 1);
}

TEST_CASE("prom-client: several registries, a name in two of them counts once") {
  json answer = json::parse(kAnswer);
  json second = json::array({{{"name", "jobs_total"}, {"type", "counter"}, {"help", "again"},
                              {"values", json::array({{{"value", 100}, {"labels", json::object()}}})}},
                             {{"name", "other_total"}, {"type", "counter"}, {"help", "x"},
                              {"values", json::array({{{"value", 1}, {"labels", json::object()}}})}}});
  answer["metrics"].push_back(second);
  auto snap = convert(answer);
  CHECK(snap.at("jobs_total").series.at("").value == 2);
  CHECK(snap.at("other_total").series.at("").value == 1);
}

TEST_CASE("prom-client: an empty answer (the preload's, for apps without prom-client) is no metrics") {
  auto snap = convert({{"type", "prom-client:getMetricsRes"}, {"requestId", 1}, {"metrics", json::array()}});
  CHECK(snap.empty());
}

TEST_CASE("prom-client: errors and malformed answers are refused with the reason") {
  std::string err;
  CHECK_FALSE(prom_client::to_exposition({{"type", "prom-client:getMetricsRes"}, {"error", "boom"}}, err));
  CHECK(err.find("boom") != std::string::npos);
  CHECK_FALSE(prom_client::to_exposition({{"type", "prom-client:getMetricsRes"}, {"metrics", 3}}, err));
  CHECK(err.find("metrics") != std::string::npos);
  CHECK_FALSE(prom_client::to_exposition(
      {{"type", "prom-client:getMetricsRes"}, {"metrics", json::array({json::array({{{"help", "x"}}})})}}, err));
  CHECK(err.find("metrics[0][0]") != std::string::npos);
  CHECK_FALSE(prom_client::to_exposition(json("ready"), err));
}
