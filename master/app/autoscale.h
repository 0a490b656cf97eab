// The autoscaling decision for `instances: {min, max}` with `scale:`.
// Pure: samples and a clock in, an instance count out; ManagedApp feeds it once a
// second (app/app_autoscale.cc) and applies what it says through scale().
//
//   Autoscaler a(cfg);                       // min 1, max 4, busy 0.7
//   a.observe({now, .busy = 0.95}, 1);       // nullopt: overloaded, not for up_after yet
//   a.observe({now + 3s, .busy = 0.95}, 1);  // 2: ceil(1 × 0.95 / 0.7)
//
// Up: the target is exceeded at every sample for `up_after` (default 3s),
// and as long since the last change (a new worker needs that to start
// and take its share). busy goes straight to the count that would bring
// the workers back to the target (ceil(n × busy / target), as Kubernetes'
// HPA does); queue and latency_p95, which are not proportional to the
// count, add one worker at a time.
// Down: one worker at a time, after `cooldown` (default 30s) of samples
// where n - 1 workers would still be under 80% of the busy target (the
// gap between up and down is what keeps it from flapping), and as long
// since the last change. For queue and latency_p95 their own figure must
// also be under half its target.
// Never below min or above max; a count outside them (a config change) is
// brought back at once. A sample without a figure (no ready worker,
// too few requests to tell a latency) holds the timers where they are.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "rack/config.h"

namespace rack::master {

struct ScaleSample {
  std::chrono::steady_clock::time_point now;
  std::optional<double> busy;     // mean fraction of time the ready workers were on CPU
  std::optional<double> queue;    // connections waiting in rackd
  std::optional<double> latency;  // p95 seconds over the last window
};

struct ScaleDecision {
  unsigned instances = 0;
  std::string why;  // "busy 0.95 over 0.70 for 3.0s"
};

class Autoscaler {
 public:
  static constexpr double kDownMargin = 0.8;

  explicit Autoscaler(const config::AutoscaleConfig& cfg) : cfg_(cfg) {}
  const config::AutoscaleConfig& cfg() const { return cfg_; }

  // The count to change to, or nullopt to keep `instances`.
  std::optional<ScaleDecision> observe(const ScaleSample& s, unsigned instances);
  // Something else changed the count (a reload's config): the timers
  // start over.
  void reset(std::chrono::steady_clock::time_point now);

 private:
  std::optional<double> figure(const ScaleSample& s) const;
  bool over(const ScaleSample& s) const;
  bool under(const ScaleSample& s, unsigned instances) const;

  config::AutoscaleConfig cfg_;
  std::optional<std::chrono::steady_clock::time_point> over_since_, under_since_, last_change_;
};

}  // namespace rack::master
