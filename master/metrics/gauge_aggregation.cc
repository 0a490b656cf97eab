#include "metrics/gauge_aggregation.h"

#include <vector>

namespace rack::master {

namespace {

// The name's words: "nodejs_eventloop_lag_p99_seconds" -> nodejs, eventloop, lag, p99, seconds.
std::vector<std::string_view> words(std::string_view name) {
  std::vector<std::string_view> out;
  while (!name.empty()) {
    auto cut = name.find_first_of("_:");
    out.push_back(name.substr(0, cut));
    if (cut == std::string_view::npos) break;
    name.remove_prefix(cut + 1);
  }
  return out;
}

bool has_word(const std::vector<std::string_view>& w, std::string_view word) {
  for (auto x : w)
    if (x == word) return true;
  return false;
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

config::Aggregation default_aggregation(std::string_view name) {
  using config::Aggregation;
  auto w = words(name);
  if (ends_with(name, "_start_time_seconds")) return Aggregation::Min;
  // "lag" as a word: eventloop_lag, lag_p99; "eventlooplag" too (some clients).
  bool lag = has_word(w, "lag") || has_word(w, "latency") || name.find("looplag") != std::string_view::npos;
  if (lag || ends_with(name, "_duration_seconds")) return Aggregation::Max;
  if (ends_with(name, "_info") || name.find("version") != std::string_view::npos) return Aggregation::Max;
  if (has_word(w, "max") || has_word(w, "limit") || has_word(w, "limits")) return Aggregation::Max;
  return Aggregation::Sum;
}

config::Aggregation aggregation_for(const std::map<std::string, config::Aggregation>& configured,
                                    std::string_view gauge_name) {
  auto it = configured.find(std::string(gauge_name));
  return it == configured.end() ? default_aggregation(gauge_name) : it->second;
}

}  // namespace rack::master
