// What a worker's request histogram says about the requests it served:
// how many, how many were 5xx, and the latency distribution. Pure: the
// input is a parsed exposition (metrics/text.h).
//
//   std::string err;
//   auto snap = parse_exposition(text_from_worker, err);
//   RequestStats now = request_stats(*snap);
//   RequestStats during = now.since(at_start);     // what happened in between
//   during.requests;           // 128
//   during.errors;             // 5xx among them
//   during.quantile(0.95);     // seconds, like Prometheus' histogram_quantile
//
// The histogram is `http_request_duration_seconds` (rack's worker runtime;
// node apps that define it with prom-client). The status is read from the
// label `status_code`, `code` or `status`, whichever the series has (the
// names prom-client examples and express-prom-bundle use).
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "metrics/text.h"

namespace rack::master {

inline constexpr const char* kRequestHistogram = "http_request_duration_seconds";

struct RequestStats {
  bool present = false;  // the worker exports the histogram at all
  double requests = 0;
  double errors = 0;     // status 500-599
  // (le, cumulative count) ascending, +Inf last; the union of the
  // boundaries of whatever was added together.
  std::vector<std::pair<double, double>> buckets;

  // Adds another process's (or label set's) stats.
  RequestStats& operator+=(const RequestStats& other);
  // What was counted after `earlier` (an older snapshot of the same
  // process). A counter that went down (the process reset it) counts from 0.
  RequestStats since(const RequestStats& earlier) const;
  // Prometheus' histogram_quantile: linear within the bucket the rank falls
  // in; the highest finite boundary when it falls in +Inf. nullopt with no
  // requests or no buckets.
  std::optional<double> quantile(double q) const;
  double error_ratio() const { return requests > 0 ? errors / requests : 0; }
};

RequestStats request_stats(const MetricSnapshot& snapshot);

}  // namespace rack::master
