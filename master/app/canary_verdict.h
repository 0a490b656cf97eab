// The canary decision: after the watch, is the new generation worse than
// the old one by the configured margins? Pure: figures in, verdict out
// (app/canary.h gathers the figures; ManagedApp rolls back on Fail).
//
//   GenerationFigures old{.generation = 1, .workers = 3, .requests = old_stats};
//   GenerationFigures canary{.generation = 2, .workers = 1, .requests = new_stats};
//   CanaryVerdict v = judge_canary({.max_error_ratio = 0.05, .max_latency_factor = 2}, old, canary);
//   if (v.outcome == CanaryOutcome::Fail) ...   // v.text(): the reasons and the figures
//
// The rules, in order; every one that holds is a reason:
//   crashes      a canary process exited during the watch;
//   readiness    a canary slot has no ready worker of the new generation
//                at the end of the watch;
//   5xx ratio    canary ratio > old ratio + max_error_ratio (the old
//                ratio counts only with kMinRequests behind it, else 0);
//   p95 latency  canary p95 > old p95 × max_latency_factor, and more than
//                kLatencyFloor above it (the histogram's finest bucket is
//                1 ms: closer than that is resolution, not a regression).
// The 5xx and latency rules need request metrics from the canary and at
// least kMinRequests canary requests (latency: old ones too); without
// them the verdict says it was judged on crashes and readiness only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "metrics/request_stats.h"

namespace rack::master {

inline constexpr double kMinRequests = 20;
inline constexpr double kLatencyFloor = 0.001;  // seconds

struct CanaryLimits {
  double max_error_ratio = 0.05;
  double max_latency_factor = 2.0;
};

// One generation's workers over the watch.
struct GenerationFigures {
  uint64_t generation = 0;
  unsigned workers = 0;
  RequestStats requests;   // summed over its processes, counted during the watch
  unsigned crashes = 0;
  unsigned not_ready = 0;  // slots without a ready worker of this generation
};

enum class CanaryOutcome { Pass, Fail };

struct CanaryVerdict {
  CanaryOutcome outcome = CanaryOutcome::Pass;
  std::vector<std::string> reasons;  // why it failed; empty on Pass
  bool judged_by_metrics = false;    // 5xx and latency rules applied
  std::string note;                  // why they did not, when they did not
  std::string figures;               // "new: 64 requests, 31 5xx (48.4%), p95 0.9ms; old: ..."
  // One line: "failed: <reasons>; <figures>" or "passed: <figures>", plus the note.
  std::string text() const;
};

CanaryVerdict judge_canary(const CanaryLimits& limits, const GenerationFigures& old_gen,
                           const GenerationFigures& canary);

}  // namespace rack::master
