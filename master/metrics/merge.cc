#include "metrics/merge.h"

#include <algorithm>
#include <cmath>

#include "metrics/gauge_aggregation.h"

namespace rack::master {

namespace {

std::string join_labels(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

bool monotonic(MetricType t) {
  return t == MetricType::Counter || t == MetricType::Histogram || t == MetricType::Summary;
}

// The cumulative count of `b` at le: its count at its largest boundary <= le.
double count_at(const std::vector<std::pair<double, double>>& b, double le) {
  auto it = std::upper_bound(b.begin(), b.end(), le, [](double x, const auto& p) { return x < p.first; });
  return it == b.begin() ? 0 : std::prev(it)->second;
}

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

struct GaugeAcc {
  double sum = 0, min = 0, max = 0, first = 0;
  int first_slot = 0;
  int n = 0;
  void add(int slot, double v) {
    if (n == 0 || v < min) min = v;
    if (n == 0 || v > max) max = v;
    if (n == 0 || slot < first_slot) {
      first_slot = slot;
      first = v;
    }
    sum += v;
    ++n;
  }
  double get(config::Aggregation a) const {
    switch (a) {
      case config::Aggregation::Sum: return sum;
      case config::Aggregation::Min: return min;
      case config::Aggregation::Max: return max;
      case config::Aggregation::Avg: return n ? sum / n : 0;
      case config::Aggregation::First: return first;
    }
    return sum;
  }
};

}  // namespace

namespace {

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

// A gauge named like a counter (prom-client's nodejs_active_handles_total)
// is exposed untyped: promtool's lint rejects a gauge called *_total and
// accepts an untyped one, and PromQL treats the two alike. The name stays
// the app's, so its dashboards keep working.
MetricType exposed_type(std::string_view name, MetricType type) {
  bool total = name.size() > 6 && name.substr(name.size() - 6) == "_total";
  return type == MetricType::Gauge && total ? MetricType::Untyped : type;
}

}  // namespace

bool MetricsMerge::report(const std::string& app, ProcessKey key, ProcessInfo info, std::string_view text,
                          std::string& error) {
  auto snap = parse_exposition(text, error);
  if (!snap) return false;
  AppState& st = apps_[app];
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
  p.snapshot = std::move(*snap);
  return true;
}

void MetricsMerge::retire(const std::string& app, ProcessKey key) {
  auto a = apps_.find(app);
  if (a == apps_.end()) return;
  auto p = a->second.live.find(key);
  if (p == a->second.live.end()) return;
  for (auto& [name, fam] : p->second.snapshot) add_to_retired(a->second.retired, name, fam);
  a->second.live.erase(p);
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
  const std::string app_label = label_pair("app", app);

  // Per-worker series: one process per slot, the newest generation (a
  // reload briefly runs two on one slot).
  std::map<int, const Process*> owner;
  for (auto& [k, p] : st.live) {
    const Process*& cur = owner[p.info.slot];
    if (!cur || p.info.generation >= cur->info.generation) cur = &p;
  }
  std::set<std::string_view> names;
  for (auto& [k, p] : st.live)
    for (auto& [n, f] : p.snapshot) names.insert(n);
  for (auto& [n, f] : st.retired) names.insert(n);

  for (std::string_view name_view : names) {
    std::string name(name_view);
    // The family's meaning comes from the newest process that has it.
    const MetricFamily* newest = nullptr;
    uint64_t newest_gen = 0;
    for (auto& [k, p] : st.live) {
      auto f = p.snapshot.find(name);
      if (f != p.snapshot.end() && (!newest || p.info.generation >= newest_gen)) {
        newest = &f->second;
        newest_gen = p.info.generation;
      }
    }
    auto r = st.retired.find(name);
    const MetricFamily* retired = r == st.retired.end() ? nullptr : &r->second;
    const MetricFamily* model = newest ? newest : retired;
    MetricType type = model->type;
    std::string help = model->help;
    if (help.empty() && retired) help = retired->help;
    Exposition::Family* fam = out.family(name, exposed_type(name, type), help);
    if (!fam) {
      if (skipped) ++*skipped;
      continue;
    }
    auto family_of = [&](const Process& p) -> const MetricFamily* {
      auto f = p.snapshot.find(name);
      return f != p.snapshot.end() && f->second.type == type ? &f->second : nullptr;
    };

    if (monotonic(type)) {
      MetricFamily total;
      total.type = type;
      if (retired && retired->type == type) accumulate(total, *retired);
      for (auto& [k, p] : st.live)
        if (auto* f = family_of(p)) accumulate(total, *f);
      if (type == MetricType::Summary) {
        for (auto& [slot, p] : owner) {
          const MetricFamily* f = family_of(*p);
          if (!f) continue;
          std::string worker = label_pair("worker", std::to_string(slot));
          for (auto& [key, pt] : f->series)
            for (auto& [q, v] : pt.buckets)
              fam->sample(join_labels({app_label, key, worker, label_pair("quantile", format_value(q))}), v);
        }
      }
      for (auto& [key, pt] : total.series) {
        std::string labels = join_labels({app_label, key});
        if (type == MetricType::Counter) {
          fam->sample(labels, pt.value);
          continue;
        }
        if (type == MetricType::Histogram) {
          for (auto& [le, c] : pt.buckets)
            fam->sample("_bucket", join_labels({labels, label_pair("le", format_value(le))}), c);
        }
        fam->sample("_sum", labels, pt.sum);
        fam->sample("_count", labels, pt.count);
      }
      continue;
    }

    // Gauges (and untyped): the aggregate per label set, then per worker.
    config::Aggregation agg = aggregation_for(gauges, name);
    std::map<std::string_view, GaugeAcc> acc;
    for (auto& [slot, p] : owner)
      if (auto* f = family_of(*p))
        for (auto& [key, pt] : f->series) acc[key].add(slot, pt.value);
    for (auto& [key, g] : acc) fam->sample(join_labels({app_label, key}), g.get(agg));
    for (auto& [slot, p] : owner) {
      const MetricFamily* f = family_of(*p);
      if (!f) continue;
      std::string worker = label_pair("worker", std::to_string(slot));
      for (auto& [key, pt] : f->series) fam->sample(join_labels({app_label, key, worker}), pt.value);
    }
  }
}

}  // namespace rack::master
