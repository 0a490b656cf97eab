// What `rackctl monit` shows, apart from the terminal: the apps and workers
// of GET /v1/status, request rates and latency from two /metrics samples,
// and the screen as plain lines for a given size (monit_layout.cc). The
// ncurses side (monit.cc) only paints these lines, so every size, including
// a terminal too small for anything, is tested without a terminal.
//
//   Snapshot s = parse_snapshot(status_json);
//   RequestSample now = parse_request_sample(metrics_text, clock_s);
//   s.apps[0].requests = request_rates(before.apps["web"], now.apps["web"], now.at_s - before.at_s);
//   for (const ScreenLine& l : layout(s, view, cols, rows)) paint(l);
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace rack::cli::monit {

struct WorkerRow {
  int slot = 0;
  std::optional<long> pid;
  std::string state;
  long restarts = 0;
  double uptime_s = 0;
  double cpu_percent = 0;
  uint64_t rss_bytes = 0;
  std::string last_exit;
};

// Requests per second and p95 latency over the last sampling interval.
struct RequestRates {
  double per_s = 0;
  std::optional<double> p95_s;  // none when no request finished in the interval
};

struct AppRow {
  std::string name, status, protocol, listen;
  long instances = 0;
  bool reloading = false;
  std::vector<WorkerRow> workers;
  std::optional<RequestRates> requests;  // none: the app reports no http_request_duration_seconds
};

struct Snapshot {
  std::vector<AppRow> apps;
  long rackd_pid = 0;
  std::string home;
};

// Tolerant of missing or mistyped fields (another rackd version): they
// read as empty or zero, never throw.
Snapshot parse_snapshot(const nlohmann::json& status);

// The cumulative http_request_duration_seconds of each app at one moment.
struct RequestTotals {
  double count = 0;
  std::map<double, double> buckets;  // le → cumulative count, summed over every label set
};
struct RequestSample {
  double at_s = 0;  // a monotonic clock, seconds
  std::map<std::string, RequestTotals> apps;
};
RequestSample parse_request_sample(std::string_view metrics_text, double at_s);

// Rates between two samples of one app. Counters that went backwards (rackd
// restarted) count as a fresh start: the rate is that of `now` alone over dt.
RequestRates request_rates(const RequestTotals& before, const RequestTotals& now, double dt_s);
// Prometheus's histogram_quantile over cumulative buckets (linear within the
// bucket; the +Inf bucket answers the highest finite bound).
std::optional<double> histogram_quantile(double q, const std::map<double, double>& cumulative);

// ---- the screen ------------------------------------------------------------

enum class Style { Normal, Title, Header, Selected, Bad, Dim, Prompt };

struct ScreenLine {
  std::string text;  // at most `cols` columns, except log lines (clipped when painted)
  Style style = Style::Normal;
};

struct View {
  size_t selected = 0;         // index into Snapshot::apps
  bool logs_full = false;      // `l`: the log pane takes the screen
  std::vector<std::string> log_lines;  // of the selected app, oldest first
  std::string message;         // the bottom line: last action's result, or a prompt
  bool prompt = false;         // message is a prompt waiting for input
  std::string unreachable;     // non-empty: rackd is not answering, and why
  std::string clock;           // HH:MM:SS of the last refresh
  uint64_t mem_total = 0;      // host memory: the scale of the memory bars
};

// The whole screen, exactly `rows` lines (or fewer when rows is tiny).
std::vector<ScreenLine> layout(const Snapshot& snap, const View& view, int cols, int rows);

// One log line of GET /v1/logs as shown: "[slot] text", "[slot] err| text".
std::string log_line_text(const nlohmann::json& line);

}  // namespace rack::cli::monit
