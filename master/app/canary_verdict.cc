#include "app/canary_verdict.h"

#include <cmath>
#include <cstdio>

namespace rack::master {

namespace {

std::string percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", ratio * 100);
  return buf;
}

std::string millis(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fms", seconds * 1000);
  return buf;
}

std::string describe(const char* who, const GenerationFigures& g) {
  std::string s = std::string(who) + " (generation " + std::to_string(g.generation) + ", " +
                  std::to_string(g.workers) + (g.workers == 1 ? " worker): " : " workers): ");
  if (g.requests.present) {
    const RequestStats& r = g.requests;
    s += std::to_string(static_cast<uint64_t>(r.requests)) + " requests, " +
         std::to_string(static_cast<uint64_t>(r.errors)) + " 5xx (" + percent(r.error_ratio()) + ")";
    if (auto p95 = r.quantile(0.95)) s += ", p95 " + millis(*p95);
    s += ", ";
  } else {
    s += "no request metrics, ";
  }
  s += std::to_string(g.crashes) + (g.crashes == 1 ? " crash" : " crashes");
  return s;
}

}  // namespace

std::string CanaryVerdict::text() const {
  std::string s;
  if (outcome == CanaryOutcome::Fail) {
    s = "failed: ";
    for (std::size_t i = 0; i < reasons.size(); ++i) s += (i ? "; " : "") + reasons[i];
    s += ". ";
  } else {
    s = "passed. ";
  }
  s += figures;
  if (!note.empty()) s += " (" + note + ")";
  return s;
}

CanaryVerdict judge_canary(const CanaryLimits& limits, const GenerationFigures& old_gen,
                           const GenerationFigures& canary) {
  CanaryVerdict v;
  v.figures = describe("new", canary) + "; " + describe("old", old_gen);
  if (canary.crashes > 0)
    v.reasons.push_back(std::to_string(canary.crashes) + " canary " + (canary.crashes == 1 ? "crash" : "crashes") +
                        " during the watch");
  if (canary.not_ready > 0)
    v.reasons.push_back(std::to_string(canary.not_ready) + " canary " + (canary.not_ready == 1 ? "slot" : "slots") +
                        " without a ready worker at the end of the watch");

  const RequestStats& c = canary.requests;
  const RequestStats& o = old_gen.requests;
  if (!c.present) {
    v.note = "the new workers export no " + std::string(kRequestHistogram) + ": judged by crashes and readiness only";
  } else if (c.requests < kMinRequests) {
    v.note = "the canary served " + std::to_string(static_cast<uint64_t>(c.requests)) + " requests, under the " +
             std::to_string(static_cast<int>(kMinRequests)) + " needed to judge 5xx and latency: judged by crashes " +
             "and readiness only";
  } else {
    v.judged_by_metrics = true;
    double old_ratio = o.present && o.requests >= kMinRequests ? o.error_ratio() : 0;
    if (c.error_ratio() > old_ratio + limits.max_error_ratio)
      v.reasons.push_back("5xx ratio " + percent(c.error_ratio()) + " against " + percent(old_ratio) +
                          " is over the margin of " + percent(limits.max_error_ratio));
    auto cp = c.quantile(0.95);
    auto op = o.present && o.requests >= kMinRequests ? o.quantile(0.95) : std::nullopt;
    if (cp && op && *cp > *op * limits.max_latency_factor && *cp - *op > kLatencyFloor) {
      char factor[64];
      std::snprintf(factor, sizeof factor, "%.1fx the old %s (limit %gx)", *op > 0 ? *cp / *op : INFINITY,
                    millis(*op).c_str(), limits.max_latency_factor);
      v.reasons.push_back("p95 latency " + millis(*cp) + " is " + factor);
    } else if (cp && !op) {
      v.note = "the old generation served too few requests to compare latency with";
    }
  }
  v.outcome = v.reasons.empty() ? CanaryOutcome::Pass : CanaryOutcome::Fail;
  return v;
}

}  // namespace rack::master
