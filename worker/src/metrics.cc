#include "metrics.h"

namespace rack::worker {

namespace {

constexpr uint64_t kTickMs = 500;

const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
  return b;
}

}  // namespace

BuiltinMetrics::BuiltinMetrics(prometheus::Registry& registry)
    : duration_(prometheus::BuildHistogram()
                    .Name("http_request_duration_seconds")
                    .Help("Time from the end of the request headers to the last byte handed to the socket.")
                    .Register(registry)),
      lag_(prometheus::BuildGauge()
               .Name("rack_event_loop_lag_seconds")
               .Help("How late the worker's 500ms event-loop timer last fired.")
               .Register(registry)
               .Add({})),
      connections_(prometheus::BuildGauge()
                       .Name("rack_http_connections")
                       .Help("Client connections the worker holds.")
                       .Register(registry)
                       .Add({})) {}

BuiltinMetrics::~BuiltinMetrics() { stop(); }

void BuiltinMetrics::observe(std::string_view method, std::string_view route, int status, double seconds) {
  if (method.empty()) method = "unknown";  // the server's own 400s before a method was parsed
  if (route.empty()) route = "unmatched";
  std::string key;
  key.reserve(method.size() + route.size() + 6);
  key.append(method).append(1, '\0').append(route).append(1, '\0').append(std::to_string(status));
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    prometheus::Histogram& h = duration_.Add({{"method", std::string(method)},
                                              {"route", std::string(route)},
                                              {"status_code", std::to_string(status)}},
                                             duration_buckets());
    it = cache_.emplace(std::move(key), &h).first;
  }
  it->second->Observe(seconds);
}

void BuiltinMetrics::start(uv_loop_t* loop, std::function<std::size_t()> connections) {
  if (timer_) return;
  count_connections_ = std::move(connections);
  timer_ = new uv_timer_t;
  uv_timer_init(loop, timer_);
  timer_->data = this;
  // Never the reason the loop stays alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  last_tick_ns_ = uv_hrtime();
  uv_timer_start(timer_, on_tick, kTickMs, kTickMs);
}

void BuiltinMetrics::stop() {
  if (!timer_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer_ = nullptr;
}

void BuiltinMetrics::on_tick(uv_timer_t* t) {
  auto* self = static_cast<BuiltinMetrics*>(t->data);
  uint64_t now = uv_hrtime();
  uint64_t elapsed = now - self->last_tick_ns_;
  self->last_tick_ns_ = now;
  uint64_t expected = kTickMs * 1000000ull;
  self->lag_.Set(elapsed > expected ? static_cast<double>(elapsed - expected) / 1e9 : 0.0);
  if (self->count_connections_) self->connections_.Set(static_cast<double>(self->count_connections_()));
}

}  // namespace rack::worker
