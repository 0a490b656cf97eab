// The last 10 minutes of every worker's CPU and memory, for the web
// dashboard's sparklines: rackd keeps them itself so the page needs no
// Prometheus. One ring per (app, slot), so a slot's line goes on across
// crashes and reloads (the pid changes, the slot does not). Pure: the
// caller gives the time and the values (dashboard.cc samples every 5 s).
//
//   ResourceHistory h;                  // 120 points each: 10 min at 5 s
//   h.record("web", 0, 1700000000.0, 12.5, 52428800);
//   h.keep_only({{"web", 0}, {"web", 1}});  // drops rings of slots that are gone
//   h.points("web", 0);                 // oldest first
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rack::master {

struct ResourcePoint {
  double t = 0;            // seconds since the epoch
  double cpu_percent = 0;  // 100 = one core
  uint64_t rss_bytes = 0;
};

class ResourceHistory {
 public:
  static constexpr std::size_t kDefaultPoints = 120;
  explicit ResourceHistory(std::size_t points = kDefaultPoints) : capacity_(points ? points : 1) {}

  void record(const std::string& app, int slot, double t, double cpu_percent, uint64_t rss_bytes);
  // Forgets every ring whose (app, slot) is not in `live`.
  void keep_only(const std::set<std::pair<std::string, int>>& live);
  // Oldest first; empty for an unknown slot.
  std::vector<ResourcePoint> points(const std::string& app, int slot) const;
  std::size_t rings() const { return rings_.size(); }

 private:
  struct Ring {
    std::vector<ResourcePoint> buf;  // grows to capacity_, then wraps
    std::size_t next = 0;
  };
  std::size_t capacity_;
  std::map<std::pair<std::string, int>, Ring> rings_;
};

}  // namespace rack::master
