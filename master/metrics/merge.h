// Merging the workers' Prometheus registries into one exposition per app.
// Pure: text in, text out; no sockets, no clock. metrics_endpoint.cc does
// the asking and the serving.
//
//   MetricsMerge merge;
//   std::string err;
//   merge.report("web", ProcessKey{1, t0}, {.slot = 0, .generation = 1}, text_from_worker_0, err);
//   merge.report("web", ProcessKey{2, t1}, {.slot = 1, .generation = 1}, text_from_worker_1, err);
//   merge.retire("web", ProcessKey{2, t1});      // worker 1 exited (crash, drain, scale-down)
//   Exposition out;
//   merge.render("web", app_config.gauges, out);
//   std::string body = out.str();                // passes promtool check metrics
//
// How series merge (DESIGN.md "Metrics and health"); every series gets an
// `app` label:
//   counter    summed per label set over live workers plus the app's
//              retired totals;
//   histogram  summed per label set and bucket (`le`), _sum and _count too;
//   summary    _sum and _count summed like counters; quantiles cannot be
//              added, so they are reported per worker (`worker` label);
//   gauge      per worker with a `worker` label (the slot), and once more
//   untyped    without it, aggregated over the workers by the app's
//              `gauges:` choice for that name (sum, min, max, avg,
//              first = lowest slot), else by what the name means
//              (gauge_aggregation.h: lags max, counts sum). A gauge
//              named *_total is exposed untyped (promtool's lint).
//
// Never backwards. A counter sample is the sum over parts: each live
// process's last report, and the retired totals, into which a process's
// last report moves when it is gone. A process's own counts only grow, and
// the move keeps the sum, so every merged counter and bucket is monotonic
// across crashes, reloads and scale-down. A process that resets a counter
// itself (prom-client's resetMetrics()) is treated the same way: what the
// series had counted moves to the retired totals when it goes back (seen
// by the value, or a histogram's count, being lower than last time; a
// reset followed by as many new counts before the next report goes
// unnoticed, as it would by Prometheus itself). What a crashed process counted
// after its last report is lost (it sent no final snapshot); that makes the
// merged value low, never lower than before.
//
// Processes, not slots: a slot's worker is restarted in place after a crash
// (same Worker record, new pid), and a reload runs two processes on one slot
// for a while, so snapshots are keyed by ProcessKey (worker record id +
// start time). When two live processes share a slot, per-worker series come
// from the newest generation so `worker` stays unique.
//
// Buckets that differ between workers (a reload changed them): the merged
// buckets are the union of the boundaries, each part contributing its count
// at its largest boundary <= le, so the result stays cumulative and every
// bucket still only grows.
//
// Cost. A worker's registry lists the same lines in the same order at
// every scrape; only the values move. So a process's report whose lines
// are those of its last one is taken by reading the values alone into its
// snapshot (LineMap, text.h), and rendering follows a plan (merge_plan.h)
// made when the app's series last changed, formatting only the families
// whose values moved. A report with other lines (a new label set, a reset
// counter, a restarted process) is parsed and merged in full, and the plan
// is made again at the next render.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/merge_plan.h"
#include "metrics/text.h"
#include "rack/config.h"

namespace rack::master {

// One worker process over its lifetime.
struct ProcessKey {
  uint64_t worker = 0;   // the Worker record's id
  int64_t started = 0;   // its process's start time (any clock, ns): tells restarts apart
  auto operator<=>(const ProcessKey&) const = default;
};

class MetricsMerge {
 public:
  // A process's snapshot: an answer, or the final one of a draining worker.
  // Replaces what it reported before. False with `error` if the text does
  // not parse; its previous snapshot then stays.
  bool report(const std::string& app, ProcessKey key, ProcessInfo info, std::string_view text, std::string& error);

  // The process is gone: its counters, histograms and summary sums/counts
  // move into the app's retired totals; its gauges go away. No-op for an
  // unknown key.
  void retire(const std::string& app, ProcessKey key);
  // Retires every process of `app` that is not in `live`.
  void retire_except(const std::string& app, const std::set<ProcessKey>& live);
  // Forgets an app entirely (deleted): its series disappear.
  void forget(const std::string& app);
  std::vector<std::string> apps() const;
  std::size_t processes(const std::string& app) const;  // live processes with a snapshot
  // Reports parsed in full; the others had only their values read.
  uint64_t full_parses() const { return full_parses_; }

  // Adds app's merged families to `out`. Families that `out` refuses
  // (clash with rackd's own, or with another app's type) are skipped and
  // counted in `skipped` if given.
  void render(const std::string& app, const std::map<std::string, config::Aggregation>& gauges, Exposition& out,
              std::size_t* skipped = nullptr) const;

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  struct Process {
    ProcessInfo info;
    MetricSnapshot snapshot;
    LineMap lines{};  // of the last text parsed in full; its targets are in `snapshot`
  };
  struct AppState {
    std::map<ProcessKey, Process> live;
    MetricSnapshot retired;  // counters, histograms, summaries (sum/count only)
    mutable std::optional<MergePlan> plan;  // points into live and retired; reset when a series comes or goes
  };

  bool update_values(AppState& st, ProcessKey key, ProcessInfo info, std::string_view text);

  std::map<std::string, AppState> apps_;
  std::vector<double> values_;  // update_values' scratch
  uint64_t full_parses_ = 0;
};

}  // namespace rack::master
