// The Prometheus text exposition format (0.0.4), both ways: parsing what a
// worker reports into plain values, and writing an endpoint's answer so that
// it passes `promtool check metrics`. Pure: no I/O.
//
//   std::string err;
//   auto snap = parse_exposition("# TYPE jobs_total counter\njobs_total{kind=\"a\"} 3\n", err);
//   snap->at("jobs_total").series.at(R"(kind="a")").value;   // 3
//
//   Exposition out;
//   out.family("jobs_total", MetricType::Counter, "Jobs done.")->sample(R"(app="web")", 3);
//   out.str();   // "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{app=\"web\"} 3\n"
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rack::master {

enum class MetricType { Counter, Gauge, Histogram, Summary, Untyped };
// Whether samples of the type only grow (and reset only with the process).
inline bool monotonic(MetricType t) {
  return t == MetricType::Counter || t == MetricType::Histogram || t == MetricType::Summary;
}
const char* to_string(MetricType t);

// One label set of one family, as a worker reported it.
struct MetricPoint {
  double value = 0;  // counter, gauge, untyped
  // histogram: (le, cumulative count), ascending, +Inf last;
  // summary: (quantile, value), ascending.
  std::vector<std::pair<double, double>> buckets;
  double sum = 0;    // histogram, summary
  double count = 0;  // histogram, summary
};

// The cumulative count of histogram buckets `b` at `le`: the count at the
// largest boundary <= le, 0 below the first. Keeps a sum of differently
// bucketed histograms cumulative.
inline double count_at(const std::vector<std::pair<double, double>>& b, double le) {
  auto it = std::upper_bound(b.begin(), b.end(), le, [](double x, const auto& p) { return x < p.first; });
  return it == b.begin() ? 0 : std::prev(it)->second;
}

struct MetricFamily {
  MetricType type = MetricType::Untyped;
  std::string help;
  // Key: the canonical label set, `a="x",b="y"` sorted by name and escaped,
  // without `le` (histograms) or `quantile` (summaries). A worker's own
  // `app` and `worker` labels become `exported_app` / `exported_worker`
  // (as Prometheus does when labels clash).
  std::map<std::string, MetricPoint> series;
};

// Family name → family, in name order.
using MetricSnapshot = std::map<std::string, MetricFamily, std::less<>>;

// Where each line of a parsed text went. A worker's registry lists the
// same lines in the same order at every scrape, only the values move, so a
// caller that keeps the snapshot can take the next text by reading its
// values alone (read_values) instead of parsing it again.
struct LineMap {
  struct Line {
    uint32_t key_bytes = 0;    // the line's bytes before its value (all of it when it has none)
    double* target = nullptr;  // where its value is in the snapshot; nullptr: no value (comment, blank)
    bool grows = false;        // a counter, bucket or _count: lower means the process reset it
  };
  std::string keys;  // the key bytes of every line, in order
  std::vector<Line> lines;
  // False when the snapshot holds something derived from several lines
  // (a histogram's missing +Inf bucket is its _count): values alone would
  // not keep it right.
  bool usable = false;
};

struct ParseOptions {
  // Only the families whose name starts with this; the other lines are
  // skipped unchecked (canary and autoscaling read one histogram).
  std::string_view only{};
  // Filled with where the lines went; the targets point into the returned
  // snapshot and stay valid while its series are neither added nor removed.
  LineMap* lines = nullptr;
};

// Parses the Prometheus text exposition format 0.0.4. nullopt and `error`
// ("line 7: expected a value after the labels") when it is malformed.
std::optional<MetricSnapshot> parse_exposition(std::string_view text, std::string& error,
                                               const ParseOptions& options = {});

// The values of `text`, a text with the lines of `map` (the same bytes but
// for the values), one per line with a target, in line order. False when a
// line differs or a value does not parse: then parse it.
bool read_values(const LineMap& map, std::string_view text, std::vector<double>& values);

// `v` with the text format's escapes: \\ and \n, and \" when `quote_too`
// (label values; HELP text leaves quotes alone).
void append_escaped(std::string& out, std::string_view v, bool quote_too);
// `name="value"` with the text format's escapes.
std::string label_pair(std::string_view name, std::string_view value);
// Shortest text that reads back as the same double; +Inf, -Inf, NaN.
std::string format_value(double v);
void append_value(std::string& out, double v);  // format_value(v) appended

// The text an endpoint serves, built family by family: HELP and TYPE once,
// each family's samples together, families in the order first asked for.
class Exposition {
 public:
  class Family {
   public:
    // `labels` is a ready label list without braces (may be empty).
    void sample(std::string_view suffix, std::string_view labels, double value);
    void sample(std::string_view labels, double value) { sample({}, labels, value); }
    // Samples already in the text format, `samples` lines of this family.
    void append(std::string_view lines, std::size_t samples);
    std::size_t samples() const { return samples_; }

   private:
    friend class Exposition;
    std::string name_;
    MetricType type_ = MetricType::Untyped;
    bool exclusive_ = false;
    std::string help_;
    std::string body_;
    std::size_t samples_ = 0;
  };

  // The family called `name`, created on first use. nullptr when it exists
  // with another type, or was created `exclusive` (rackd's own families:
  // a worker exporting process_open_fds must not add to rackd's series).
  Family* family(std::string_view name, MetricType type, std::string_view help, bool exclusive = false);
  std::string str() const;
  std::size_t families() const { return order_.size(); }

 private:
  std::vector<std::unique_ptr<Family>> order_;
  std::unordered_map<std::string, Family*> by_name_;
};

}  // namespace rack::master
