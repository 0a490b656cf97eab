#include "metrics/request_stats.h"

#include <algorithm>
#include <cmath>
#include <string_view>

namespace rack::master {

namespace {

// The value of label `name` in a canonical key (`a="x",b="y"`), raw; only
// status codes are read this way, and they have nothing to escape.
std::optional<std::string_view> label_value(std::string_view key, std::string_view name) {
  std::size_t at = 0;
  while (at < key.size()) {
    std::size_t eq = key.find("=\"", at);
    if (eq == std::string_view::npos) return std::nullopt;
    std::size_t end = eq + 2;
    while (end < key.size() && key[end] != '"') end += key[end] == '\\' ? 2 : 1;
    if (key.substr(at, eq - at) == name) return key.substr(eq + 2, std::min(end, key.size()) - eq - 2);
    at = end + 2;  // past `",`
  }
  return std::nullopt;
}

bool is_5xx(std::string_view key) {
  for (std::string_view name : {"status_code", "code", "status"}) {
    if (auto v = label_value(key, name)) return v->size() == 3 && (*v)[0] == '5';
  }
  return false;
}

std::vector<std::pair<double, double>> combine(const std::vector<std::pair<double, double>>& a,
                                               const std::vector<std::pair<double, double>>& b, double sign) {
  std::vector<double> bounds;
  for (auto& p : a) bounds.push_back(p.first);
  for (auto& p : b) bounds.push_back(p.first);
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  std::vector<std::pair<double, double>> out;
  out.reserve(bounds.size());
  for (double le : bounds) out.emplace_back(le, std::max(0.0, count_at(a, le) + sign * count_at(b, le)));
  return out;
}

}  // namespace

RequestStats& RequestStats::operator+=(const RequestStats& other) {
  if (!other.present) return *this;
  present = true;
  requests += other.requests;
  errors += other.errors;
  buckets = buckets.empty() ? other.buckets : combine(buckets, other.buckets, 1);
  return *this;
}

RequestStats RequestStats::since(const RequestStats& earlier) const {
  RequestStats out = *this;
  if (!earlier.present || earlier.requests > requests) return out;  // reset: all of it is new
  out.requests = requests - earlier.requests;
  out.errors = std::max(0.0, errors - earlier.errors);
  out.buckets = combine(buckets, earlier.buckets, -1);
  return out;
}

std::optional<double> RequestStats::quantile(double q) const {
  if (requests <= 0 || buckets.empty()) return std::nullopt;
  double total = buckets.back().second;
  if (total <= 0) return std::nullopt;
  double rank = q * total;
  double lower = 0, below = 0;
  for (auto& [le, n] : buckets) {
    if (n >= rank) {
      if (std::isinf(le)) return lower;  // the highest finite boundary
      if (n <= below) return le;
      return lower + (le - lower) * (rank - below) / (n - below);
    }
    lower = le;
    below = n;
  }
  return lower;
}

RequestStats request_stats(const MetricSnapshot& snapshot) {
  RequestStats out;
  auto fam = snapshot.find(kRequestHistogram);
  if (fam == snapshot.end() || fam->second.type != MetricType::Histogram) return out;
  out.present = true;
  for (const auto& [key, point] : fam->second.series) {
    RequestStats one;
    one.present = true;
    one.requests = point.count;
    one.errors = is_5xx(key) ? point.count : 0;
    one.buckets = point.buckets;
    out += one;
  }
  return out;
}

}  // namespace rack::master
