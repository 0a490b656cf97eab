// The worker's built-in metrics (DESIGN.md "Metrics and health"), kept in
// the same prometheus-cpp registry as the app's own. Internal to rack_worker.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace rack::worker {

class BuiltinMetrics {
 public:
  explicit BuiltinMetrics(prometheus::Registry& registry);
  ~BuiltinMetrics();

  // route: the matched pattern; "" becomes "unmatched" (keeps the label set
  // bounded whatever paths clients try).
  void observe(std::string_view method, std::string_view route, int status, double seconds);

  // Event-loop lag: a 500 ms repeating timer measures how late it fires.
  // `connections` is sampled on the same tick.
  void start(uv_loop_t* loop, std::function<std::size_t()> connections);
  void stop();

 private:
  static void on_tick(uv_timer_t* t);

  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Gauge& lag_;
  prometheus::Gauge& connections_;
  std::function<std::size_t()> count_connections_;
  // Family::Add hashes the label map under a mutex; the handful of label
  // sets a worker sees are looked up here instead.
  std::unordered_map<std::string, prometheus::Histogram*> cache_;
  uv_timer_t* timer_ = nullptr;  // heap: closed asynchronously
  uint64_t last_tick_ns_ = 0;
};

// The registry in Prometheus text exposition format.
std::string metrics_text(prometheus::Registry& registry);

}  // namespace rack::worker
