#include "metrics/merge.h"

#include <algorithm>

namespace rack::master {

namespace {

void add_histogram(MetricPoint& into, const MetricPoint& from) {
  into.sum += from.sum;
  into.count += from.count;
  bool same = into.buckets.size() == from.buckets.size() &&
              std::equal(into.buckets.begin(), into.buckets.end(), from.buckets.begin(),
                         [](const auto& a, const auto& b) { return a.first == b.first; });
  if (same) {
    for (std::size_t i = 0; i < into.buckets.size(); ++i) into.buckets[i].second += from.buckets[i].second;
    return;
  }
  if (into.buckets.empty()) {
    into.buckets = from.buckets;
    return;
  }
  std::vector<std::pair<double, double>> merged;
  merged.reserve(into.buckets.size() + from.buckets.size());
  std::size_t i = 0, j = 0;
  while (i < into.buckets.size() || j < from.buckets.size()) {
    double le;
    if (j >= from.buckets.size() || (i < into.buckets.size() && into.buckets[i].first <= from.buckets[j].first))
      le = into.buckets[i].first;
    else
      le = from.buckets[j].first;
    merged.emplace_back(le, count_at(into.buckets, le) + count_at(from.buckets, le));
    while (i < into.buckets.size() && into.buckets[i].first == le) ++i;
    while (j < from.buckets.size() && from.buckets[j].first == le) ++j;
  }
  into.buckets = std::move(merged);
}

// Adds the monotonic parts of `from` into `into` (same type).
void accumulate(MetricFamily& into, const MetricFamily& from) {
  auto at = into.series.begin();
  for (auto& [k, p] : from.series) {
    // Both maps are sorted: walk `into` along instead of searching it.
    while (at != into.series.end() && at->first < k) ++at;
    if (at == into.series.end() || at->first != k) at = into.series.emplace_hint(at, k, MetricPoint{});
    MetricPoint& t = at->second;
    switch (from.type) {
      case MetricType::Counter: t.value += p.value; break;
      case MetricType::Histogram: add_histogram(t, p); break;
      case MetricType::Summary:
        t.sum += p.sum;
        t.count += p.count;
        break;
      default: break;
    }
  }
}

// Counts of a process's counters and histograms only grow, unless the
// process reset them itself (prom-client's register.resetMetrics(), say).
bool went_back(MetricType type, const MetricPoint& before, const MetricPoint& now) {
  if (type == MetricType::Counter) return now.value < before.value;
  return now.count < before.count;  // histogram, summary (a _sum may go down: negative observations)
}

// Adds a counter/histogram/summary family's counts into `retired`.
void add_to_retired(MetricSnapshot& retired, const std::string& name, const MetricFamily& fam) {
  if (!monotonic(fam.type)) return;
  auto [it, fresh] = retired.try_emplace(name);
  MetricFamily& r = it->second;
  if (fresh) {
    r.type = fam.type;
    r.help = fam.help;
  } else if (r.type != fam.type) {
    return;  // the name changed type between versions: keep the first meaning
  }
  accumulate(r, fam);
}

}  // namespace

// The process's text has the lines of its last one: its values go
// straight into its snapshot, and the plan stays.
bool MetricsMerge::update_values(AppState& st, ProcessKey key, ProcessInfo info, std::string_view text) {
  auto it = st.live.find(key);
  if (it == st.live.end() || !it->second.lines.usable) return false;
  Process& p = it->second;
  if (!read_values(p.lines, text, values_)) return false;
  // A count that went back is a reset by the process: the full path moves
  // what it had counted to the retired totals.
  auto line = p.lines.lines.begin();
  for (double v : values_) {
    while (!line->target) ++line;
    if (line->grows && v < *line->target) return false;
    ++line;
  }
  line = p.lines.lines.begin();
  for (double v : values_) {
    while (!line->target) ++line;
    *(line++)->target = v;
  }
  if (p.info.slot != info.slot || p.info.generation != info.generation) st.plan.reset();
  p.info = info;
  return true;
}

bool MetricsMerge::report(const std::string& app, ProcessKey key, ProcessInfo info, std::string_view text,
                          std::string& error) {
  if (auto a = apps_.find(app); a != apps_.end() && update_values(a->second, key, info, text)) return true;
  LineMap lines;
  ++full_parses_;
  auto snap = parse_exposition(text, error, {.lines = &lines});
  if (!snap) return false;
  AppState& st = apps_[app];
  st.plan.reset();
  Process& p = st.live[key];
  // The merged sum must not drop. A series the process reported before
  // and no longer does (a removed label set) keeps its last value; one
  // that went back within the process (reset by the app) moves what it had
  // counted to the retired totals, as if a new process had taken over.
  for (auto& [name, old] : p.snapshot) {
    if (!monotonic(old.type)) continue;
    auto it = snap->find(name);
    if (it == snap->end()) {
      snap->emplace(name, std::move(old));
      continue;
    }
    if (it->second.type != old.type) continue;
    auto& now = it->second.series;
    MetricFamily reset{old.type, old.help, {}};
    bool missing = false;
    for (auto& [labels, before] : old.series) {
      auto n = now.find(labels);
      if (n == now.end()) missing = true;
      else if (went_back(old.type, before, n->second)) reset.series.emplace(labels, before);
    }
    if (!reset.series.empty()) add_to_retired(st.retired, name, reset);
    if (missing) now.merge(old.series);
  }
  p.info = info;
  p.snapshot = std::move(*snap);  // moves the nodes: `lines` still points into them
  p.lines = std::move(lines);
  return true;
}

void MetricsMerge::retire(const std::string& app, ProcessKey key) {
  auto a = apps_.find(app);
  if (a == apps_.end()) return;
  auto p = a->second.live.find(key);
  if (p == a->second.live.end()) return;
  for (auto& [name, fam] : p->second.snapshot) add_to_retired(a->second.retired, name, fam);
  a->second.live.erase(p);
  a->second.plan.reset();
}

void MetricsMerge::retire_except(const std::string& app, const std::set<ProcessKey>& live) {
  auto a = apps_.find(app);
  if (a == apps_.end()) return;
  std::vector<ProcessKey> gone;
  for (auto& [k, p] : a->second.live)
    if (!live.count(k)) gone.push_back(k);
  for (auto& k : gone) retire(app, k);
}

void MetricsMerge::forget(const std::string& app) { apps_.erase(app); }

std::vector<std::string> MetricsMerge::apps() const {
  std::vector<std::string> out;
  for (auto& [name, st] : apps_) out.push_back(name);
  return out;
}

std::size_t MetricsMerge::processes(const std::string& app) const {
  auto a = apps_.find(app);
  return a == apps_.end() ? 0 : a->second.live.size();
}

void MetricsMerge::render(const std::string& app, const std::map<std::string, config::Aggregation>& gauges,
                          Exposition& out, std::size_t* skipped) const {
  auto a = apps_.find(app);
  if (a == apps_.end()) return;
  const AppState& st = a->second;
  if (!st.plan || st.plan->gauges() != gauges) {
    std::vector<MergePlan::Part> live;
    live.reserve(st.live.size());
    for (auto& [k, p] : st.live) live.push_back({p.info, &p.snapshot});
    st.plan.emplace(app, live, st.retired, gauges);
  }
  st.plan->render(out, skipped);
}

}  // namespace rack::master
