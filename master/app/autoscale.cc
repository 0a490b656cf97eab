#include "app/autoscale.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace rack::master {

namespace {

std::string describe(const char* what, double v, double target, const char* rel, double for_s) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s %.2f %s %.2f for %.1fs", what, v, rel, target, for_s);
  return buf;
}

}  // namespace

std::optional<double> Autoscaler::figure(const ScaleSample& s) const {
  switch (cfg_.metric) {
    case config::ScaleMetric::Busy: return s.busy;
    case config::ScaleMetric::Queue: return s.queue;
    case config::ScaleMetric::LatencyP95: return s.latency;
  }
  return std::nullopt;
}

bool Autoscaler::over(const ScaleSample& s) const {
  auto v = figure(s);
  return v && *v > cfg_.target;
}

bool Autoscaler::under(const ScaleSample& s, unsigned n) const {
  if (n <= 1 || !s.busy) return false;
  const double busy_target = cfg_.metric == config::ScaleMetric::Busy ? cfg_.target : 0.7;
  bool busy_fits = *s.busy * n / (n - 1) < kDownMargin * busy_target;
  if (cfg_.metric == config::ScaleMetric::Busy) return busy_fits;
  auto v = figure(s);
  // No latency figure (too few requests): the busy figure decides alone.
  bool own_low = !v || *v < cfg_.target / 2;
  return busy_fits && own_low;
}

void Autoscaler::reset(std::chrono::steady_clock::time_point now) {
  over_since_.reset();
  under_since_.reset();
  last_change_ = now;
}

std::optional<ScaleDecision> Autoscaler::observe(const ScaleSample& s, unsigned n) {
  if (n < cfg_.min) return ScaleDecision{cfg_.min, "below min " + std::to_string(cfg_.min)};
  if (n > cfg_.max) return ScaleDecision{cfg_.max, "above max " + std::to_string(cfg_.max)};
  if (!figure(s) && !s.busy) return std::nullopt;  // nothing to go by: timers hold

  if (figure(s)) {  // without one, the up timer holds
    if (over(s)) {
      if (!over_since_) over_since_ = s.now;
    } else {
      over_since_.reset();
    }
  }
  if (under(s, n)) {
    if (!under_since_) under_since_ = s.now;
  } else {
    under_since_.reset();
  }
  auto since_change = [&](std::chrono::milliseconds d) { return !last_change_ || s.now - *last_change_ >= d; };
  auto seconds = [&](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(s.now - t).count();
  };
  const char* name = config::to_string(cfg_.metric);

  if (over_since_ && s.now - *over_since_ >= cfg_.up_after && since_change(cfg_.up_after) && n < cfg_.max) {
    unsigned want = n + 1;
    if (cfg_.metric == config::ScaleMetric::Busy)
      want = std::max(want, static_cast<unsigned>(std::ceil(n * *s.busy / cfg_.target)));
    want = std::min(want, cfg_.max);
    ScaleDecision d{want, describe(name, *figure(s), cfg_.target, "over", seconds(*over_since_))};
    reset(s.now);
    return d;
  }
  if (under_since_ && s.now - *under_since_ >= cfg_.cooldown && since_change(cfg_.cooldown) && n > cfg_.min) {
    ScaleDecision d{n - 1, describe("busy", *s.busy, kDownMargin * (cfg_.metric == config::ScaleMetric::Busy
                                                                        ? cfg_.target
                                                                        : 0.7) * (n - 1) / n,
                                    "under", seconds(*under_since_))};
    reset(s.now);
    return d;
  }
  return std::nullopt;
}

}  // namespace rack::master
