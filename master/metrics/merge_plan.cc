#include "metrics/merge_plan.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "metrics/gauge_aggregation.h"

namespace rack::master {

namespace {

using Refs = std::vector<const double*>;

// A merged series while the plan is built: which values add up to it.
struct RefPoint {
  Refs value, sum, count;
  std::vector<std::pair<double, Refs>> buckets;  // (le, what adds up to its count)
};
using RefSeries = std::map<std::string_view, RefPoint>;  // keys point into the snapshots

// A gauge named like a counter (prom-client's nodejs_active_handles_total)
// is exposed untyped: promtool's lint rejects a gauge called *_total and
// accepts an untyped one, and PromQL treats the two alike. The name stays
// the app's, so its dashboards keep working.
MetricType exposed_type(std::string_view name, MetricType type) {
  bool total = name.size() > 6 && name.substr(name.size() - 6) == "_total";
  return type == MetricType::Gauge && total ? MetricType::Untyped : type;
}

std::string join_labels(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

// A part's cumulative count at le is its count at its largest boundary <= le
// (none below its first): keeps a sum of differently bucketed histograms
// cumulative, and every merged bucket only growing.
template <class Buckets>
auto at_or_below(const Buckets& b, double le) -> decltype(&b.front()) {
  auto it = std::upper_bound(b.begin(), b.end(), le, [](double x, const auto& p) { return x < p.first; });
  return it == b.begin() ? nullptr : &*std::prev(it);
}

void add_histogram(RefPoint& into, const MetricPoint& from) {
  into.sum.push_back(&from.sum);
  into.count.push_back(&from.count);
  bool same = into.buckets.size() == from.buckets.size() &&
              std::equal(into.buckets.begin(), into.buckets.end(), from.buckets.begin(),
                         [](const auto& a, const auto& b) { return a.first == b.first; });
  if (same || into.buckets.empty()) {
    into.buckets.resize(from.buckets.size());
    for (std::size_t i = 0; i < from.buckets.size(); ++i) {
      into.buckets[i].first = from.buckets[i].first;
      into.buckets[i].second.push_back(&from.buckets[i].second);
    }
    return;
  }
  // The union of the boundaries.
  std::vector<std::pair<double, Refs>> merged;
  std::size_t i = 0, j = 0;
  while (i < into.buckets.size() || j < from.buckets.size()) {
    bool mine = j >= from.buckets.size() ||
                (i < into.buckets.size() && into.buckets[i].first <= from.buckets[j].first);
    double le = mine ? into.buckets[i].first : from.buckets[j].first;
    Refs refs;
    if (auto* a = at_or_below(into.buckets, le)) refs = a->second;
    if (auto* b = at_or_below(from.buckets, le)) refs.push_back(&b->second);
    merged.emplace_back(le, std::move(refs));
    while (i < into.buckets.size() && into.buckets[i].first == le) ++i;
    while (j < from.buckets.size() && from.buckets[j].first == le) ++j;
  }
  into.buckets = std::move(merged);
}

// Adds the monotonic parts of `from` (of type `type`) to `into`.
void accumulate(RefSeries& into, const MetricFamily& from) {
  auto at = into.begin();
  for (auto& [k, p] : from.series) {
    // Both maps are sorted: walk `into` along instead of searching it.
    while (at != into.end() && at->first < k) ++at;
    if (at == into.end() || at->first != k) at = into.emplace_hint(at, k, RefPoint{});
    RefPoint& t = at->second;
    if (from.type == MetricType::Counter) {
      t.value.push_back(&p.value);
    } else if (from.type == MetricType::Histogram) {
      add_histogram(t, p);
    } else if (from.type == MetricType::Summary) {
      t.sum.push_back(&p.sum);
      t.count.push_back(&p.count);
    }
  }
}

}  // namespace

// The merge rules of merge.h, written down as samples of the plan.
class MergePlan::Builder {
 public:
  Builder(MergePlan& plan, std::string_view app, const std::vector<Part>& live, const MetricSnapshot& retired)
      : plan_(plan), app_label_(label_pair("app", app)), live_(live), retired_(retired) {
    // Per-worker series: one process per slot, the newest generation (a
    // reload briefly runs two on one slot).
    for (const Part& p : live_) {
      const Part*& cur = owner_[p.info.slot];
      if (!cur || p.info.generation >= cur->info.generation) cur = &p;
    }
  }

  void family(const std::string& name) {
    // The family's meaning comes from the newest process that has it.
    const MetricFamily* newest = nullptr;
    uint64_t newest_gen = 0;
    for (const Part& p : live_) {
      auto f = p.snapshot->find(name);
      if (f != p.snapshot->end() && (!newest || p.info.generation >= newest_gen)) {
        newest = &f->second;
        newest_gen = p.info.generation;
      }
    }
    auto r = retired_.find(name);
    const MetricFamily* retired = r == retired_.end() ? nullptr : &r->second;
    const MetricFamily* model = newest ? newest : retired;
    Family fam;
    fam.name = name;
    fam.type = exposed_type(name, model->type);
    fam.help = model->help.empty() && retired ? retired->help : model->help;
    if (monotonic(model->type)) sums(fam, model->type, retired && retired->type == model->type ? retired : nullptr);
    else gauges(fam, model->type);
    plan_.families_.push_back(std::move(fam));
  }

 private:
  const MetricFamily* family_of(const Part& p, const std::string& name, MetricType type) const {
    auto f = p.snapshot->find(name);
    return f != p.snapshot->end() && f->second.type == type ? &f->second : nullptr;
  }

