// prom-client's cluster protocol, spoken by rackd to `protocol: node`
// workers so that an app using prom-client gets cluster-wide metrics the way
// its AggregatorRegistry would collect them, merged like rack workers'.
//
//   node_channel.send(prom_client::request(seq));
//   // the worker answers {type: "prom-client:getMetricsRes", requestId, metrics}
//   std::string err;
//   if (auto text = prom_client::to_exposition(answer, err)) merge(*text);
//
// `metrics` is one array per registry, each what registry.getMetricsAsJSON()
// returns: [{name, help, type, values: [{value, labels, metricName?}],
// aggregator}]. Histograms carry their buckets, _sum and _count as values
// with metricName name_bucket (labels.le), name_sum, name_count; summaries
// their quantiles (labels.quantile) and name_sum, name_count. NaN and
// infinities travel as null over node's JSON channel.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace rack::master::prom_client {

inline constexpr const char* kRequest = "prom-client:getMetricsReq";
inline constexpr const char* kResponse = "prom-client:getMetricsRes";

nlohmann::json request(uint64_t id);

// True for a message that is prom-client's answer.
bool is_response(const nlohmann::json& message);

// The answer as the Prometheus text format. nullopt and `error` when the
// worker reported an error or the answer is malformed (it names the part).
std::optional<std::string> to_exposition(const nlohmann::json& answer, std::string& error);

}  // namespace rack::master::prom_client
