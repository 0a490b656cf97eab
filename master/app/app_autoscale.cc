// ManagedApp's side of autoscaling (the decision is app/autoscale.h): once a
// second, after the /proc sample, the figures of the app's ready workers
// go to its Autoscaler, and what it decides goes through scale(), so a
// scale-down drains like any other.
//
//   busy     each ready worker's main thread (the event loop of rack and
//            node workers): time on a CPU plus time waiting for one, over
//            wall time since the last sample (/proc/<pid>/schedstat, capped
//            at 1), so a loop that has work but no CPU on a saturated host
//            counts as busy, not idle. CPU time alone would say 25% for
//            a loop with a queue of requests on a host 4x oversubscribed.
//   queue    connections waiting in rackd for a worker
//   latency  p95 of http_request_duration_seconds over what the workers
//            counted since their previous answer (rack and node workers
//            are asked once a second while the target is latency_p95)
//
// `rackctl scale` is a manual override: autoscaling stops for the app
// until `rackctl scale <app> auto`.
#include <algorithm>
#include <cstdio>
#include <fstream>

#include <spdlog/spdlog.h>

#include "app/app.h"
#include "metrics/text.h"

namespace rack::master {

namespace {

// A window with fewer requests says nothing about a p95.
constexpr double kMinWindowRequests = 20;

// Nanoseconds the main thread of `pid` ran plus waited to run (the first
// two fields of schedstat), or nullopt.
std::optional<uint64_t> run_and_wait_ns(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/schedstat", static_cast<int>(pid));
  std::ifstream f(path);
  unsigned long long run = 0, wait = 0;
  if (!(f >> run >> wait)) return std::nullopt;
  return run + wait;
}

}  // namespace

std::optional<double> ManagedApp::busy_of(Worker& w, Clock::time_point now) {
  auto ns = run_and_wait_ns(w.pid());
  if (!ns) return std::nullopt;
  auto key = std::make_pair(static_cast<uint64_t>(w.id()), w.started_at());
  auto [it, fresh] = busy_last_.try_emplace(key, *ns, now);
  auto [prev_ns, prev_at] = it->second;
  it->second = {*ns, now};
  double wall = std::chrono::duration<double>(now - prev_at).count();
  if (fresh || wall <= 0 || *ns < prev_ns) return std::nullopt;
  return std::min(1.0, static_cast<double>(*ns - prev_ns) / 1e9 / wall);
}

void ManagedApp::autoscale_tick(Clock::time_point now, bool sampled) {
  if (!sampled || !cfg_->autoscale || stopped_) return;
  if (!autoscaler_ || autoscaler_->cfg().min != cfg_->autoscale->min ||
      autoscaler_->cfg().max != cfg_->autoscale->max || autoscaler_->cfg().metric != cfg_->autoscale->metric ||
      autoscaler_->cfg().target != cfg_->autoscale->target) {
    autoscaler_ = std::make_unique<Autoscaler>(*cfg_->autoscale);
  }
  if (autoscale_override_ || reload_) return;
  ScaleSample s{now, std::nullopt, static_cast<double>(queue_.size()), std::nullopt};
  double busy = 0;
  unsigned n = 0;
  for (auto& [i, slot] : slots_) {
    Worker* w = slot->current;
    if (!w || !w->lifecycle().in_rotation()) continue;
    auto b = busy_of(*w, now);
    if (!b) continue;
    busy += *b;
    ++n;
    if (cfg_->autoscale->metric == config::ScaleMetric::LatencyP95) w->request_metrics(uint64_t{3} << 61);
  }
  if (n) s.busy = busy / n;
  auto gone = [&](auto& e) {  // processes that are gone
    auto w = workers_.find(WorkerId{e.first.first});
    return w == workers_.end() || w->second->started_at() != e.first.second;
  };
  std::erase_if(latency_last_, gone);
  std::erase_if(busy_last_, gone);
  if (latency_window_.requests >= kMinWindowRequests) s.latency = latency_window_.quantile(0.95);
  latency_window_ = {};
  auto d = autoscaler_->observe(s, cfg_->instances);
  if (!d) return;
  bool up = d->instances > cfg_->instances;
  ++(up ? counters_.scale_ups : counters_.scale_downs);
  spdlog::info("{}: autoscale {} from {} to {} instances: {}", name(), up ? "up" : "down", cfg_->instances,
               d->instances, d->why);
  scale(d->instances, ScaleBy::Autoscale);
}

void ManagedApp::autoscale_metrics(Worker& w, const std::string& text) {
  if (!cfg_->autoscale || cfg_->autoscale->metric != config::ScaleMetric::LatencyP95) return;
  std::string err;
  auto snap = parse_exposition(text, err, {.only = kRequestHistogram});  // the rest is not read
  if (!snap) return;
  RequestStats now = request_stats(*snap);
  auto key = std::make_pair(static_cast<uint64_t>(w.id()), w.started_at());
  auto it = latency_last_.find(key);
  latency_window_ += it == latency_last_.end() ? RequestStats{} : now.since(it->second);
  latency_last_[key] = std::move(now);
}

// A reload's new config starts at min: keep the count autoscaling got to,
// inside the new bounds.
void ManagedApp::autoscale_keep(config::AppConfig& next) const {
  if (next.autoscale && cfg_->autoscale)
    next.instances = std::clamp(cfg_->instances, next.autoscale->min, next.autoscale->max);
}

void ManagedApp::resume_autoscale() {
  autoscale_override_ = false;
  if (autoscaler_) autoscaler_->reset(Clock::now());
  spdlog::info("{}: autoscaling resumed", name());
}

nlohmann::json ManagedApp::autoscale_status() const {
  const config::AutoscaleConfig& a = *cfg_->autoscale;
  return {{"min", a.min},
          {"max", a.max},
          {"metric", config::to_string(a.metric)},
          {"target", a.target},
          {"manual_override", autoscale_override_}};
}

}  // namespace rack::master