  void sample(Family& f, std::string_view suffix, std::string_view labels, const Refs& refs,
              config::Aggregation fold = config::Aggregation::Sum) {
    Sample s;
    s.head.reserve(f.name.size() + suffix.size() + labels.size() + 3);
    s.head += f.name;
    s.head += suffix;
    if (!labels.empty()) ((s.head += '{') += labels) += '}';
    s.head += ' ';
    s.first = static_cast<uint32_t>(plan_.refs_.size());
    s.count = static_cast<uint32_t>(refs.size());
    s.fold = fold;
    plan_.refs_.insert(plan_.refs_.end(), refs.begin(), refs.end());
    f.samples.push_back(std::move(s));
  }

  // Counters, histograms, summaries: summed over the retired totals and
  // every live process; a summary's quantiles per worker.
  void sums(Family& fam, MetricType type, const MetricFamily* retired) {
    RefSeries total;
    if (retired) accumulate(total, *retired);
    for (const Part& p : live_)
      if (auto* f = family_of(p, fam.name, type)) accumulate(total, *f);
    if (type == MetricType::Summary) {
      for (auto& [slot, p] : owner_) {
        const MetricFamily* f = family_of(*p, fam.name, type);
        if (!f) continue;
        std::string worker = label_pair("worker", std::to_string(slot));
        for (auto& [key, pt] : f->series)
          for (auto& [q, v] : pt.buckets)
            sample(fam, "", join_labels({app_label_, key, worker, label_pair("quantile", format_value(q))}), {&v});
      }
    }
    for (auto& [key, pt] : total) {
      std::string labels = join_labels({app_label_, key});
      if (type == MetricType::Counter) {
        sample(fam, "", labels, pt.value);
        continue;
      }
      for (auto& [le, refs] : pt.buckets)
        sample(fam, "_bucket", join_labels({labels, label_pair("le", format_value(le))}), refs);
      sample(fam, "_sum", labels, pt.sum);
      sample(fam, "_count", labels, pt.count);
    }
  }

  // Gauges (and untyped): the aggregate per label set, then per worker.
  void gauges(Family& fam, MetricType type) {
    config::Aggregation agg = aggregation_for(plan_.gauges_, fam.name);
    std::map<std::string_view, Refs> acc;  // refs in slot order: the first is the lowest slot's
    for (auto& [slot, p] : owner_)
      if (auto* f = family_of(*p, fam.name, type))
        for (auto& [key, pt] : f->series) acc[key].push_back(&pt.value);
    for (auto& [key, refs] : acc) sample(fam, "", join_labels({app_label_, key}), refs, agg);
    for (auto& [slot, p] : owner_) {
      const MetricFamily* f = family_of(*p, fam.name, type);
      if (!f) continue;
      std::string worker = label_pair("worker", std::to_string(slot));
      for (auto& [key, pt] : f->series) sample(fam, "", join_labels({app_label_, key, worker}), {&pt.value});
    }
  }

  MergePlan& plan_;
  const std::string app_label_;
  const std::vector<Part>& live_;
  const MetricSnapshot& retired_;
  std::map<int, const Part*> owner_;  // by slot
};

MergePlan::MergePlan(std::string_view app, const std::vector<Part>& live, const MetricSnapshot& retired,
                     const std::map<std::string, config::Aggregation>& gauges)
    : gauges_(gauges) {
  std::set<std::string_view> names;
  for (const Part& p : live)
    for (auto& [n, f] : *p.snapshot) names.insert(n);
  for (auto& [n, f] : retired) names.insert(n);
  Builder build(*this, app, live, retired);
  for (std::string_view name : names) build.family(std::string(name));
}

double MergePlan::value(const Sample& s) const {
  const double* const* refs = refs_.data() + s.first;
  double sum = 0, min = 0, max = 0;
  for (uint32_t i = 0; i < s.count; ++i) {
    double v = *refs[i];
    if (i == 0 || v < min) min = v;
    if (i == 0 || v > max) max = v;
    sum += v;
  }
  switch (s.fold) {
    case config::Aggregation::Sum: return sum;
    case config::Aggregation::Min: return min;
    case config::Aggregation::Max: return max;
    case config::Aggregation::Avg: return s.count ? sum / s.count : 0;
    case config::Aggregation::First: return s.count ? *refs[0] : 0;
  }
  return sum;
}

void MergePlan::render(Exposition& out, std::size_t* skipped) {
  for (Family& f : families_) {
    Exposition::Family* into = out.family(f.name, f.type, f.help);
    if (!into) {
      if (skipped) ++*skipped;
      continue;
    }
    scratch_.clear();
    for (const Sample& s : f.samples) scratch_.push_back(value(s));
    // Bitwise, so that a NaN counts as unchanged.
    bool same = f.rendered && f.values.size() == scratch_.size() &&
                (scratch_.empty() || std::memcmp(f.values.data(), scratch_.data(), scratch_.size() * sizeof(double)) == 0);
    if (!same) {
      f.lines.clear();
      for (std::size_t i = 0; i < f.samples.size(); ++i) {
        f.lines += f.samples[i].head;
        append_value(f.lines, scratch_[i]);
        f.lines += '\n';
      }
      f.values.swap(scratch_);
      f.rendered = true;
    }
    into->append(f.lines, f.samples.size());
  }
}

}  // namespace rack::master
