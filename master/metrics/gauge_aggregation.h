// How the aggregate series of a gauge (the one without a `worker` label)
// is made from the workers' values when the app's config does not say.
// Summing is right for counts (connections, heap bytes, handles) and wrong
// for the rest: two workers 4 ms late do not make an app 8 ms late, and two
// processes on node 20 are not version 2. The default follows the name:
//
//   lags and latencies   *lag*, *latency*, *_duration_seconds   max
//   *_info, versions     *_info, *version*                      max (all 1)
//   limits               *max*, *limit*                         max
//   start times          *_start_time_seconds                   min (earliest)
//   everything else      counts, sizes, in use                  sum
//
//   aggregation_for(cfg.gauges, "nodejs_eventloop_lag_seconds");  // Max
//   aggregation_for({{"cache_entries", Aggregation::Avg}}, "cache_entries");  // Avg: config wins
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "rack/config.h"

namespace rack::master {

config::Aggregation default_aggregation(std::string_view gauge_name);

// The app's choice when it names the gauge, else the default above.
config::Aggregation aggregation_for(const std::map<std::string, config::Aggregation>& configured,
                                    std::string_view gauge_name);

}  // namespace rack::master
