#include <map>

#include "config_loader.h"

namespace rack::config::detail {

// Did-you-mean

// Optimal string alignment distance, case-insensitive: a swapped pair of
// letters ("intsances") counts as one edit, as people type.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  auto low = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = low(a[i - 1]) == low(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && low(a[i - 1]) == low(b[j - 2]) && low(a[i - 2]) == low(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::optional<std::string_view> closest(std::string_view word,
                                        const std::vector<std::string_view>& candidates) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 3;  // further than 2 edits is another word, not a typo
  for (std::string_view c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_distance && d < c.size()) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace rack::config::detail

namespace rack::config {

std::optional<std::string> did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  std::vector<std::string_view> views(candidates.begin(), candidates.end());
  auto near = detail::closest(word, views);
  return near ? std::optional<std::string>(std::string(*near)) : std::nullopt;
}

}  // namespace rack::config

namespace rack::config::detail {

// PM2 key names people will carry over, and where Rack keeps that setting.
std::optional<std::string_view> pm2_equivalent(std::string_view key) {
  static const std::map<std::string_view, std::string_view> kPm2 = {
      {"script", "run"},
      {"args", "run"},
      {"cmd", "run"},
      {"command", "run"},
      {"exec_mode", "protocol"},
      {"port", "listen"},
      {"max_memory_restart", "max_memory"},
      {"listen_timeout", "ready_timeout"},
      {"min_uptime", "restart.min_uptime"},
      {"max_restarts", "restart.max_restarts"},
      {"restart_delay", "restart.backoff_initial"},
      {"exp_backoff_restart_delay", "restart.backoff_initial"},
      {"out_file", "logs.dir"},
      {"error_file", "logs.dir"},
  };
  auto it = kPm2.find(key);
  if (it == kPm2.end()) return std::nullopt;
  return it->second;
}

// Describing what the file said

std::string in_quotes(std::string_view s) {
  constexpr std::size_t kMax = 60;
  if (s.size() > kMax) return "\"" + std::string(s.substr(0, kMax)) + "...\"";
  return "\"" + std::string(s) + "\"";
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return in_quotes(n.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "an empty value";
  }
}


}  // namespace rack::config::detail
