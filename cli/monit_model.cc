#include "monit_model.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace rack::cli::monit {

using json = nlohmann::json;

namespace {

template <typename T>
T field(const json& j, const char* key, T fallback) {
  if (!j.is_object() || !j.contains(key)) return fallback;
  const json& v = j[key];
  if constexpr (std::is_same_v<T, std::string>) return v.is_string() ? v.get<std::string>() : fallback;
  else if constexpr (std::is_same_v<T, bool>) return v.is_boolean() ? v.get<bool>() : fallback;
  else return v.is_number() ? v.get<T>() : fallback;
}

WorkerRow parse_worker(const json& w) {
  WorkerRow r;
  r.slot = field<int>(w, "slot", 0);
  if (w.is_object() && w.contains("pid") && w["pid"].is_number_integer()) r.pid = w["pid"].get<long>();
  r.state = field<std::string>(w, "state", "?");
  r.restarts = field<long>(w, "restarts", 0);
  r.uptime_s = field<double>(w, "uptime_s", 0);
  r.cpu_percent = field<double>(w, "cpu_percent", 0);
  r.rss_bytes = field<uint64_t>(w, "rss_bytes", 0);
  r.last_exit = field<std::string>(w, "last_exit", "");
  return r;
}

// The value of label `name` in a `{a="x",b="y"}` label set, unescaped.
std::optional<std::string> label(std::string_view labels, std::string_view name) {
  size_t i = 0;
  while (i < labels.size()) {
    size_t eq = labels.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= labels.size() || labels[eq + 1] != '"') return std::nullopt;
    std::string_view key = labels.substr(i, eq - i);
    std::string value;
    size_t j = eq + 2;
    for (; j < labels.size() && labels[j] != '"'; ++j) {
      if (labels[j] == '\\' && j + 1 < labels.size()) {
        ++j;
        value += labels[j] == 'n' ? '\n' : labels[j];
      } else {
        value += labels[j];
      }
    }
    if (key == name) return value;
    i = j + 1;
    if (i < labels.size() && labels[i] == ',') ++i;
  }
  return std::nullopt;
}

double parse_number(std::string_view s) {
  if (s == "+Inf") return std::numeric_limits<double>::infinity();
  std::string copy(s);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() ? std::nan("") : v;
}

}  // namespace

Snapshot parse_snapshot(const json& status) {
  Snapshot s;
  if (!status.is_object()) return s;
  if (status.contains("rackd")) {
    s.rackd_pid = field<long>(status["rackd"], "pid", 0);
    s.home = field<std::string>(status["rackd"], "home", "");
  }
  if (!status.contains("apps") || !status["apps"].is_array()) return s;
  for (const json& a : status["apps"]) {
    AppRow row;
    row.name = field<std::string>(a, "name", "?");
    row.status = field<std::string>(a, "status", "?");
    row.protocol = field<std::string>(a, "protocol", "");
    row.listen = field<std::string>(a, "listen", "");
    row.instances = field<long>(a, "instances", 0);
    row.reloading = field<bool>(a, "reloading", false);
    if (a.is_object() && a.contains("workers") && a["workers"].is_array())
      for (const json& w : a["workers"]) row.workers.push_back(parse_worker(w));
    s.apps.push_back(std::move(row));
  }
  return s;
}

RequestSample parse_request_sample(std::string_view text, double at_s) {
  static constexpr std::string_view kCount = "http_request_duration_seconds_count{";
  static constexpr std::string_view kBucket = "http_request_duration_seconds_bucket{";
  RequestSample sample;
  sample.at_s = at_s;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    bool is_count = line.starts_with(kCount), is_bucket = line.starts_with(kBucket);
    if (!is_count && !is_bucket) continue;
    size_t open = (is_count ? kCount : kBucket).size();
    size_t close = line.rfind('}');
    if (close == std::string_view::npos || close < open) continue;
    std::string_view labels = line.substr(open, close - open);
    auto app = label(labels, "app");
    // Per-worker copies, if a rackd ever exposes them, would count twice.
    if (!app || label(labels, "worker")) continue;
    std::string_view rest = line.substr(close + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    double value = parse_number(rest.substr(0, rest.find(' ')));
    if (std::isnan(value)) continue;
    RequestTotals& t = sample.apps[*app];
    if (is_count) {
      t.count += value;
    } else if (auto le = label(labels, "le")) {
      double bound = parse_number(*le);
      if (!std::isnan(bound)) t.buckets[bound] += value;
    }
  }
  return sample;
}

std::optional<double> histogram_quantile(double q, const std::map<double, double>& cumulative) {
  if (cumulative.empty()) return std::nullopt;
  double total = cumulative.rbegin()->second;
  if (total <= 0) return std::nullopt;
  double rank = q * total, lower = 0, below = 0, highest_finite = 0;
  for (auto& [le, count] : cumulative) {
    if (std::isfinite(le)) highest_finite = le;
    if (count >= rank) {
      if (!std::isfinite(le)) return highest_finite;
      double in_bucket = count - below;
      return in_bucket <= 0 ? le : lower + (le - lower) * (rank - below) / in_bucket;
    }
    lower = le;
    below = count;
  }
  return highest_finite;
}

RequestRates request_rates(const RequestTotals& before, const RequestTotals& now, double dt_s) {
  RequestRates r;
  if (dt_s <= 0) return r;
  bool reset = now.count < before.count;
  double done = reset ? now.count : now.count - before.count;
  r.per_s = done / dt_s;
  std::map<double, double> delta;
  for (auto& [le, count] : now.buckets) {
    auto it = before.buckets.find(le);
    double was = reset || it == before.buckets.end() ? 0 : it->second;
    delta[le] = std::max(0.0, count - was);
  }
  r.p95_s = histogram_quantile(0.95, delta);
  return r;
}

std::string log_line_text(const json& line) {
  std::string out;
  if (line.is_object() && line.contains("slot") && line["slot"].is_number_integer() && line["slot"].get<long>() >= 0)
    out = "[" + std::to_string(line["slot"].get<long>()) + "] ";
  if (line.is_object() && line.contains("stream") && line["stream"] == "err") out += "err| ";
  if (line.is_object() && line.contains("line") && line["line"].is_string()) out += line["line"].get<std::string>();
  return out;
}

}  // namespace rack::cli::monit
